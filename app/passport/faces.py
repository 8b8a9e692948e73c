"""Frontal face detection with the Haar cascades shipped by opencv-python-headless.

Tuned on scikit-image's `lfw_subset` (see `benchmarks/photo_pipeline.py`): small inputs are
upscaled, large ones downscaled to a fixed working size, and the border is padded by
replication so faces that touch the frame edge are still found.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from .arrays import Pixels

CASCADE = "haarcascade_frontalface_alt2.xml"
VERIFY_CASCADE = "haarcascade_frontalface_default.xml"  # second opinion on fine-pass finds
VERIFY_SIDE = 96  # candidate crops are checked at this size
COARSE_SIDE = 200  # first pass: the longer side is searched at this size (faces >= 10 %)
FINE_SIDE = 400  # second pass, only when the first found nothing: small faces
MAX_WORK_SIDE = 640  # never search a larger image than this (elongated thumbnails)
WORK_MIN_SIDE = 100  # smaller inputs are upscaled so their shorter side is this long
PAD_FRACTION = 0.1  # replicated border on each side, as a fraction of the working size
SCALE_FACTOR = 1.15  # coarse pass
MIN_NEIGHBORS = 4  # coarse pass
FINE_SCALE_FACTOR = 1.1  # the fine pass steps more finely: small faces are easy to skip
FINE_MIN_NEIGHBORS = 3
MIN_SIZE = 20  # smallest face searched, in working-image pixels
# Cascades are shared per process and keep per-image state while detecting: one at a time.
_DETECT_LOCK = threading.Lock()
RELEVANT_FRACTION = 0.5  # faces narrower than this share of the largest are ignored


@dataclass(frozen=True)
class Face:
    """One detected face: box in input pixels (x, y, w, h) and a confidence in [0, 1]."""

    x: int
    y: int
    w: int
    h: int
    confidence: float

    @property
    def box(self) -> list[int]:
        """The box as the contract's `[x, y, w, h]`."""
        return [self.x, self.y, self.w, self.h]


class FaceDetector:
    """A reusable detector; `detect` returns the relevant faces, largest first."""

    def __init__(self, cascade_path: Path | None = None) -> None:
        folder = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]  # absent from OpenCV's stubs
        self.path = cascade_path or folder / CASCADE
        self._cascade = _load(str(self.path))
        self._verifier = _load(str(folder / VERIFY_CASCADE))

    def detect(self, rgb: Pixels) -> list[Face]:
        """Faces found in an RGB (or grayscale) image, largest first, small noise removed.

        A coarse pass finds the usual passport-sized faces quickly; only when it finds
        none does a finer pass look for small faces (so they are reported as too small,
        not as missing).
        """
        gray = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if min(gray.shape[:2]) < 8:
            return []
        with _DETECT_LOCK:
            return self._detect(gray)

    def _detect(self, gray: Pixels) -> list[Face]:
        coarse = _scale(gray.shape[:2], COARSE_SIDE)
        faces = self._pass(gray, coarse, None, SCALE_FACTOR, MIN_NEIGHBORS)
        fine = _scale(gray.shape[:2], FINE_SIDE)
        # The fine pass only helps when the coarse one had to shrink the image.
        if not faces and coarse < 1.0 and fine > coarse * 1.05:
            # Faces the coarse pass could not see are at most MIN_SIZE coarse pixels wide.
            limit = int(MIN_SIZE * fine / coarse * 1.2)
            found = self._pass(gray, fine, limit, FINE_SCALE_FACTOR, FINE_MIN_NEIGHBORS)
            faces = [f for f in found if self._verified(gray, f)]
        faces.sort(key=lambda f: f.w * f.h, reverse=True)
        if not faces:
            return []
        largest = faces[0].w
        return [f for f in faces if f.w >= RELEVANT_FRACTION * largest]

    def _verified(self, gray: Pixels, face: Face) -> bool:
        """Whether the second cascade also sees a face in a crop around `face`."""
        margin = face.w // 2
        x0, y0 = max(0, face.x - margin), max(0, face.y - margin)
        x1 = min(gray.shape[1], face.x + face.w + margin)
        y1 = min(gray.shape[0], face.y + face.h + margin)
        crop = gray[y0:y1, x0:x1]
        if crop.size == 0:
            return False
        scale = VERIFY_SIDE / max(crop.shape[:2])
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        found = self._verifier.detectMultiScale(crop, 1.05, 3, minSize=(24, 24))
        return len(found) > 0

    def _pass(
        self,
        gray: Pixels,
        scale: float,
        max_size: int | None,
        scale_factor: float,
        min_neighbors: int,
    ) -> list[Face]:
        height, width = gray.shape[:2]
        work = gray
        if abs(scale - 1.0) > 1e-3:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
            work = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interp)
        pad = round(PAD_FRACTION * min(work.shape[:2]))
        work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        boxes, _levels, weights = self._cascade.detectMultiScale3(
            work,
            scaleFactor=scale_factor,
            minNeighbors=min_neighbors,
            minSize=(MIN_SIZE, MIN_SIZE),
            maxSize=(max_size, max_size) if max_size else (0, 0),
            outputRejectLevels=True,
        )
        faces = []
        for (bx, by, bw, bh), weight in zip(boxes, np.ravel(weights), strict=False):
            x0 = max(0.0, (bx - pad) / scale)
            y0 = max(0.0, (by - pad) / scale)
            x1 = min(float(width), (bx - pad + bw) / scale)
            y1 = min(float(height), (by - pad + bh) / scale)
            if x1 - x0 < 1 or y1 - y0 < 1:
                continue
            confidence = 1.0 / (1.0 + math.exp(-float(weight) / 10.0))
            faces.append(Face(int(x0), int(y0), round(x1 - x0), round(y1 - y0), confidence))
        return faces


def _scale(shape: tuple[int, ...], side: int) -> float:
    """Resize factor so the longer side is `side` (shorter >= WORK_MIN_SIDE, capped)."""
    height, width = shape[0], shape[1]
    scale = max(side / max(height, width), WORK_MIN_SIDE / min(height, width))
    return min(scale, MAX_WORK_SIDE / max(height, width))


@lru_cache(maxsize=8)
def _load(path: str) -> cv2.CascadeClassifier:
    """A cascade parsed once per process (the XML files take a while to parse)."""
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"could not load the face cascade {path}; reinstall opencv-python")
    return cascade
