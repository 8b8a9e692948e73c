"""Person segmentation backends: MediaPipe selfie model in OpenCV dnn, rembg, GrabCut.

`build_segmenter(requested)` returns the backend to use and a status for `/health`:
- `mediapipe` (default): the committed TFLite model, checksum-verified before loading;
- `rembg`: only when the package and its model file are installed (no download);
- `grabcut`: no model, seeded by the face box; also the fallback when another fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .arrays import Mask, Pixels
from .faces import Face

log = logging.getLogger("passport.segmentation")

MODEL_DIR = Path(__file__).resolve().parent / "models"
MODEL_PATH = MODEL_DIR / "selfie_segmentation.tflite"
MODEL_SIZE = 249_505
MODEL_SHA256 = (
    "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"  # pragma: allowlist secret
)
INPUT_SIDE = 256
# After the guided filter, probabilities below EDGE_LOW are background, above EDGE_HIGH
# person; the band between is a soft edge (hair).
WORK_SIDE = 384  # masks are refined and returned at most this large
EDGE_LOW = 0.25
EDGE_HIGH = 0.75


class ModelError(RuntimeError):
    """A segmentation model is missing, corrupt or cannot be loaded."""


class Segmenter(Protocol):
    """Produces a person probability mask (float32 in [0, 1], the image's aspect ratio)."""

    name: str

    def mask(self, rgb: Pixels, face: Face | None) -> Mask:
        """The person mask of `rgb`; `face` helps backends that need a seed."""
        ...


def verify_model(path: Path | None = None) -> str:
    """Check size and sha256 of the model file; return the digest or raise `ModelError`."""
    path = path or MODEL_PATH
    if not path.is_file():
        raise ModelError(f"segmentation model {path} is missing; restore it from the repository")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != MODEL_SIZE or digest != MODEL_SHA256:
        raise ModelError(
            f"segmentation model {path.name} failed its checksum: {len(data)} bytes, "
            f"sha256 {digest}; expected {MODEL_SIZE} bytes, sha256 {MODEL_SHA256}. "
            "Restore the file from the repository (see models/PROVENANCE.md)"
        )
    return digest


class MediapipeSegmenter:
    """MediaPipe selfie segmentation run by OpenCV's dnn module, with guided edge refinement."""

    name = "mediapipe"

    def __init__(self, path: Path | None = None) -> None:
        path = path or MODEL_PATH
        self.sha256 = verify_model(path)
        try:
            self._net = cv2.dnn.readNetFromTFLite(str(path))
        except cv2.error as exc:
            raise ModelError(f"OpenCV could not load {path.name}: {exc}") from exc
        self._lock = threading.Lock()  # a cv2.dnn.Net is not safe to share across threads

    def mask(self, rgb: Pixels, face: Face | None) -> Mask:
        """Person probability at the image's size, edges refined against the image."""
        work, scale = working_copy(rgb)
        small = cv2.resize(work, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
        # Local contrast normalisation: the model confuses clipped or murky backgrounds
        # with the person (measured on the over- and under-exposed samples).
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))  # not thread-safe: per call
        lab[:, :, 0] = clahe.apply(lab[:, :, 0])
        small = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        blob = (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        with self._lock:
            self._net.setInput(blob)
            out = self._net.forward()
        prob = np.clip(out.reshape(INPUT_SIDE, INPUT_SIDE).astype(np.float32), 0.0, 1.0)
        return refine(work, prob, face, scale)


class RembgSegmenter:
    """rembg (U^2-Net) when the package and its model are installed locally."""

    name = "rembg"

    def __init__(self, model: str = "u2net") -> None:
        try:
            import rembg
        except ImportError as exc:
            raise ModelError(
                f"the rembg package is not installed (pip install rembg): {exc}"
            ) from None
        home = Path(os.environ.get("U2NET_HOME", Path.home() / ".u2net"))
        model_file = home / f"{model}.onnx"
        if not model_file.is_file():
            raise ModelError(
                f"rembg model {model_file} is missing; download it once (rembg d {model}) "
                "because the application never downloads at run time"
            )
        self._rembg: Any = rembg
        self._session = rembg.new_session(model)
        self.model = str(model_file)

    def mask(self, rgb: Pixels, face: Face | None) -> Mask:
        """rembg's alpha matte as a probability mask."""
        from PIL import Image

        matte = self._rembg.remove(Image.fromarray(rgb), session=self._session, only_mask=True)
        return np.asarray(matte.convert("L"), dtype=np.float32) / 255.0


class GrabCutSegmenter:
    """GrabCut seeded by the face box (head and shoulders as probable foreground)."""

    name = "grabcut"
    work_side = 200

    def mask(self, rgb: Pixels, face: Face | None) -> Mask:
        """A GrabCut foreground mask computed at low resolution, refined at the working size."""
        work, work_scale = working_copy(rgb)
        height, width = work.shape[:2]
        scale = min(1.0, self.work_side / max(height, width))
        small = cv2.resize(work, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        scale *= work_scale  # from input pixels to `small` pixels
        sh, sw = small.shape[:2]
        if face is not None:
            x0 = face.x - 1.2 * face.w
            x1 = face.x + 2.2 * face.w
            y0 = face.y - 0.6 * face.h
            rect_px = (x0 * scale, y0 * scale, x1 * scale, float(sh))
        else:
            rect_px = (0.1 * sw, 0.05 * sh, 0.9 * sw, float(sh))
        rx0 = int(np.clip(rect_px[0], 1, sw - 2))
        ry0 = int(np.clip(rect_px[1], 1, sh - 2))
        rx1 = int(np.clip(rect_px[2], rx0 + 1, sw - 1))
        ry1 = int(np.clip(rect_px[3], ry0 + 1, sh))
        if sw < 8 or sh < 8 or rx1 - rx0 < 2 or ry1 - ry0 < 2:
            return np.ones((sh, sw), np.float32)
        gc_mask = np.zeros((sh, sw), np.uint8)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        rect = (rx0, ry0, rx1 - rx0, ry1 - ry0)
        try:
            cv2.grabCut(bgr, gc_mask, rect, bgd, fgd, 3, cv2.GC_INIT_WITH_RECT)
        except cv2.error:
            # Degenerate colour statistics (flat images): keep the seed rectangle.
            gc_mask[ry0:ry1, rx0:rx1] = cv2.GC_PR_FGD
        if face is not None:
            fx0, fy0 = int(face.x * scale), int(face.y * scale)
            fx1, fy1 = int((face.x + face.w) * scale), int((face.y + face.h) * scale)
            gc_mask[fy0:fy1, fx0:fx1] = cv2.GC_FGD
        fg = np.isin(gc_mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
        return refine(work, fg, face, work_scale)


def working_copy(rgb: Pixels) -> tuple[Pixels, float]:
    """`rgb` reduced to at most WORK_SIDE on its longer side, and the factor applied."""
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    if scale == 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def refine(work: Pixels, prob: Mask, face: Face | None, scale: float) -> Mask:
    """Snap a low-resolution mask's edges to the image (guided filter) at the working size.

    `work` is the image's `working_copy` (`scale` its factor); the result has its size.
    Stray blobs not connected to the person (the component holding the face, else the
    largest) are dropped before the filter.
    """
    wh, ww = work.shape[:2]
    guide = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    p = cv2.resize(prob, (ww, wh), interpolation=cv2.INTER_LINEAR)
    hard = (p > 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if count > 2:
        keep = _person_label(labels, stats, face, scale)
        p = np.where((labels == keep) | (hard == 0), p, 0.0).astype(np.float32)
    radius = max(2, round(min(wh, ww) / 64))
    refined = _guided_filter(guide.astype(np.float32) / 255.0, p, radius, 1e-3)
    refined = np.clip((refined - EDGE_LOW) / (EDGE_HIGH - EDGE_LOW), 0.0, 1.0)
    # Returned at the working resolution: callers warp or resize it once, where needed.
    return np.clip(refined, 0.0, 1.0).astype(np.float32)


def upsample(mask: Mask, shape: tuple[int, ...]) -> Mask:
    """`mask` resized to an image of `shape` (height, width, ...)."""
    height, width = shape[0], shape[1]
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def _person_label(labels: Pixels, stats: Pixels, face: Face | None, scale: float) -> int:
    if face is not None:
        cy = int((face.y + face.h / 2) * scale)
        cx = int((face.x + face.w / 2) * scale)
        cy = min(max(cy, 0), labels.shape[0] - 1)
        cx = min(max(cx, 0), labels.shape[1] - 1)
        label = int(labels[cy, cx])
        if label != 0:
            return label
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int(np.argmax(areas)) + 1


def _guided_filter(guide: Mask, src: Mask, radius: int, eps: float) -> Mask:
    """He et al.'s guided filter with box filters (OpenCV contrib is not available)."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(a: Mask) -> Mask:
        return cv2.boxFilter(a, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    mean_p = box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


@dataclass
class SegmenterChoice:
    """The active segmenter and what `/health` says about it."""

    segmenter: Segmenter
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        """False when a required model failed to load (e.g. checksum mismatch)."""
        return bool(self.status.get("status") == "ok")


def build_segmenter(requested: str) -> SegmenterChoice:
    """Load the requested backend, falling back to GrabCut with the reason recorded.

    A corrupt MediaPipe model is a failure (`status: fail`, `/health` 503): requests are
    still served by GrabCut. A missing optional rembg install is a configured fallback.
    """
    status: dict[str, Any] = {"requested": requested}
    try:
        if requested == "mediapipe":
            mp = MediapipeSegmenter()
            status.update(status="ok", backend=mp.name, model=MODEL_PATH.name, sha256=mp.sha256)
            return SegmenterChoice(mp, status)
        if requested == "rembg":
            rb = RembgSegmenter()
            status.update(status="ok", backend=rb.name, model=rb.model)
            return SegmenterChoice(rb, status)
    except ModelError as exc:
        log.error("segmentation backend %s unavailable: %s", requested, exc)
        failed = requested == "mediapipe"
        status.update(
            status="fail" if failed else "ok",
            backend=GrabCutSegmenter.name,
            fallback=True,
            error=str(exc),
        )
        return SegmenterChoice(GrabCutSegmenter(), status)
    status.update(status="ok", backend=GrabCutSegmenter.name, fallback=False)
    return SegmenterChoice(GrabCutSegmenter(), status)
