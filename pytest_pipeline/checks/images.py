"""Judge the pictures a service returns, independently of what the service claims.

The face is detected again with OpenCV's Haar cascade (the frontal-face model shipped in
``opencv-python-headless``), so a service that reports a face it did not centre, or a size it
did not produce, is caught by looking at the picture itself.

Thresholds are module constants with the reason for each; Haar boxes are approximate (they
span roughly eyebrows to chin, not crown to chin), hence the head-height factor and the
tolerances.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "Box",
    "annotate",
    "detect_faces",
    "inspect_photo",
    "verify_background",
    "verify_photo",
]

Box = tuple[int, int, int, int]
"""A face box ``(x, y, w, h)`` in pixels."""

#: Crown-to-chin height per Haar face-box height: the default cascade's box spans about
#: eyebrows to chin, the head goes on to the crown (measured 1.6x on a studio portrait:
#: 405 px crown to chin for a 250 px box).
HEAD_PER_FACE_BOX = 1.6
#: Relative slack on the head-ratio bounds, for the Haar box's imprecision.
HEAD_RATIO_TOLERANCE = 0.15
#: How far (fraction of the width) the face centre may sit from the vertical middle line.
CENTRE_TOLERANCE = 0.08
#: A face smaller than this fraction of the picture width is not the subject (a Haar
#: false positive in hair or clothes); passport heads are half the picture or more.
MIN_FACE_FRACTION = 0.15
#: Border strip thickness (fraction of the side) used for background checks.
BORDER_FRACTION = 0.04
#: The border is searched in the upper part only: the shoulders reach the bottom edge.
BORDER_UPPER_PART = 0.6
#: A pixel is "near white" when every channel is at least this (JPEG ringing stays above).
NEAR_WHITE = 225
#: Share of the border pixels that must be near white in a passport photo.
BORDER_SHARE = 0.9
#: Share of the border that must be transparent after background removal: person
#: segmentation leaves fringes where the background resembles the person (a flag, a
#: shoulder at the edge); a service that removes nothing scores near 0%.
TRANSPARENT_BORDER_SHARE = 0.8
#: Alpha at or below which a pixel counts as transparent, and at or above as opaque.
TRANSPARENT_ALPHA = 32
OPAQUE_ALPHA = 224
#: Share of the inner face region that must be opaque in a background-removed PNG.
FACE_OPAQUE_SHARE = 0.95


@dataclass(frozen=True)
class Picture:
    """A decoded picture: format name and pixels (RGB or RGBA, uint8)."""

    format: str
    mode: str
    pixels: NDArray[np.uint8]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def load_picture(data: bytes) -> Picture:
    """Decode picture bytes (any format Pillow reads), keeping RGBA when there is alpha."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            fmt, mode = opened.format or "unknown", opened.mode
            # Upright as a viewer shows it (a camera's EXIF orientation applied).
            image = ImageOps.exif_transpose(opened) or opened
            converted = image.convert("RGBA" if mode in ("RGBA", "LA", "PA") else "RGB")
            return Picture(fmt, mode, np.asarray(converted, dtype=np.uint8))
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"not a picture Pillow can read: {error}") from error


@lru_cache(maxsize=1)
def _cascade() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(
            f"OpenCV's Haar cascade {path} could not be loaded; "
            "install opencv-python-headless 4.x (OpenCV 5 dropped the Haar cascades)"
        )
    return cascade


#: Pictures are searched at this longest side at most (smaller sides gave false positives).
DETECT_SIDE = 640


def detect_faces(rgb: NDArray[np.uint8]) -> list[Box]:
    """Frontal faces in an RGB picture, largest first, ignoring ones too small to be the subject.

    The search runs on a copy scaled down to ``DETECT_SIDE``; boxes are in input pixels.
    """
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[:, :, :3]), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, DETECT_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    smallest = max(24, int(min(gray.shape) * MIN_FACE_FRACTION))
    found = _cascade().detectMultiScale(
        gray, scaleFactor=1.1, minNeighbors=6, minSize=(smallest, smallest)
    )
    boxes: list[Box] = [
        (round(x / scale), round(y / scale), round(w / scale), round(h / scale))
        for x, y, w, h in found
    ]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def _border_mask(width: int, height: int) -> NDArray[np.bool_]:
    """Top strip plus left and right strips of the upper part of the picture."""
    mask = np.zeros((height, width), dtype=bool)
    strip_w = max(1, round(width * BORDER_FRACTION))
    strip_h = max(1, round(height * BORDER_FRACTION))
    upper = max(strip_h, round(height * BORDER_UPPER_PART))
    mask[:strip_h, :] = True
    mask[:upper, :strip_w] = True
    mask[:upper, width - strip_w :] = True
    return mask


def verify_photo(data: bytes, spec: Mapping[str, Any]) -> list[str]:
    """Problems with an output passport photo for ``spec`` (width_px, height_px, head_ratio).

    Size equals the spec; exactly one face re-detected; its centre on the vertical middle
    line; the estimated head height within ``head_ratio`` of the photo height; the border
    (top, and the sides above the shoulders) near white.
    """
    return inspect_photo(data, spec)[0]


