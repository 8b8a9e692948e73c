"""Safe image decoding: content sniffing, a pixel-count guard before decoding, decoding at
the working resolution, and encoding.

Memory is bounded by design. Only the header is read before the pixel guard; JPEGs are
decoded already reduced (libjpeg's DCT scaling, Pillow's ``draft``), and PNG/WebP, which
cannot be decoded reduced, are reduced (box filter, Pillow's ``reduce``) in their own compact
mode right after decoding, before any conversion to RGB(A) or to arrays. So a request's peak
is one decoded frame in its stored mode (at most 4 bytes a pixel, under the pixel limit) plus
arrays of the *output* size; `capacity.PEAK_BYTES_PER_PIXEL` is that figure.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

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
# EXIF orientation -> the transposition that makes the picture upright (2..8; others: none).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes Pillow's `reduce` works in without a full-size copy; the others are reduced band by
# band (1, P, I;16* need converting; RGBA and LA are premultiplied by `reduce` in a copy).
_REDUCIBLE = {"L", "RGB", "CMYK", "I", "F", "La", "RGBa", "YCbCr"}
_BAND_ROWS = 256  # rows converted at a time when a frame must change mode before reducing
WEBP_COST = 2  # a WebP pixel costs this many PNG pixels of memory to decode (see `_guard`)

# Pillow's own bomb check is a backstop; ours runs before decoding, with our limit.
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class Decoded:
    """A decoded upload at its working size: RGB pixels (alpha flattened on white), its
    alpha and its format."""

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


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down (never up) so the longer side is at most `max_side`."""
    if max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode(data: bytes, max_pixels: int, max_side: int | None = None) -> Decoded:
    """Decode an upload at most `max_side` pixels on its longer side (upright, EXIF applied).

    The declared Content-Type and the file name are ignored: only the bytes decide. Every
    failure, wherever Pillow raises it (header, decoder, mode conversion), is a client error:
    `ApiError` 400 (empty), 415 (not a supported or not a complete image) or 413 (pixel guard,
    checked from the header before any pixel is decoded).
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
        with Image.open(io.BytesIO(data)) as image:
            _guard(image, media_type, max_pixels)
            return _decode_reduced(image, data, media_type, max_side)
    except ApiError:
        raise
    except MemoryError:
        raise ApiError(
            413, "too_large", "the photo needs more memory to decode than a request may use"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the photo could not be decoded as {media_type} ({type(exc).__name__}): "
            "it is truncated or corrupt",
        ) from None
    except Exception as exc:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the photo could not be decoded as {media_type} ({type(exc).__name__})",
        ) from None


def _guard(image: Image.Image, media_type: str, max_pixels: int) -> None:
    """Refuse, from the header alone, too many pixels or a format other than the sniffed one.

    libwebp cannot decode reduced and needs two full-size RGBA buffers where a PNG needs
    one: WebP gets half the pixel limit, so both peak at the same memory.
    """
    width, height = image.size
    limit = max_pixels // WEBP_COST if image.format == "WEBP" else max_pixels
    if width * height > limit:
        kind = "a WebP photo" if image.format == "WEBP" else "a photo"
        raise ApiError(
            413,
            "too_large",
            f"the photo has {width}x{height} = {width * height} pixels; "
            f"the limit for {kind} is {limit}",
        )
    if ACCEPTED_FORMATS.get(image.format or "") != media_type:
        raise ApiError(415, "unsupported_media_type", "the photo's content is malformed")


def _decode_reduced(
    image: Image.Image, data: bytes, media_type: str, max_side: int | None
) -> Decoded:
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block does not make the picture unreadable
        orientation = 1
    transpose = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
    raw_w, raw_h = image.size
    swapped = transpose in (
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_270,
    )
    upright_w, upright_h = (raw_h, raw_w) if swapped else (raw_w, raw_h)
    target = working_size(upright_w, upright_h, max_side or max(upright_w, upright_h))
    raw_target = (target[1], target[0]) if swapped else target
    if image.format == "WEBP":
        frame = _webp_frame(data, raw_target)
    else:
        if image.format in ("JPEG", "MPO"):
            image.draft(None, raw_target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale
        image.load()
        frame = _reduce(image, raw_target)
    if transpose is not None:
        frame = frame.transpose(transpose)
    rgb, alpha = _to_arrays(frame)
    if (rgb.shape[1], rgb.shape[0]) != target:
        rgb = cv2.resize(rgb, target, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, target, interpolation=cv2.INTER_AREA)
    return Decoded(np.ascontiguousarray(rgb), alpha, media_type)


def _reduce(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """`image` reduced by the largest integer factor that keeps it at least `target`, in a
    mode `_to_arrays` understands.

    A frame whose mode needs converting first (palette, 1-bit, 16-bit) or that `reduce`
    copies (alpha) is converted and reduced band by band: no second full-size copy exists.
    """
    width, height = image.size
    factor = max(1, min(width // target[0], height // target[1]))
    if image.mode in _REDUCIBLE:
        return image.reduce(factor) if factor >= 2 else image
    if factor < 2:
        return _convert(image)
    band = factor * max(1, _BAND_ROWS // factor)
    first = _convert(image.crop((0, 0, width, min(height, band)))).reduce(factor)
    out = Image.new(first.mode, (-(-width // factor), -(-height // factor)))
    out.paste(first, (0, 0))
    for top in range(band, height, band):
        part = _convert(image.crop((0, top, width, min(height, top + band)))).reduce(factor)
        out.paste(part, (0, top // factor))
    return out


def _convert(image: Image.Image) -> Image.Image:
    """A frame in a mode `reduce` and `_to_arrays` work in (RGB, RGBA, L, LA)."""
    if image.mode in ("RGBA", "LA"):
        return image
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode.startswith("I;16"):
        return _sixteen_to_grey(image)
    return image.convert("L" if image.mode == "1" else "RGBA")


def _sixteen_to_grey(image: Image.Image) -> Image.Image:
    """A 16-bit grey frame as 8-bit grey (the high byte), without a 32-bit copy."""
    raw = np.asarray(image)
    high = (raw >> 8).astype(np.uint8) if raw.dtype.itemsize == 2 else raw.astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(high), "L")


def _webp_frame(data: bytes, target: tuple[int, int]) -> Image.Image:
    """The first frame of a WebP reduced to at least `target`, decoded by libwebp through
    OpenCV into one buffer (Pillow's animation decoder holds four full-size RGBA canvases)."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError("libwebp could not decode the image")
    height, width = pixels.shape[:2]
    factor = max(1, min(width // target[0], height // target[1]))
    if factor >= 2:
        size = (-(-width // factor), -(-height // factor))
        pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    if pixels.ndim == 2:
        return Image.fromarray(pixels, "L")
    if pixels.shape[2] == 4:
        return Image.fromarray(cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA), "RGBA")
    return Image.fromarray(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), "RGB")


def _to_arrays(image: Image.Image) -> tuple[Pixels, Pixels | None]:
    """(RGB, alpha or None) arrays of a working-size frame; alpha is flattened on white."""
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        arr = np.asarray(image.convert("RGBA"), dtype=np.uint8)
        alpha = np.ascontiguousarray(arr[:, :, 3])
        a = alpha[:, :, None].astype(np.float32) / 255.0
        rgb = (arr[:, :, :3].astype(np.float32) * a + 255.0 * (1.0 - a)).astype(np.uint8)
        return rgb, alpha
    if image.mode in ("I", "F"):
        grey = np.clip(np.asarray(image, dtype=np.float32) / 256.0, 0, 255).astype(np.uint8)
        image = Image.fromarray(grey, "L")
    converted = image if image.mode == "RGB" else image.convert("RGB")
    return np.asarray(converted, dtype=np.uint8), None


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
