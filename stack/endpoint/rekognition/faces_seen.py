"""Images the face APIs have looked at: their faces, what the quality bars see in each face and,
once asked for, each face's descriptor.

The last ``CAPACITY`` images are remembered by the SHA-256 of their bytes, so an image sent again
(``DetectFaces`` then ``IndexFaces``, a search repeated, a test's photographs) is not analysed
again: the models' answer for the same bytes is the same. Every request's image is still checked
and decoded (``image_input``) before it is looked up.

An image larger than ``MAX_SIDE`` pixels on its longer side is scaled down to it first (boxes and
landmarks are ratios of the image, so they do not change), which bounds the time a request takes;
in such an image a face must be at least about 4 % of the longer side to be found.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from stack.endpoint.rekognition import faces_detail
from stack.endpoint.rekognition.faces_detail import FaceFacts, FoundFace
from stack.endpoint.rekognition.faces_model import Descriptor, FaceModelPool, RgbImage

CAPACITY = 8
MAX_SIDE = 2048


class SeenImage:
    """One image (RGB), the faces found in it, largest first, and their facts."""

    def __init__(self, data: bytes, image: RgbImage, faces: list[FoundFace]) -> None:
        self.data = data
        self.image = image
        self.height, self.width = image.shape[:2]
        grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        self.faces = faces
        self.facts: list[FaceFacts] = [faces_detail.facts_of(face, grey) for face in faces]
        self._descriptors: dict[int, Descriptor] = {}

    def detail(self, index: int, extras: tuple[str, ...], every: bool) -> dict[str, Any]:
        face, facts = self.faces[index], self.facts[index]
        return faces_detail.face_detail(face, facts, self.width, self.height, extras, every)

    def box(self, index: int) -> tuple[float, float, float, float]:
        """Width, Height, Left, Top of a face, as ratios of the image."""
        ratios = faces_detail.bounding_box(self.faces[index], self.width, self.height)
        return ratios["Width"], ratios["Height"], ratios["Left"], ratios["Top"]

    def descriptors(self, indexes: list[int], pool: FaceModelPool) -> list[Descriptor]:
        missing = [index for index in indexes if index not in self._descriptors]
        if missing:
            with pool.lent() as model:
                for index in missing:
                    self._descriptors[index] = model.descriptor(self.image, self.faces[index])
        return [self._descriptors[index] for index in indexes]


class SeenImages:
    """Looks at images with the pool's models, remembering the last ``capacity``."""

    def __init__(self, pool: FaceModelPool, capacity: int = CAPACITY) -> None:
        self.pool = pool
        self._capacity = capacity
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, SeenImage] = OrderedDict()

    def look(self, data: bytes, bgr: npt.NDArray[np.uint8]) -> SeenImage:
        """The image of ``data`` (decoded: ``bgr``), looked at now or remembered."""
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            seen = self._seen.get(digest)
            if seen is not None:
                self._seen.move_to_end(digest)
                return seen
        rgb = np.ascontiguousarray(cv2.cvtColor(_within(bgr), cv2.COLOR_BGR2RGB), dtype=np.uint8)
        with self.pool.lent() as model:
            faces = model.find(rgb)
        seen = SeenImage(data, rgb, faces)
        with self._lock:
            self._seen[digest] = seen
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
        return seen


def _within(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    longer = max(image.shape[:2])
    if longer <= MAX_SIDE:
        return image
    scale = MAX_SIDE / longer
    scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.asarray(scaled, dtype=np.uint8)
