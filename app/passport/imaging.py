"""Safe image decoding: content sniffing, a pixel-count guard before decoding, and encoding."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .arrays import Pixels
from .errors import ApiError

# Formats accepted, as Pillow names them after sniffing the bytes themselves.
# MPO is how Pillow names the multi-picture JPEGs many phone cameras write.
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}

_ORIENTATION = 0x0112  # EXIF tag

# Pillow's own bomb check is a backstop; ours runs before decoding, with our limit.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class Decoded:
    """A decoded upload: Pixels pixels (alpha flattened on white), its alpha and its format."""

    rgb: Pixels
    alpha: Pixels | None
    media_type: str


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are, from their magic numbers; None if unsupported."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def decode(data: bytes, max_pixels: int) -> Decoded:
    """Decode an upload, refusing what is not a supported image or is too many pixels.

    The declared Content-Type and the file name are ignored: only the bytes decide.
    Raises `ApiError` 415 (not a supported or not a complete image) or 413 (pixel guard).
    """
    if not data:
        raise ApiError(400, "missing_photo", "the photo field is empty")
    media_type = sniff(data)
    if media_type is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            "the photo is not a JPEG, PNG or WebP image (checked from its content)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ApiError(
                    413,
                    "too_large",
                    f"the photo has {width}x{height} = {width * height} pixels; "
                    f"the limit is {max_pixels}",
                )
            if ACCEPTED_FORMATS.get(image.format or "") != media_type:
                raise ApiError(415, "unsupported_media_type", "the photo's content is malformed")
            image.load()
            upright: Image.Image = image
            if image.getexif().get(_ORIENTATION, 1) != 1:  # transposing copies: only if needed
                upright = ImageOps.exif_transpose(image) or image
    except ApiError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the photo could not be decoded as {media_type} ({type(exc).__name__}): "
            "it is truncated or corrupt",
        ) from None
    except Exception:
        raise ApiError(
            415, "unsupported_media_type", f"the photo could not be decoded as {media_type}"
        ) from None
    return _to_arrays(upright, media_type)


def _to_arrays(image: Image.Image, media_type: str) -> Decoded:
    alpha: Pixels | None = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        arr = np.asarray(rgba, dtype=np.uint8)
        alpha = np.ascontiguousarray(arr[:, :, 3])
        a = alpha[:, :, None].astype(np.float32) / 255.0
        rgb = (arr[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a)).astype(np.uint8)
    else:
        if image.mode == "I;16" or image.mode == "I":
            image = image.point(lambda v: v / 256).convert("L")
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    return Decoded(np.ascontiguousarray(rgb), alpha, media_type)


def encode_jpeg(rgb: Pixels, quality: int = 92) -> bytes:
    """JPEG bytes of an RGB image."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return bytes(buf.tobytes())


def encode_png_rgba(rgb: Pixels, alpha: Pixels) -> bytes:
    """PNG bytes of an RGB image with an alpha channel."""
    bgra = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA)
    bgra[:, :, 3] = alpha
    ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a PNG")
    return bytes(buf.tobytes())