def inspect_photo(data: bytes, spec: Mapping[str, Any]) -> tuple[list[str], list[Box]]:
    """:func:`verify_photo`'s problems and the faces it re-detected (for :func:`annotate`)."""
    try:
        picture = load_picture(data)
    except ValueError as error:
        return [f"output photo: {error}"], []
    width, height = picture.size
    problems: list[str] = []
    if (width, height) != (spec["width_px"], spec["height_px"]):
        problems.append(
            f"output photo is {width}x{height} px, the spec says "
            f"{spec['width_px']}x{spec['height_px']}"
        )
    rgb = picture.pixels[:, :, :3]
    faces = detect_faces(rgb)
    if len(faces) != 1:
        problems.append(
            f"expected exactly one face in the output photo, OpenCV found {len(faces)} ({faces})"
        )
    if faces:
        x, _y, w, h = faces[0]
        offset = abs((x + w / 2) - width / 2) / width
        if offset > CENTRE_TOLERANCE:
            problems.append(
                f"face not centred: its centre is {offset:.0%} of the width off the middle "
                f"(box {faces[0]}, allowed {CENTRE_TOLERANCE:.0%})"
            )
        low, high = spec["head_ratio"]
        ratio = h * HEAD_PER_FACE_BOX / height
        if not low * (1 - HEAD_RATIO_TOLERANCE) <= ratio <= high * (1 + HEAD_RATIO_TOLERANCE):
            problems.append(
                f"head height is {ratio:.2f} of the photo height (face box {faces[0]}), "
                f"outside head_ratio [{low}, {high}] (±{HEAD_RATIO_TOLERANCE:.0%})"
            )
    border = _border_mask(width, height)
    white: NDArray[np.bool_] = np.all(rgb >= NEAR_WHITE, axis=2)
    share = float(white[border].mean())
    if share < BORDER_SHARE:
        mean = rgb[border].mean(axis=0).round().astype(int).tolist()
        problems.append(
            f"background is not white: only {share:.0%} of the border is near white "
            f"(need {BORDER_SHARE:.0%}; mean border colour RGB {mean})"
        )
    return problems, faces


def verify_background(data: bytes, source: bytes | None = None, person: bool = True) -> list[str]:
    """Problems with a background-removed PNG: RGBA, border transparent, face opaque.

    The face is found in ``source`` (the uploaded photo, scaled to the output size) when
    given, else in the output composited on white. With ``person=False`` (a picture without
    a face) only the format and the size are judged: what counts as background is undefined.
    """
    try:
        picture = load_picture(data)
    except ValueError as error:
        return [f"background output: {error}"]
    problems: list[str] = []
    if picture.format != "PNG":
        problems.append(f"background output must be a PNG, got {picture.format}")
    if picture.pixels.shape[2] != 4:
        return [*problems, f"background output must be RGBA, got mode {picture.mode}"]
    width, height = picture.size
    alpha = picture.pixels[:, :, 3]
    if person:
        border = _border_mask(width, height)
        share = float((alpha[border] <= TRANSPARENT_ALPHA).mean())
        if share < TRANSPARENT_BORDER_SHARE:
            problems.append(
                f"background not removed: only {share:.0%} of the border is transparent "
                f"(need {TRANSPARENT_BORDER_SHARE:.0%})"
            )
    faces: list[Box] = []
    if source is not None:
        try:
            original = load_picture(source)
        except ValueError as error:
            return [*problems, f"input photo: {error}"]
        ow, oh = original.size
        if abs(ow / oh - width / height) > 0.02:
            problems.append(
                f"background output {width}x{height} does not keep the input's "
                f"aspect ratio ({ow}x{oh})"
            )
        if not person:
            return problems
        scaled = cv2.resize(original.pixels[:, :, :3], (width, height))
        faces = detect_faces(np.asarray(scaled, dtype=np.uint8))
    elif not person:
        return problems
    else:
        rgba = picture.pixels.astype(np.float32)
        weight = rgba[:, :, 3:4] / 255.0
        on_white = (rgba[:, :, :3] * weight + 255.0 * (1 - weight)).astype(np.uint8)
        faces = detect_faces(on_white)
    if not faces:
        problems.append("no face found to check that the person stays opaque")
        return problems
    x, y, w, h = faces[0]
    inner = alpha[y + h // 5 : y + h - h // 5, x + w // 5 : x + w - w // 5]
    opaque = float((inner >= OPAQUE_ALPHA).mean()) if inner.size else 0.0
    if opaque < FACE_OPAQUE_SHARE:
        problems.append(
            f"the person is not opaque: only {opaque:.0%} of the face region {faces[0]} "
            f"has alpha >= {OPAQUE_ALPHA} (need {FACE_OPAQUE_SHARE:.0%})"
        )
    return problems


def annotate(data: bytes, boxes: Sequence[Box] | None = None) -> bytes:
    """A PNG of the picture with the re-detected face boxes drawn, for the report."""
    picture = load_picture(data)
    rgb = np.array(picture.pixels[:, :, :3], dtype=np.uint8, copy=True, order="C")
    for x, y, w, h in boxes if boxes is not None else detect_faces(rgb):
        cv2.rectangle(rgb, (x, y), (x + w, y + h), (255, 0, 0), max(2, rgb.shape[1] // 200))
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()
