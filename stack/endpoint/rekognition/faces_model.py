"""dlib's face models behind the Rekognition face APIs: find faces, describe them.

The model files are those ``face_recognition_models`` 0.3.0 ships (nothing is downloaded at run
time); its folder is found without importing the package, whose ``__init__`` needs
``pkg_resources``.

Finding faces (``FaceModel.find``):

- dlib's HOG frontal face detector proposes faces down to a score of ``PROPOSAL_SCORE``, on the
  image upsampled once when its longer side is at most ``UPSAMPLE_MAX_SIDE`` pixels (so faces
  down to about 40 pixels are found there; in larger images, faces from about 80 pixels).
- A proposal scoring under ``SURE_SCORE`` is kept only if dlib's MMOD CNN face detector finds a
  face centred inside it, in a crop twice its size scaled so the face is about 80 pixels wide.
  Alone, the HOG detector fires on badges, flags and folds of cloth (and misses faces turned a
  little away at its default threshold); the CNN is accurate but too slow to run over a whole
  image on a request, while a crop costs it little.
- The score of a face is the HOG score of a sure proposal, else the CNN's score of the face
  it confirmed; both detectors' own threshold is 0 and a clear face scores about 1.
  ``Confidence = 100 / (1 + exp(-7 * (score + 0.25)))``: score 0 is 85.2, 0.5 is 99.5, 1 is
  99.98.
- The box is the HOG detector's: from the brows to the chin (tighter than AWS's box, which
  takes in the forehead). The 68 landmarks of ``shape_predictor_68_face_landmarks.dat`` come
  with each face.

Describing a face (``FaceModel.descriptor``): the 5 landmarks of
``shape_predictor_5_face_landmarks.dat`` align the face and
``dlib_face_recognition_resnet_model_v1.dat`` gives its 128-d descriptor.

Thread safety: dlib's detectors and networks keep state while they run, so each ``FaceModel``
serves one image at a time; ``FaceModelPool`` lends at most ``max_parallel`` of them, made as
they are first needed. The shape predictors only read their trees and are shared, loaded once
per process.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np
import numpy.typing as npt

from stack.endpoint.rekognition.faces_detail import FoundFace

logger = logging.getLogger(__name__)

RgbImage = npt.NDArray[np.uint8]
Descriptor = npt.NDArray[np.float32]  # (128,)

PROPOSAL_SCORE = -0.5
SURE_SCORE = 1.0
UPSAMPLE_MAX_SIDE = 1024
MAX_FACES = 100  # Rekognition's image APIs see the 100 largest faces
_CHECK_FACE_PX = 80
# The CNN looks at a square this many times the proposal's side around it (the face scaled to
# _CHECK_FACE_PX, the CNN's smallest): room for a box that is a little off, at half the pixels
# of twice the side (measured: the same faces confirmed and rejected, 105 ms a check, not 151).
_CHECK_CROP = 1.6
_CONFIDENCE_SLOPE = 7.0
_CONFIDENCE_OFFSET = 0.25
DEFAULT_MAX_PARALLEL = 2

RESNET = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"


def model_dir() -> Path:
    """The model folder of ``face_recognition_models``, found without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise RuntimeError("face_recognition_models is not installed (the `local` extra)")
    return Path(spec.origin).parent / "models"


def confidence_of(score: float) -> float:
    """The detector's score as Rekognition's face ``Confidence`` (0 to 100)."""
    return 100.0 / (1.0 + math.exp(-_CONFIDENCE_SLOPE * (score + _CONFIDENCE_OFFSET)))


