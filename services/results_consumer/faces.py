"""Who is in a detection's frame, as the results consumer asks it: the `FaceRecognizer` it
reaches recognition through (the real one is `rekognition_faces.RekognitionFaces`, tests use a
fake), and `FaceCameras`, which cameras asked for it (their thing attribute, kept a minute).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from cloud import registry
from cloud.clients import AwsClients
from cloud.errors import FleetError, is_retryable
from cloud.faces.models import FaceRecognition
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord

log = logging.getLogger(__name__)

CAMERA_TTL_S = 60.0

AttributesReader = Callable[[str], dict[str, str] | None]


class FaceRecognizer(Protocol):
    def recognise(self, record: DetectionRecord) -> FaceRecognition:
        """The faces in the detection's frame; FAILED (never an exception) when the face APIs
        fail."""
        ...

    def quiet_names(self) -> frozenset[str]:
        """The known people who are recorded but not notified."""
        ...


def registry_attributes(clients: AwsClients, names: FleetNames) -> AttributesReader:
    """A camera's thing attributes, or None if it is no camera of this fleet."""

    def read(camera_id: str) -> dict[str, str] | None:
        return registry.member_attributes(clients, names, camera_id)

    return read


class FaceCameras:
    """Whether a camera's faces are searched: its `recognize_faces` thing attribute, read at
    most once per `ttl_s` per camera (a camera registered again is followed within that).

    A retryable error reading it is raised (the message comes back); any other (no permission
    to describe the thing, say) is logged and the camera is taken as not asking, for this
    detection only: no face API is ever called for a camera not known to ask for it.
    """

    def __init__(
        self,
        read: AttributesReader,
        ttl_s: float = CAMERA_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl_s = ttl_s
        self._clock = clock
        self._known: dict[str, tuple[float, bool]] = {}

    def recognizes_faces(self, camera_id: str) -> bool:
        now = self._clock()
        known = self._known.get(camera_id)
        if known is not None and now - known[0] < self._ttl_s:
            return known[1]
        try:
            attributes = self._read(camera_id)
        except FleetError as err:
            if is_retryable(err):
                raise
            log.warning(
                "camera %s: faces not searched, its settings are unreadable: %s", camera_id, err
            )
            return False
        wanted = attributes is not None and registry.recognizes_faces(attributes)
        self._known[camera_id] = (now, wanted)
        return wanted
