"""The suite's own face detector: MediaPipe's BlazeFace (short range), run by OpenCV's dnn.

The postdeploy checks judge a service's output pictures with a detector of a different
family than a typical service's (``app/`` uses OpenCV's Haar cascades): a small single-shot
CNN, so the suite's misses and false finds are not correlated with the service's. The model
file ships in ``postdeploy/models/`` with its licence and provenance (``PROVENANCE.md``) and is
verified by size and sha256 before it is loaded; MediaPipe itself is not a dependency.

The decoding follows MediaPipe's ``face_detection_short_range`` graph: a 128x128 letterboxed
RGB input in [-1, 1], 896 SSD anchors (strides 8 and 16), boxes and six keypoints (eyes,
nose tip, mouth, ear tragions) per anchor, non-maximum suppression.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["MODEL_PATH", "DetectedFace", "FaceModelError", "detect"]

MODEL_PATH = Path(__file__).resolve().parent / "models" / "face_detection_short_range.tflite"
MODEL_SIZE = 229_714
MODEL_SHA256 = (
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"  # pragma: allowlist secret
)
INPUT_SIDE = 128
#: Score (after the sigmoid) a detection needs; MediaPipe's own graph uses 0.5.
MIN_SCORE = 0.5
#: Boxes overlapping more than this (intersection over union) are one face.
NMS_IOU = 0.3
# The short-range model's anchors: (stride, anchors per cell) for each feature map.
_ANCHOR_LAYERS = ((8, 2), (16, 6))


class FaceModelError(RuntimeError):
    """The face-detection model is missing, corrupt or cannot be loaded by OpenCV."""


@dataclass(frozen=True)
class DetectedFace:
    """One face: box ``(x, y, w, h)`` in input pixels, score, and keypoints (x, y).

    Keypoints in MediaPipe's order: right eye, left eye, nose tip, mouth centre, right ear
    tragion, left ear tragion ("right" is the person's right, on the picture's left).
    """

    box: tuple[int, int, int, int]
    score: float
    keypoints: tuple[tuple[float, float], ...]

    @property
    def centre_x(self) -> float:
        """The face's horizontal centre: between the eyes (robust to the box's slack)."""
        return (self.keypoints[0][0] + self.keypoints[1][0]) / 2.0

    @property
    def eye_y(self) -> float:
        """The height of the eyes."""
        return (self.keypoints[0][1] + self.keypoints[1][1]) / 2.0

    @property
    def mouth_y(self) -> float:
        """The height of the mouth centre."""
        return self.keypoints[3][1]


def _anchors() -> NDArray[np.float32]:
    centres: list[tuple[float, float]] = []
    for stride, per_cell in _ANCHOR_LAYERS:
        cells = INPUT_SIDE // stride
        for row in range(cells):
            for col in range(cells):
                centres.extend([((col + 0.5) / cells, (row + 0.5) / cells)] * per_cell)
    return np.asarray(centres, dtype=np.float32)


def _verify(path: Path) -> None:
    if not path.is_file():
        raise FaceModelError(
            f"face-detection model {path} is missing; restore it from the repository "
            "(postdeploy/models/PROVENANCE.md says where it comes from)"
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != MODEL_SIZE or digest != MODEL_SHA256:
        raise FaceModelError(
            f"face-detection model {path.name} failed its checksum: {len(data)} bytes, sha256 "
            f"{digest}; expected {MODEL_SIZE} bytes, sha256 {MODEL_SHA256} "
            "(restore it from the repository)"
        )


class _Detector:
    def __init__(self, path: Path) -> None:
        _verify(path)
        try:
            self.net = cv2.dnn.readNetFromTFLite(str(path))
        except cv2.error as error:
            raise FaceModelError(f"OpenCV could not load {path.name}: {error}") from error
        self.anchors = _anchors()
        self.lock = threading.Lock()  # a cv2.dnn.Net is not safe to share across threads

    def run(self, rgb: NDArray[np.uint8]) -> list[DetectedFace]:
        height, width = rgb.shape[:2]
        side = max(height, width)
        # Letterbox: pad to a square (grey), as MediaPipe does, so faces keep their shape.
        square = np.full((side, side, 3), 127, dtype=np.uint8)
        top, left = (side - height) // 2, (side - width) // 2
        square[top : top + height, left : left + width] = rgb[:, :, :3]
        small = cv2.resize(square, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
        blob = (small.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        with self.lock:
            self.net.setInput(blob)
            scores_raw, boxes_raw = self.net.forward(["classificators", "regressors"])
        logits = np.clip(scores_raw.reshape(-1), -80.0, 80.0)
        scores = 1.0 / (1.0 + np.exp(-logits))
        raw = boxes_raw.reshape(-1, 16) / INPUT_SIDE
        keep = np.flatnonzero(scores >= MIN_SCORE)
        if keep.size == 0:
            return []
        anchors = self.anchors[keep]
        reg = raw[keep]
        cx, cy = anchors[:, 0] + reg[:, 0], anchors[:, 1] + reg[:, 1]
        bw, bh = reg[:, 2], reg[:, 3]
        rects = [
            [float((x - w / 2) * side), float((y - h / 2) * side), float(w * side), float(h * side)]
            for x, y, w, h in zip(cx, cy, bw, bh, strict=True)
        ]
        chosen = cv2.dnn.NMSBoxes(rects, scores[keep].tolist(), MIN_SCORE, NMS_IOU)
        faces = []
        for index in np.ravel(chosen):
            x, y, w, h = rects[int(index)]
            points = tuple(
                (
                    float((anchors[index, 0] + reg[index, 4 + 2 * k]) * side - left),
                    float((anchors[index, 1] + reg[index, 5 + 2 * k]) * side - top),
                )
                for k in range(6)
            )
            faces.append(
                DetectedFace(
                    (round(x - left), round(y - top), round(w), round(h)),
                    float(scores[keep][index]),
                    points,
                )
            )
        return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


@lru_cache(maxsize=1)
def _detector() -> _Detector:
    return _Detector(MODEL_PATH)


def detect(rgb: NDArray[np.uint8]) -> list[DetectedFace]:
    """Faces in an RGB picture, largest first (the model is loaded once per process).

    The short-range model is made for faces filling a good part of the picture (passport
    photos, selfies); raises :class:`FaceModelError` when the model cannot be loaded.
    """
    return _detector().run(rgb)
