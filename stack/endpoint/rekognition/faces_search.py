"""Face descriptors compared as Rekognition's ``Similarity`` (pure).

Faces are dlib's 128-d descriptors (``faces_model``), compared by Euclidean distance ``d``, which
this maps to a similarity percentage, decreasing with ``d``:

    Similarity = 100 / (1 + exp(9.2 * (d - m))),   m = 0.6 + ln(4) / 9.2 = 0.7507

so that 0.6, dlib's usual same-person threshold, is 80, the default ``FaceMatchThreshold`` of
``SearchFaces`` and ``SearchFacesByImage``: a match at the default threshold is what dlib calls the
same person. Distance 0 is 99.9, 0.25 is 99.0, 0.4 is 96.2, 0.7 is 61.4, 0.84 is 30.5, 1.0 is 9.2
(docs/local-stack.md has the distances measured on the test photographs).

A search returns the faces at or over the threshold, most similar first (ties by face id), at most
``MaxFaces``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Descriptor = npt.NDArray[np.float32]

DESCRIPTOR_SIZE = 128
SAME_PERSON_DISTANCE = 0.6
SIMILARITY_AT_SAME_PERSON = 80.0
SLOPE = 9.2
MIDPOINT = (
    SAME_PERSON_DISTANCE
    + math.log(SIMILARITY_AT_SAME_PERSON / (100.0 - SIMILARITY_AT_SAME_PERSON)) / SLOPE
)


def similarity(distance: float) -> float:
    """Rekognition's ``Similarity`` (0 to 100) of two faces ``distance`` apart."""
    return 100.0 / (1.0 + math.exp(SLOPE * (distance - MIDPOINT)))


def encode(descriptor: Descriptor) -> bytes:
    """A descriptor as it is stored: 128 little-endian float32."""
    vector = np.asarray(descriptor, dtype="<f4")
    if vector.shape != (DESCRIPTOR_SIZE,):
        raise ValueError(f"a face descriptor has {DESCRIPTOR_SIZE} values, not {vector.shape}")
    return vector.tobytes()


def decode(stored: bytes) -> Descriptor:
    return np.frombuffer(stored, dtype="<f4").astype(np.float32)


def ranked(
    query: bytes,
    candidates: Sequence[tuple[str, bytes]],
    threshold: float,
    max_faces: int,
) -> list[tuple[str, float]]:
    """``(face id, similarity)`` of the candidates at or over ``threshold``, best first."""
    if not candidates:
        return []
    matrix = np.frombuffer(b"".join(stored for _, stored in candidates), dtype="<f4")
    distances = np.linalg.norm(matrix.reshape(-1, DESCRIPTOR_SIZE) - decode(query), axis=1)
    scored = [
        (face_id, similarity(float(distance)))
        for (face_id, _), distance in zip(candidates, distances, strict=True)
    ]
    kept = [(face_id, score) for face_id, score in scored if score >= threshold]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return kept[:max_faces]
