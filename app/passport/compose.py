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
    "eu": Spec("eu", 413, 531, (0.71, 0.80)),
    "uk": Spec("uk", 413, 531, (0.64, 0.76)),
}


@dataclass(frozen=True)
class Composition:
    """The composed photo, where the face landed in it, and the quality checks."""

    image: Pixels
    face_box: list[int]
    checks: dict[str, dict[str, Any]]


def head_extent(face: Face, mask: Mask | None) -> tuple[float, float]:
    """(crown_y, chin_y) in input pixels: the crown from the person mask when it is plausible."""
    chin = face.y + face.h * (1.0 + CHIN_BELOW_BOX)
    crown = face.y - CROWN_DEFAULT * face.h
    if mask is not None:
        top = int(max(0.0, face.y - 0.9 * face.h))
        x0, x1 = face.x + face.w // 4, face.x + (3 * face.w) // 4
        band = mask[top : face.y + 1, x0 : max(x1, x0 + 1)]
        if band.size:
            rows = np.flatnonzero((band > 0.5).mean(axis=1) > 0.5)
            if rows.size:
                candidate = top + int(rows[0])
                if face.y - 0.8 * face.h <= candidate <= face.y - 0.15 * face.h:
                    crown = float(candidate)
    return crown, chin


def compose(rgb: Pixels, face: Face, mask: Mask, spec: Spec) -> Composition:
    """Crop, scale and centre the head for `spec`, whiten the background, enhance, check."""
    out_w, out_h = spec.width_px, spec.height_px
    crown, chin = head_extent(face, mask)
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
    alpha = cv2.warpAffine(
        mask,
        matrix,
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
    a = alpha[:, :, None]
    composed = enhanced.astype(np.float32) * a + WHITE * (1.0 - a)
    result = np.clip(composed + 0.5, 0, 255).astype(np.uint8)
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
    """Modest gray-world white balance on the person, then a gamma toward a well-lit face."""
    img = photo.astype(np.float32)
    person = alpha > 0.5
    if person.sum() > 64:
        means = img[person].mean(axis=0)
        gray = float(means.mean())
        gains = np.clip(1.0 + 0.5 * (gray / np.maximum(means, 1.0) - 1.0), 0.9, 1.1)
        img = np.clip(img * gains, 0, 255)
    luma = cv2.cvtColor(img.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    face_mean = float(_face_region(luma, box).mean()) / 255.0
    if 0.02 < face_mean < 0.98:
        gamma = float(np.clip(np.log(0.55) / np.log(face_mean), 0.5, 1.6))
        lut = (np.linspace(0.0, 1.0, 256) ** gamma * 255.0 + 0.5).astype(np.uint8)
        return cv2.LUT(img.astype(np.uint8), lut)
    return img.astype(np.uint8)


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
    sharpness = float(cv2.Laplacian(face_luma, cv2.CV_64F).var())
    brightness = float(face_luma.mean())
    x, _y, w, _h = box
    dx = (x + w / 2.0 - width / 2.0) / width
    background = result[alpha < 0.05]
    uniformity = float(background.std()) if background.size else 0.0
    bg_mean = float(background.mean()) if background.size else WHITE
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
