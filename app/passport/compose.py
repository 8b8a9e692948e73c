"""Passport composition: crop and scale around the head, white background, light enhancement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .arrays import Mask, Pixels
from .faces import Face

WHITE = 255.0
CHIN_BELOW_BOX = 0.1  # the chin sits about this share of the box height below a Haar box
CROWN_DEFAULT = 0.45  # crown above the box top when the mask cannot tell, in box heights
HEAD_CENTRE_Y = 0.45  # vertical position of the head's centre (face box centre lands near 0.5)


@dataclass(frozen=True)
class Spec:
    """One passport photo specification."""

    spec_id: str
    width_px: int
    height_px: int
    head_ratio: tuple[float, float]
    background: str = "#ffffff"

    def to_dict(self) -> dict[str, Any]:
        """The contract's representation in `GET /api/v1/specs`."""
        return {
            "width_px": self.width_px,
            "height_px": self.height_px,
            "head_ratio": list(self.head_ratio),
            "background": self.background,
        }


# Head height (chin to crown) as a share of the photo height, from the issuing authorities:
# US 1-1 3/8 in of 2 in; Schengen 32-36 mm of 45 mm; UK 29-34 mm of 45 mm (300 dpi).
SPECS: dict[str, Spec] = {
    "us": Spec("us", 600, 600, (0.50, 0.69)),
    "eu": Spec("eu", 413, 531, (0.70, 0.80)),
    "uk": Spec("uk", 413, 531, (0.64, 0.76)),
}


@dataclass(frozen=True)
class Composition:
    """The composed photo, where the face landed in it, and the quality checks."""

    image: Pixels
    face_box: list[int]
    checks: dict[str, dict[str, Any]]


def head_extent(face: Face, mask: Mask | None, image_shape: tuple[int, ...]) -> tuple[float, float]:
    """(crown_y, chin_y) in image pixels: the crown from the person mask when plausible.

    `mask` may be smaller than the image (same aspect ratio); it is read in its own pixels.
    """
    chin = face.y + face.h * (1.0 + CHIN_BELOW_BOX)
    crown = face.y - CROWN_DEFAULT * face.h
    if mask is None:
        return crown, chin
    k = mask.shape[0] / image_shape[0]
    fy, fh = face.y * k, face.h * k
    top = int(max(0.0, fy - 0.9 * fh))
    x0 = int((face.x + face.w / 4) * k)
    x1 = max(int((face.x + 3 * face.w / 4) * k), x0 + 1)
    band = mask[top : int(fy) + 1, x0:x1]
    if band.size:
        rows = np.flatnonzero((band > 0.5).mean(axis=1) > 0.5)
        if rows.size:
            candidate = (top + int(rows[0])) / k
            if face.y - 0.8 * face.h <= candidate <= face.y - 0.15 * face.h:
                crown = candidate
    return crown, chin


