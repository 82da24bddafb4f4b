"""The results consumer's real `FaceRecognizer`: Rekognition's face APIs on the detection's frame
(`cloud.faces.recognition`), and the quiet people, read at most once a minute."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from cloud.clients import AwsClients
from cloud.errors import FleetError, InvalidInputError, is_retryable
from cloud.faces.models import FaceRecognition, FaceStatus
from cloud.faces.recognition import quiet_names, recognise_frame
from cloud.links import bucket_and_key
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord

log = logging.getLogger(__name__)

QUIET_TTL_S = 60.0


class RekognitionFaces:
    def __init__(
        self,
        clients: AwsClients,
        names: FleetNames,
        threshold: float,
        quiet_ttl_s: float = QUIET_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clients = clients
        self._names = names
        self._threshold = threshold
        self._quiet_ttl_s = quiet_ttl_s
        self._clock = clock
        self._quiet: tuple[float, frozenset[str]] | None = None

    def recognise(self, record: DetectionRecord) -> FaceRecognition:
        try:
            bucket, key = bucket_and_key(record.frame_uri)
        except InvalidInputError as err:
            return FaceRecognition(status=FaceStatus.FAILED, reason=str(err))
        return recognise_frame(
            self._clients, self._names.faces_collection, bucket, key, self._threshold
        )

    def quiet_names(self) -> frozenset[str]:
        """A retryable error is raised (the message comes back); any other is logged and nobody
        is quiet until the next read: a notification too many rather than one lost."""
        now = self._clock()
        if self._quiet is not None and now - self._quiet[0] < self._quiet_ttl_s:
            return self._quiet[1]
        try:
            quiet = quiet_names(self._clients, self._names)
        except FleetError as err:
            if is_retryable(err):
                raise
            log.warning("the quiet people could not be read, notifying everyone: %s", err)
            return frozenset()
        self._quiet = (now, quiet)
        return quiet
