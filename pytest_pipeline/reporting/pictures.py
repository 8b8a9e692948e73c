"""Pictures sized for the report: one copy a reviewer can read, one thumbnail for the gallery.

A test hands the recorder whatever it has (a 40-megapixel PNG upload, a lossless RGBA mask);
the report keeps a picture at most :data:`REPORT_EDGE` pixels on its long side, encoded as
JPEG when it is opaque and as WebP (alpha kept) when it is not, and a gallery thumbnail at
most :data:`THUMB_EDGE` pixels. That is what keeps a pipeline's report of a few dozen photo
cases at a few megabytes (``benchmarks/report_size.py``). Pillow does the work; where it
cannot read the data, the original bytes are kept (and a thumbnail is the same
picture scaled by the browser).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
from dataclasses import dataclass

REPORT_EDGE = 640
"""Longest side, in pixels, of a picture in a test's report row."""
THUMB_EDGE = 144
"""Longest side, in pixels, of a gallery thumbnail."""
JPEG_QUALITY = 82
THUMB_QUALITY = 72


@dataclass(frozen=True)
class Picture:
    """Encoded picture bytes, their mime type and pixel size (0 when unknown)."""

    data: bytes
    mime: str
    width: int = 0
    height: int = 0

    @property
    def key(self) -> str:
        """A short content hash: the same picture gets the same key in every process."""
        return hashlib.sha256(self.data).hexdigest()[:16]


def _encode(image: object, edge: int, quality: int) -> Picture:
    from PIL import Image  # the optional extra 'images': imported where it is used

    assert isinstance(image, Image.Image)
    picture = image.copy()
    picture.thumbnail((edge, edge), Image.Resampling.LANCZOS)
    has_alpha = picture.mode in ("RGBA", "LA") or (
        picture.mode == "P" and "transparency" in picture.info
    )
    buffer = io.BytesIO()
    if has_alpha:
        picture = picture.convert("RGBA")
        picture.save(buffer, "WEBP", quality=quality, method=4)
        mime = "image/webp"
    else:
        picture = picture.convert("RGB")
        picture.save(buffer, "JPEG", quality=quality, optimize=True)
        mime = "image/jpeg"
    return Picture(buffer.getvalue(), mime, picture.width, picture.height)


def _open(data: bytes) -> object | None:
    from PIL import Image  # the optional extra 'images': imported where it is used

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:  # not a raster Pillow reads (SVG, a truncated file): keep it as is
        return None
    return image


@functools.cache
def _pillow() -> bool:
    """Whether Pillow (the optional extra 'images') is installed: without it pictures go to
    the report as they are (looked up once)."""
    return importlib.util.find_spec("PIL") is not None


def for_report(data: bytes, mime: str) -> tuple[Picture, Picture]:
    """``(picture, thumbnail)`` of ``data`` for the report; the originals when Pillow cannot
    read them. A picture already small and compact enough is kept byte for byte."""
    image = _open(data) if _pillow() else None
    if image is None:
        original = Picture(data, mime)
        return original, original
    from PIL import Image  # the optional extra 'images' (present: _pillow() said so)

    assert isinstance(image, Image.Image)
    size = image.size
    compact = mime in ("image/jpeg", "image/webp") and max(size) <= REPORT_EDGE
    shown = Picture(data, mime, *size) if compact else _encode(image, REPORT_EDGE, JPEG_QUALITY)
    return shown, _encode(image, THUMB_EDGE, THUMB_QUALITY)