def compose(rgb: Pixels, face: Face, mask: Mask, spec: Spec) -> Composition:
    """Crop, scale and centre the head for `spec`, whiten the background, enhance, check."""
    out_w, out_h = spec.width_px, spec.height_px
    crown, chin = head_extent(face, mask, rgb.shape)
    head_h = max(1.0, chin - crown)
    target_ratio = sum(spec.head_ratio) / 2.0
    s = target_ratio * out_h / head_h
    cx = face.x + face.w / 2.0
    cy = (crown + chin) / 2.0
    tx = out_w / 2.0 - s * cx
    ty = HEAD_CENTRE_Y * out_h - s * cy
    matrix = np.array([[s, 0.0, tx], [0.0, s, ty]], dtype=np.float64)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    photo = cv2.warpAffine(
        rgb,
        matrix,
        (out_w, out_h),
        flags=interp,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )
    # The mask is warped from its own (smaller) resolution: same geometry, scaled.
    ky = mask.shape[0] / rgb.shape[0]
    kx = mask.shape[1] / rgb.shape[1]
    mask_matrix = np.array([[s / kx, 0.0, tx], [0.0, s / ky, ty]], dtype=np.float64)
    alpha = cv2.warpAffine(
        mask,
        mask_matrix,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    box = [
        round(face.x * s + tx),
        round(face.y * s + ty),
        round(face.w * s),
        round(face.h * s),
    ]
    enhanced = enhance(photo, alpha, box)
    white = np.full_like(enhanced, 255)
    weights = np.ascontiguousarray(alpha, dtype=np.float32)
    result = cv2.blendLinear(enhanced, white, weights, 1.0 - weights)
    checks = quality_checks(result, alpha, box, head_h * s / out_h, spec)
    return Composition(result, box, checks)


def _face_region(img: Pixels, box: list[int]) -> Pixels:
    x, y, w, h = box
    height, width = img.shape[:2]
    x0, y0 = max(0, x + w // 5), max(0, y + h // 5)
    x1, y1 = min(width, x + w - w // 5), min(height, y + h - h // 5)
    region = img[y0:y1, x0:x1]
    return region if region.size else img


def enhance(photo: Pixels, alpha: Mask, box: list[int]) -> Pixels:
    """Modest gray-world white balance on the person, then a gamma toward a well-lit face.

    Both are folded into one per-channel lookup table.
    """
    person = (alpha > 0.5).astype(np.uint8)
    gains = np.ones(3, np.float64)
    if int(person.sum()) > 64:
        means = np.asarray(cv2.mean(photo, mask=person)[:3], np.float64)
        gray = float(means.mean())
        gains = np.clip(1.0 + 0.5 * (gray / np.maximum(means, 1.0) - 1.0), 0.9, 1.1)
    x, y, w, h = box
    region = photo[max(0, y + h // 5) : max(0, y + h - h // 5), max(0, x + w // 5) : x + w - w // 5]
    if region.size == 0:
        region = photo
    face_mean = float(np.dot(np.asarray(cv2.mean(region)[:3]) * gains, (0.299, 0.587, 0.114)))
    face_mean /= 255.0
    gamma = 1.0
    if 0.02 < face_mean < 0.98:
        gamma = float(np.clip(np.log(0.55) / np.log(face_mean), 0.5, 1.6))
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    table = np.clip(levels * gains[None, :], 0.0, 1.0) ** gamma * 255.0 + 0.5
    lut = table.astype(np.uint8).reshape(256, 1, 3)
    return cv2.LUT(photo, lut)


def quality_checks(
    result: Pixels,
    alpha: Mask,
    box: list[int],
    head_ratio: float,
    spec: Spec,
) -> dict[str, dict[str, Any]]:
    """Sharpness, brightness, centring, head ratio and background uniformity, with values."""
    width = result.shape[1]
    luma = cv2.cvtColor(result, cv2.COLOR_RGB2GRAY)
    face_luma = _face_region(luma, box)
    _, lap_std = cv2.meanStdDev(cv2.Laplacian(face_luma, cv2.CV_32F))
    sharpness = float(lap_std[0, 0]) ** 2
    brightness = float(cv2.mean(face_luma)[0])
    x, _y, w, _h = box
    dx = (x + w / 2.0 - width / 2.0) / width
    background = (alpha < 0.05).astype(np.uint8)
    uniformity, bg_mean = 0.0, WHITE
    if cv2.countNonZero(background):
        means, stds = cv2.meanStdDev(luma, mask=background)
        bg_mean, uniformity = float(means[0, 0]), float(stds[0, 0])
    lo, hi = spec.head_ratio
    return {
        "sharpness": {"value": round(sharpness, 2), "min": 20.0, "ok": sharpness >= 20.0},
        "brightness": {
            "value": round(brightness, 2),
            "range": [70.0, 210.0],
            "ok": 70.0 <= brightness <= 210.0,
        },
        "centering": {"value": round(abs(dx), 4), "max": 0.05, "ok": abs(dx) <= 0.05},
        "head_ratio": {
            "value": round(head_ratio, 4),
            "range": [lo, hi],
            "ok": lo <= head_ratio <= hi,
        },
        "background_uniformity": {
            "value": round(uniformity, 2),
            "mean": round(bg_mean, 2),
            "max": 10.0,
            "ok": uniformity <= 10.0 and bg_mean >= 245.0,
        },
    }
