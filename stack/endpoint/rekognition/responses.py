"""The Rekognition JSON wire protocol for what ``models`` emulates.

Requests carry ``X-Amz-Target: RekognitionService.<Operation>``; operations
not listed in ``OPERATIONS`` are left to moto (the other image APIs).
``DetectLabels`` is ``image_analysis``'s, in place of moto's fixed answer; ``IndexFaces``,
``SearchFacesByImage`` and ``DetectFaces`` are ``faces``'s (moto has none), ``ListFaces``,
``DeleteFaces`` and ``SearchFaces`` the collection's (``models``, ``faces_collection``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stack.endpoint.exceptions import UnknownOperationException
from stack.endpoint.rekognition import faces_requests
from stack.endpoint.rekognition.faces import FaceAnalysis
from stack.endpoint.rekognition.faces_collection import FACE_MODEL_VERSION, face_match
from stack.endpoint.rekognition.image_analysis import ImageAnalysis
from stack.endpoint.rekognition.models import RekognitionBackend, RekognitionState

Handler = Callable[["RekognitionResponses", Mapping[str, Any]], dict[str, Any]]


class RekognitionResponses:
    """Turns one parsed JSON request into a JSON-able response dict."""

    def __init__(
        self,
        state: RekognitionState,
        account_id: str,
        region: str,
        images: ImageAnalysis | None = None,
        faces: FaceAnalysis | None = None,
    ) -> None:
        self.state = state
        self.account_id = account_id
        self.region = region
        self.images = images
        self.faces = faces

    def _run(self, action: Callable[[RekognitionBackend], Any]) -> Any:
        return self.state.run(self.account_id, self.region, action)

    def create_stream_processor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        processor = self.state.create_processor(self.account_id, self.region, body)
        return {"StreamProcessorArn": processor.arn}

    def describe_stream_processor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self.state.describe_processor(self.account_id, self.region, str(body.get("Name")))

    def list_stream_processors(self, body: Mapping[str, Any]) -> dict[str, Any]:
        items, token = self.state.list_processors(
            self.account_id, self.region, body.get("NextToken"), body.get("MaxResults")
        )
        return {"StreamProcessors": items, **({"NextToken": token} if token else {})}

    def start_stream_processor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        session_id = self.state.start_processor(
            self.account_id,
            self.region,
            str(body.get("Name")),
            body.get("StartSelector"),
            body.get("StopSelector"),
        )
        return {"SessionId": session_id} if session_id else {}

    def stop_stream_processor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.state.stop_processor(self.account_id, self.region, str(body.get("Name")))
        return {}

    def update_stream_processor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.state.update_processor(self.account_id, self.region, str(body.get("Name")), body)
        return {}

    def delete_stream_processor(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.state.delete_processor(self.account_id, self.region, str(body.get("Name")))
        return {}

    def tag_resource(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn, tags = str(body.get("ResourceArn")), dict(body.get("Tags") or {})
        self._run(lambda backend: backend.tags_of(arn).update(tags))
        return {}

    def untag_resource(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn, keys = str(body.get("ResourceArn")), list(body.get("TagKeys") or [])

        def untag(backend: RekognitionBackend) -> None:
            tags = backend.tags_of(arn)
            for key in keys:
                tags.pop(key, None)

        self._run(untag)
        return {}

    def list_tags_for_resource(self, body: Mapping[str, Any]) -> dict[str, Any]:
        arn = str(body.get("ResourceArn"))
        return {"Tags": dict(self._run(lambda backend: backend.tags_of(arn)))}

    def create_collection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        collection_id, tags = str(body.get("CollectionId")), dict(body.get("Tags") or {})
        collection = self._run(lambda backend: backend.create_collection(collection_id, tags))
        return {
            "StatusCode": 200,
            # AWS returns the collection ARN without the "arn:" prefix here.
            "CollectionArn": collection.arn.removeprefix("arn:"),
            "FaceModelVersion": FACE_MODEL_VERSION,
        }

    def describe_collection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        collection_id = str(body.get("CollectionId"))
        collection = self._run(lambda backend: backend.get_collection(collection_id))
        return {
            "FaceCount": len(collection.faces),
            "UserCount": 0,
            "FaceModelVersion": FACE_MODEL_VERSION,
            "CollectionARN": collection.arn,
            "CreationTimestamp": collection.created.timestamp(),
        }

    def list_collections(self, body: Mapping[str, Any]) -> dict[str, Any]:
        token, size = body.get("NextToken"), body.get("MaxResults")
        ids, next_token = self._run(lambda backend: backend.list_collections(token, size))
        out: dict[str, Any] = {
            "CollectionIds": ids,
            "FaceModelVersions": [FACE_MODEL_VERSION] * len(ids),
        }
        if next_token:
            out["NextToken"] = next_token
        return out

    def delete_collection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        collection_id = str(body.get("CollectionId"))
        self._run(lambda backend: backend.delete_collection(collection_id))
        return {"StatusCode": 200}

    def detect_labels(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.images is None:
            raise UnknownOperationException("DetectLabels is not served here.")
        return self.images.detect_labels(self.account_id, self.region, body)

    def _face_analysis(self) -> FaceAnalysis:
        if self.faces is None:
            raise UnknownOperationException("The image face APIs are not served here.")
        return self.faces

    def index_faces(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._face_analysis().index_faces(self.state, self.account_id, self.region, body)

    def search_faces_by_image(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._face_analysis().search_faces_by_image(
            self.state, self.account_id, self.region, body
        )

    def detect_faces(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._face_analysis().detect_faces(self.account_id, self.region, body)

    def list_faces(self, body: Mapping[str, Any]) -> dict[str, Any]:
        request = faces_requests.parse_list_faces(body)
        faces, token = self._run(
            lambda backend: backend.list_faces(
                request.collection_id,
                request.next_token,
                request.max_results,
                request.face_ids,
                request.user_id,
            )
        )
        out: dict[str, Any] = {
            "Faces": [face.describe() for face in faces],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }
        if token:
            out["NextToken"] = token
        return out

    def delete_faces(self, body: Mapping[str, Any]) -> dict[str, Any]:
        request = faces_requests.parse_delete_faces(body)
        deleted, missing = self._run(
            lambda backend: backend.delete_faces(request.collection_id, request.face_ids)
        )
        return {
            "DeletedFaces": deleted,
            "UnsuccessfulFaceDeletions": [
                {"FaceId": face_id, "Reasons": ["FACE_NOT_FOUND"]} for face_id in missing
            ],
        }

    def search_faces(self, body: Mapping[str, Any]) -> dict[str, Any]:
        request = faces_requests.parse_search_faces(body)
        found = self._run(
            lambda backend: backend.search_faces(
                request.collection_id, request.face_id, request.threshold, request.max_faces
            )
        )
        return {
            "SearchedFaceId": request.face_id,
            "FaceMatches": [face_match(face, score) for face, score in found],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }


OPERATIONS: dict[str, Handler] = {
    "CreateStreamProcessor": RekognitionResponses.create_stream_processor,
    "DescribeStreamProcessor": RekognitionResponses.describe_stream_processor,
    "ListStreamProcessors": RekognitionResponses.list_stream_processors,
    "StartStreamProcessor": RekognitionResponses.start_stream_processor,
    "StopStreamProcessor": RekognitionResponses.stop_stream_processor,
    "UpdateStreamProcessor": RekognitionResponses.update_stream_processor,
    "DeleteStreamProcessor": RekognitionResponses.delete_stream_processor,
    "TagResource": RekognitionResponses.tag_resource,
    "UntagResource": RekognitionResponses.untag_resource,
    "ListTagsForResource": RekognitionResponses.list_tags_for_resource,
    "CreateCollection": RekognitionResponses.create_collection,
    "DescribeCollection": RekognitionResponses.describe_collection,
    "ListCollections": RekognitionResponses.list_collections,
    "DeleteCollection": RekognitionResponses.delete_collection,
    "DetectLabels": RekognitionResponses.detect_labels,
    "IndexFaces": RekognitionResponses.index_faces,
    "ListFaces": RekognitionResponses.list_faces,
    "DeleteFaces": RekognitionResponses.delete_faces,
    "SearchFaces": RekognitionResponses.search_faces,
    "SearchFacesByImage": RekognitionResponses.search_faces_by_image,
    "DetectFaces": RekognitionResponses.detect_faces,
}
