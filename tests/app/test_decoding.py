"""Decoding at the working size (app/passport/imaging.py) against Pillow's own full-size
decode as the reference: same picture, upright, whatever the format, mode and EXIF tag."""

from __future__ import annotations

import io

import numpy as np
import pytest
from passport.errors import ApiError
from passport.imaging import decode
from PIL import Image, ImageOps

from pytest_pipeline.postdeploy.hostile import ImageCase, image_bytes

LIMIT = 40_000_000


def _pattern(width: int, height: int) -> Image.Image:
    """An asymmetric picture: a gradient with a dark block near the top-left corner."""
    grad = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    rgb = np.stack([grad, grad[:, ::-1], np.full_like(grad, 128)], axis=2).astype(np.uint8)
    rgb[: height // 4, : width // 5] = 0
    return Image.fromarray(rgb, "RGB")


def _reference(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """Pillow's full-size decode, EXIF-transposed, flattened on white, resized (box)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode.startswith("I;16"):  # Pillow clips 16-bit to 255: scale by hand
            image = Image.fromarray((np.asarray(image) >> 8).astype(np.uint8), "L")
        upright = ImageOps.exif_transpose(image).convert("RGBA")
    white = Image.new("RGBA", upright.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, upright).convert("RGB")
    return np.asarray(flat.resize(size, Image.Resampling.BOX), dtype=np.float32)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_reduced_decode_matches_pillow_upright(fmt: str, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    _pattern(1200, 700).save(
        buf, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt != "PNG" else {})
    )
    decoded = decode(buf.getvalue(), LIMIT, max_side=300)
    height, width = decoded.rgb.shape[:2]
    assert max(width, height) == 300
    assert (width > height) == (orientation < 5), "width and height not swapped by the tag"
    reference = _reference(buf.getvalue(), (width, height))
    assert np.abs(decoded.rgb.astype(np.float32) - reference).mean() < 6


@pytest.mark.parametrize("mode", ["1", "L", "P", "P+tRNS", "LA", "RGB", "RGBA", "I;16"])
def test_every_png_mode_decodes_like_pillow(mode: str) -> None:
    data = image_bytes(ImageCase("PNG", mode, 900, 500, seed=1))
    decoded = decode(data, LIMIT, max_side=200)
    assert decoded.rgb.shape == (111, 200, 3) and decoded.rgb.dtype == np.uint8
    assert (decoded.alpha is not None) == (mode in ("P+tRNS", "LA", "RGBA"))
    reference = _reference(data, (200, 111))
    tolerance = 40 if mode == "1" else 6  # 1-bit dithering averages differently
    assert np.abs(decoded.rgb.astype(np.float32) - reference).mean() < tolerance


def test_cmyk_jpeg_decodes() -> None:
    data = image_bytes(ImageCase("JPEG", "CMYK", 64, 48))
    assert decode(data, LIMIT).rgb.shape == (48, 64, 3)


def test_palette_with_300_transparency_entries_is_415_not_a_crash() -> None:
    data = image_bytes(ImageCase("PNG", "P+tRNS>256", 48, 48))
    with pytest.raises(ApiError) as caught:
        decode(data, LIMIT)
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_is_415(fmt: str, cut: float) -> None:
    data = image_bytes(ImageCase(fmt, "RGB", 300, 200, truncate=cut))
    with pytest.raises(ApiError) as caught:
        decode(data, LIMIT)
    assert caught.value.status == 415


def test_webp_gets_half_the_pixel_limit_from_its_header() -> None:
    png = image_bytes(ImageCase("PNG", "RGB", 100, 100))
    webp = image_bytes(ImageCase("WEBP", "RGB", 100, 100))
    assert decode(png, 15_000).rgb.shape == (100, 100, 3)
    with pytest.raises(ApiError) as caught:
        decode(webp, 15_000)
    assert caught.value.status == 413 and "limit for a WebP photo is 7500" in caught.value.message


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_decodes_its_first_frame(fmt: str) -> None:
    data = image_bytes(ImageCase(fmt, "RGB", 300, 200, frames=3))
    decoded = decode(data, LIMIT, max_side=150)
    assert decoded.rgb.shape == (100, 150, 3)
    with Image.open(io.BytesIO(data)) as image:
        assert getattr(image, "n_frames", 1) == 3
        first = np.asarray(image.convert("RGB").resize((150, 100), Image.Resampling.BOX))
    assert np.abs(decoded.rgb.astype(np.float32) - first).mean() < 6