class _SharedPredictors:
    """The two shape predictors, loaded once per process on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    def get(self) -> tuple[Any, Any]:
        with self._lock:
            if self._loaded is None:
                folder = model_dir()
                self._loaded = (
                    dlib.shape_predictor(str(folder / LANDMARKS_5)),
                    dlib.shape_predictor(str(folder / LANDMARKS_68)),
                )
                logger.info("loaded dlib's face landmark models from %s", folder)
            return self._loaded


_PREDICTORS = _SharedPredictors()


class FaceModel:
    """One set of dlib's detectors and face network: one image at a time."""

    def __init__(self) -> None:
        folder = model_dir()
        self._hog = dlib.get_frontal_face_detector()
        self._cnn = dlib.cnn_face_detection_model_v1(str(folder / CNN_DETECTOR))
        self._resnet = dlib.face_recognition_model_v1(str(folder / RESNET))
        self._landmarks_5, self._landmarks_68 = _PREDICTORS.get()

    def find(self, image: RgbImage) -> list[FoundFace]:
        """The faces in ``image`` (RGB), largest first, at most ``MAX_FACES``."""
        upsample = 1 if max(image.shape[:2]) <= UPSAMPLE_MAX_SIDE else 0
        rects, scores, _ = self._hog.run(image, upsample, PROPOSAL_SCORE)
        faces: list[FoundFace] = []
        for rect, hog_score in zip(rects, scores, strict=True):
            score = hog_score if hog_score >= SURE_SCORE else self._confirm(image, rect)
            if score is None:
                continue
            shape = self._landmarks_68(image, rect)
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
            faces.append(
                FoundFace(
                    rect.left(),
                    rect.top(),
                    rect.right(),
                    rect.bottom(),
                    confidence_of(score),
                    points,
                )
            )
        faces.sort(key=lambda face: face.area, reverse=True)
        return faces[:MAX_FACES]

    def _confirm(self, image: RgbImage, rect: Any) -> float | None:
        """The CNN's score of a face centred in ``rect``, or None if it sees none there."""
        side = max(rect.width(), rect.height())
        half = round(side * _CHECK_CROP / 2)
        cx, cy = rect.center().x, rect.center().y
        x0, y0 = cx - half, cy - half
        crop = _crop_padded(image, x0, y0, 2 * half)
        scale = _CHECK_CROP * _CHECK_FACE_PX / crop.shape[0]
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        crop = np.asarray(
            cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation), np.uint8
        )
        best: float | None = None
        for found in self._cnn(np.ascontiguousarray(crop), 0):
            centre = found.rect.center()
            x, y = x0 + centre.x / scale, y0 + centre.y / scale
            inside = rect.left() <= x <= rect.right() and rect.top() <= y <= rect.bottom()
            if inside and (best is None or found.confidence > best):
                best = float(found.confidence)
        return best

    def descriptor(self, image: RgbImage, face: FoundFace) -> Descriptor:
        """The face's 128-d descriptor (dlib's ResNet on the face aligned by 5 landmarks)."""
        box = dlib.rectangle(face.left, face.top, face.right, face.bottom)
        shape = self._landmarks_5(image, box)
        return np.array(self._resnet.compute_face_descriptor(image, shape), dtype=np.float32)


def _crop_padded(image: RgbImage, x0: int, y0: int, side: int) -> RgbImage:
    """The ``side`` x ``side`` square at (x0, y0), black where it leaves the image."""
    height, width = image.shape[:2]
    out = np.zeros((side, side, 3), dtype=np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, width), min(y0 + side, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


class FaceModelPool:
    """Lends ``FaceModel``s, one image at a time, at most ``max_parallel`` at once."""

    def __init__(
        self, max_parallel: int = DEFAULT_MAX_PARALLEL, factory: Callable[[], FaceModel] = FaceModel
    ) -> None:
        self._factory = factory
        self._cpu = threading.BoundedSemaphore(max_parallel)
        self._lock = threading.Lock()
        self._idle: list[FaceModel] = []

    @contextmanager
    def lent(self) -> Iterator[FaceModel]:
        with self._cpu:
            with self._lock:
                model = self._idle.pop() if self._idle else None
            if model is None:
                model = self._factory()
            try:
                yield model
            finally:
                with self._lock:
                    self._idle.append(model)


_POOL_LOCK = threading.Lock()
_POOL: FaceModelPool | None = None


def shared_pool() -> FaceModelPool:
    """The process's pool: the models load once per process, when a face API first runs."""
    global _POOL  # noqa: PLW0603 - one pool per process, made on first use
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = FaceModelPool()
        return _POOL
