"""Judge the pictures a service returns, independently of what the service claims.

The face is found again by the suite's own detector (:mod:`pytest_pipeline.postdeploy.faces`,
MediaPipe's BlazeFace CNN read by OpenCV), of another family than a service's usual Haar
cascades, so the suite's errors are not the service's. Each rule of the contract's photo
output (DESIGN.md section 5) is judged on its own and reported under its own name
(:data:`PHOTO_RULES`): size, one upright face, centring, head height, white background.

Thresholds are module constants with the reason for each.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from pytest_pipeline.postdeploy import faces as face_model

__all__ = [
    "PHOTO_RULES",
    "Box",
    "PhotoVerdict",
    "annotate",
    "detect_faces",
    "inspect_photo",
    "judge_photo",
    "verify_background",
    "verify_photo",
]

Box = tuple[int, int, int, int]
"""A face box ``(x, y, w, h)`` in pixels."""

#: The photo-output rules of the contract, each judged and reported on its own.
PHOTO_RULES: dict[str, str] = {
    "size": "the photo is exactly the spec's width_px x height_px",
    "one_face": "exactly one upright face in the photo",
    "centred": "the face horizontally centred within 5% of the width",
    "head_height": "head height (crown to chin) within the spec's head_ratio",
    "background": "the background (above the crown, beside the head) near white",
}
#: How far (fraction of the width) the face centre may sit from the middle: the contract's 5%.
CENTRE_TOLERANCE = 0.05
#: Chin below the mouth, in eye-to-mouth distances (adult anthropometry: pupils to mouth
#: about 68 mm, mouth to chin about 44 mm).
CHIN_PER_EYE_MOUTH = 0.65
#: Relative slack on the head-ratio bounds: the chin is estimated from the eyes and the
#: mouth, not seen.
HEAD_RATIO_TOLERANCE = 0.06
#: A pixel belongs to the head (when scanning down for the crown) when a channel differs
#: from the background colour by more than this; a row does when this share of the band does.
CROWN_DIFFERENCE = 40
CROWN_ROW_SHARE = 0.25
#: Background beside the head starts this many face widths from the face's centre (hair
#: reaches about 0.8 face widths; the region stops at the eyes, above any shoulder).
HEAD_HALF_WIDTH = 1.0
#: Rows just above the crown are left out (soft hair edges), as a share of the height.
CROWN_MARGIN = 0.02
#: Fewer background pixels than this share of the picture cannot be judged.
MIN_BACKGROUND_SHARE = 0.005
#: A pixel is "near white" when every channel is at least this (JPEG ringing stays above).
NEAR_WHITE = 225
#: Share of the background pixels that must be near white.
BACKGROUND_SHARE = 0.95
#: The eyes' line may tilt this much (degrees) in an upright face.
MAX_TILT_DEGREES = 25.0
#: Border strip thickness (fraction of the side) used for background-removal checks.
BORDER_FRACTION = 0.04
#: The border is searched in the upper part only: the shoulders reach the bottom edge.
BORDER_UPPER_PART = 0.6
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


def detect_faces(rgb: NDArray[np.uint8]) -> list[Box]:
    """Face boxes in an RGB picture by the suite's own detector, largest first."""
    return [face.box for face in face_model.detect(np.ascontiguousarray(rgb[:, :, :3]))]


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


@dataclass
class PhotoVerdict:
    """One output photo judged rule by rule (:data:`PHOTO_RULES` keys to problems).

    ``judged`` lists the rules that could be measured; a rule left out could not be (no face
    found to measure against), and :meth:`unjudged` says why.
    """

    rules: dict[str, list[str]] = field(default_factory=dict)
    faces: list[Box] = field(default_factory=list)
    reason: str = ""

    @property
    def problems(self) -> list[str]:
        """Every problem of every rule, in the rules' order."""
        return [p for rule in PHOTO_RULES for p in self.rules.get(rule, [])]

    def judged(self, rule: str) -> bool:
        """Whether ``rule`` could be measured on this photo."""
        return rule in self.rules

    def unjudged(self, rule: str) -> str:
        """Why ``rule`` could not be measured (empty when it was)."""
        return "" if self.judged(rule) else self.reason


def verify_photo(data: bytes, spec: Mapping[str, Any]) -> list[str]:
    """Problems with an output passport photo for ``spec`` (width_px, height_px, head_ratio).

    Every rule of :data:`PHOTO_RULES`, flattened; :func:`judge_photo` keeps them apart.
    """
    return inspect_photo(data, spec)[0]


def inspect_photo(data: bytes, spec: Mapping[str, Any]) -> tuple[list[str], list[Box]]:
    """:func:`verify_photo`'s problems and the faces it re-detected (for :func:`annotate`)."""
    verdict = judge_photo(data, spec)
    problems = verdict.problems
    if verdict.reason and not problems:
        problems = [verdict.reason]
    return problems, verdict.faces


def _background_colour(rgb: NDArray[np.uint8]) -> NDArray[np.int16]:
    """The median colour of the two top corners (background in any passport framing)."""
    height, width = rgb.shape[:2]
    pw, ph = max(4, round(width * 0.06)), max(4, round(height * 0.03))
    corners = np.concatenate(
        [rgb[:ph, :pw].reshape(-1, 3), rgb[:ph, width - pw :].reshape(-1, 3)], axis=0
    )
    colour: NDArray[np.int16] = np.asarray(np.median(corners, axis=0), dtype=np.int16)
    return colour


