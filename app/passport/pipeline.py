"""The photo pipeline: decode → detect → segment → compose → encode, each stage separate."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .arrays import Mask, Pixels
from .compose import SPECS, Composition, compose
from .errors import ApiError
from .faces import Face, FaceDetector
from .imaging import Decoded, decode, encode_jpeg, encode_png_rgba
from .segmentation import SegmenterChoice, upsample

PHOTO_MAX_SIDE = 1600  # passport output is small: larger inputs are reduced first
BACKGROUND_MAX_SIDE = 2048  # /background returns at most this size ("scaled down")
MIN_FACE_PX = 64  # a face narrower than this cannot give a sharp passport photo
MIN_FACE_FRACTION = 0.08  # ... nor one narrower than this share of the shorter side


def limit_side(rgb: Pixels, max_side: int) -> Pixels:
    """`rgb` scaled down (never up) so its longer side is at most `max_side`."""
    height, width = rgb.shape[:2]
    if max(height, width) <= max_side:
        return rgb
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


@dataclass
class PhotoPipeline:
    """Holds the loaded models; safe to share between threads."""

    detector: FaceDetector
    segmentation: SegmenterChoice
    max_pixels: int

    def decode(self, data: bytes, max_side: int | None = None) -> Decoded:
        """Stage 1: sniff, guard and decode at most `max_side` pixels on the longer side
        (raises 400/413/415 `ApiError`); big uploads are decoded reduced, see `imaging`."""
        return decode(data, self.max_pixels, max_side)

    def detect(self, rgb: Pixels) -> Face:
        """Stage 2: exactly one large-enough face, else 422 `no_face` / `multiple_faces` /
        `face_too_small`."""
        faces = self.detector.detect(rgb)
        if not faces:
            raise ApiError(422, "no_face", "no face was found in the photo")
        if len(faces) > 1:
            raise ApiError(
                422, "multiple_faces", f"{len(faces)} faces were found; the photo needs exactly one"
            )
        face = faces[0]
        needed = max(MIN_FACE_PX, MIN_FACE_FRACTION * min(rgb.shape[:2]))
        if face.w < needed:
            raise ApiError(
                422,
                "face_too_small",
                f"the face is {face.w} px wide; at least {int(np.ceil(needed))} px are needed "
                "(move closer or use a higher resolution)",
            )
        return face

    def segment(self, rgb: Pixels, face: Face | None) -> Mask:
        """Stage 3: person mask in [0, 1] at a working resolution (the image's aspect)."""
        return self.segmentation.segmenter.mask(rgb, face)

    def compose(self, rgb: Pixels, face: Face, mask: Mask, spec_id: str) -> Composition:
        """Stage 4: crop/scale/centre for the spec, white background, checks."""
        return compose(rgb, face, mask, SPECS[spec_id])

    def photo(self, data: bytes, spec_id: str) -> dict[str, Any]:
        """The full `POST /api/v1/photos` result for one upload."""
        if spec_id not in SPECS:
            raise ApiError(
                400, "unknown_spec", f"unknown spec {spec_id!r}; known: {', '.join(sorted(SPECS))}"
            )
        decoded = self.decode(data, PHOTO_MAX_SIDE)
        rgb = limit_side(decoded.rgb, PHOTO_MAX_SIDE)
        face = self.detect(rgb)
        mask = self.segment(rgb, face)
        if decoded.alpha is not None:
            size = (mask.shape[1], mask.shape[0])
            alpha = cv2.resize(decoded.alpha, size, interpolation=cv2.INTER_AREA)
            mask = np.minimum(mask, alpha.astype(np.float32) / 255.0)
        result = self.compose(rgb, face, mask, spec_id)
        jpeg = encode_jpeg(result.image)
        spec = SPECS[spec_id]
        return {
            "spec": spec_id,
            "width": spec.width_px,
            "height": spec.height_px,
            "face": {
                "box": result.face_box,
                "confidence": round(face.confidence, 4),
                "source_box": face.box,
            },
            "checks": result.checks,
            "segmentation": self.segmentation.segmenter.name,
            "image": base64.b64encode(jpeg).decode("ascii"),
        }

    def background(self, data: bytes) -> bytes:
        """The `POST /api/v1/background` PNG: RGBA, person opaque, background transparent."""
        decoded = self.decode(data, BACKGROUND_MAX_SIDE)
        rgb = limit_side(decoded.rgb, BACKGROUND_MAX_SIDE)
        faces = self.detector.detect(rgb)
        mask = upsample(self.segment(rgb, faces[0] if faces else None), rgb.shape)
        alpha = np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if decoded.alpha is not None:
            size = (rgb.shape[1], rgb.shape[0])
            alpha = np.minimum(alpha, cv2.resize(decoded.alpha, size, interpolation=cv2.INTER_AREA))
        return encode_png_rgba(rgb, alpha)
