"""Picture checks on synthetic pictures (the real ones are judged in the end-to-end tests)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from pytest_pipeline.checks.images import verify_background, verify_photo

US = {"width_px": 600, "height_px": 600, "head_ratio": [0.5, 0.69]}


def _jpeg(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="JPEG")
    return out.getvalue()


def test_blank_white_photo_has_no_face() -> None:
    problems = verify_photo(_jpeg(600, 600, (255, 255, 255)), US)
    assert problems == [
        "expected exactly one face in the output photo, the suite's detector (BlazeFace) found 0 []"
    ]


def test_wrong_size_and_missing_face_are_named() -> None:
    problems = verify_photo(_jpeg(560, 600, (150, 150, 150)), US)
    assert "output photo is 560x600 px, the spec says 600x600" in problems
    assert any(p.startswith("expected exactly one face in the output photo") for p in problems)


def test_background_must_be_rgba_png() -> None:
    problems = verify_background(_jpeg(100, 100, (0, 0, 0)))
    assert "background output must be a PNG, got JPEG" in problems
    assert "background output must be RGBA, got mode RGB" in problems


def test_opaque_border_is_not_removed_background() -> None:
    out = io.BytesIO()
    Image.fromarray(np.full((100, 100, 4), 255, dtype=np.uint8), "RGBA").save(out, format="PNG")
    problems = verify_background(out.getvalue())
    assert problems[0].startswith("background not removed: only 0% of the border is transparent")


def test_not_a_picture() -> None:
    assert verify_photo(b"hello", US)[0].startswith("output photo: not a picture Pillow can read")