def _crown(rgb: NDArray[np.uint8], face: face_model.DetectedFace) -> int:
    """The topmost row of the head above the eyes: where the picture stops being background.

    Scans a band half a face wide around the face's centre from the top edge down to the
    eyes; 0 when the head reaches the top edge.
    """
    width = rgb.shape[1]
    half = max(2, round(face.box[2] / 4))
    x0, x1 = max(0, round(face.centre_x) - half), min(width, round(face.centre_x) + half)
    bottom = max(1, min(rgb.shape[0], round(face.eye_y)))
    band = rgb[:bottom, x0:x1].astype(np.int16)
    differs = np.abs(band - _background_colour(rgb)).max(axis=2) > CROWN_DIFFERENCE
    rows = np.flatnonzero(differs.mean(axis=1) >= CROWN_ROW_SHARE)
    return int(rows[0]) if rows.size else bottom


def _background_region(
    shape: tuple[int, ...], face: face_model.DetectedFace, crown: int
) -> NDArray[np.bool_]:
    """Pixels the person cannot cover: above the crown, and beside the head above the eyes."""
    height, width = shape[:2]
    region = np.zeros((height, width), dtype=bool)
    region[: max(0, crown - round(CROWN_MARGIN * height)), :] = True
    reach = HEAD_HALF_WIDTH * face.box[2]
    left = max(0, round(face.centre_x - reach))
    right = min(width, round(face.centre_x + reach))
    eyes = max(0, min(height, round(face.eye_y)))
    region[:eyes, :left] = True
    region[:eyes, right:] = True
    return region


def _upright(face: face_model.DetectedFace) -> bool:
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    tilt = abs(float(np.degrees(np.arctan2(ly - ry, lx - rx))))
    return tilt <= MAX_TILT_DEGREES and face.mouth_y > face.eye_y


def _best_turn(rgb: NDArray[np.uint8], score: float) -> int:
    """The quarter turns (0-3, counter-clockwise) at which the face is found most surely.

    The detector also finds an upside-down or sideways face, with its keypoints laid out as
    if upright but a lower score; the turn that scores best shows which way is up.
    """
    best, turn = score, 0
    for quarter in (1, 2, 3):
        found = face_model.detect(np.ascontiguousarray(np.rot90(rgb, quarter)))
        if found and max(f.score for f in found) > best:
            best, turn = max(f.score for f in found), quarter
    return turn


def judge_photo(data: bytes, spec: Mapping[str, Any]) -> PhotoVerdict:
    """Judge an output photo for ``spec``, each rule of :data:`PHOTO_RULES` separately."""
    try:
        picture = load_picture(data)
    except ValueError as error:
        return PhotoVerdict({"size": [f"output photo: {error}"]}, reason=str(error))
    width, height = picture.size
    verdict = PhotoVerdict({"size": []})
    if (width, height) != (spec["width_px"], spec["height_px"]):
        verdict.rules["size"].append(
            f"output photo is {width}x{height} px, the spec says "
            f"{spec['width_px']}x{spec['height_px']}"
        )
    rgb = np.ascontiguousarray(picture.pixels[:, :, :3])
    found = face_model.detect(rgb)
    verdict.faces = [f.box for f in found]
    turn = _best_turn(rgb, found[0].score) if len(found) == 1 else 0
    upright = [f for f in found if _upright(f)] if turn == 0 else []
    one_face: list[str] = []
    if len(found) != 1:
        one_face.append(
            f"expected exactly one face in the output photo, the suite's detector "
            f"(BlazeFace) found {len(found)} {verdict.faces}"
        )
    elif not upright:
        how = f"turned by {90 * turn} degrees" if turn else "tilted"
        one_face.append(
            f"the face in the output photo is not upright: it is found most surely with the "
            f"photo {how} (a rotated, sideways or upside-down picture)"
        )
    verdict.rules["one_face"] = one_face
    if not upright:
        verdict.reason = "no upright face found in the output photo to measure against"
        return verdict
    face = upright[0]
    offset = (face.centre_x - width / 2) / width
    verdict.rules["centred"] = (
        [
            f"face not centred: its centre (between the eyes, x={face.centre_x:.0f}) is "
            f"{abs(offset):.1%} of the width {'left' if offset < 0 else 'right'} of the "
            f"middle (allowed {CENTRE_TOLERANCE:.0%})"
        ]
        if abs(offset) > CENTRE_TOLERANCE
        else []
    )
    crown = _crown(rgb, face)
    chin = face.mouth_y + CHIN_PER_EYE_MOUTH * (face.mouth_y - face.eye_y)
    ratio = (chin - crown) / height
    low, high = spec["head_ratio"]
    lo, hi = low * (1 - HEAD_RATIO_TOLERANCE), high * (1 + HEAD_RATIO_TOLERANCE)
    verdict.rules["head_height"] = (
        []
        if lo <= ratio <= hi
        else [
            f"head height (crown y={crown} to chin y~{chin:.0f}) is {ratio:.2f} of the photo "
            f"height, outside head_ratio [{low}, {high}] (measured with ±"
            f"{HEAD_RATIO_TOLERANCE:.0%} slack: [{lo:.3f}, {hi:.3f}])"
        ]
    )
    region = _background_region(rgb.shape, face, crown)
    count = int(region.sum())
    if count < MIN_BACKGROUND_SHARE * width * height:
        verdict.rules["background"] = [
            f"no background left to judge: {count} px above the crown (y={crown}) and beside "
            "the head; the head fills the frame"
        ]
        return verdict
    white: NDArray[np.bool_] = np.all(rgb >= NEAR_WHITE, axis=2)
    share = float(white[region].mean())
    verdict.rules["background"] = (
        []
        if share >= BACKGROUND_SHARE
        else [
            f"background is not white: only {share:.0%} of the {count} background pixels "
            f"(above the crown, beside the head) are near white (need {BACKGROUND_SHARE:.0%}; "
            f"mean background colour RGB {rgb[region].mean(axis=0).round().astype(int).tolist()})"
        ]
    )
    return verdict


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
