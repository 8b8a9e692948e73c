"""Picture checks: synthetic pictures, and each photo rule broken alone on a correct photo."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from faulty_service import PHOTO_EDITS
from PIL import Image

from pytest_pipeline.postdeploy.images import (
    PHOTO_RULES,
    judge_photo,
    verify_background,
    verify_photo,
)

IMAGES = Path(__file__).resolve().parents[2] / "test_images"

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


# -- each photo rule judged on its own (good photos from the second implementation) --------

SPECS = {
    "us": US,
    "eu": {"width_px": 413, "height_px": 531, "head_ratio": [0.7, 0.8]},
}


@pytest.fixture(scope="module")
def good_photos() -> dict[str, bytes]:
    """``astronaut.jpg`` composed for us and eu by the second implementation (no HTTP)."""
    from altservice.service import Models, compose, one_face, read_picture

    models = Models()
    rgb, alpha = read_picture((IMAGES / "astronaut.jpg").read_bytes())
    box = one_face(models, rgb)
    mask = models.person(rgb)
    return {spec: compose(rgb, alpha, mask, box, spec)[0] for spec in SPECS}


def _edited(photo: bytes, edit: Callable[[Image.Image], Image.Image]) -> bytes:
    out = io.BytesIO()
    edit(Image.open(io.BytesIO(photo)).convert("RGB")).save(out, format="JPEG", quality=92)
    return out.getvalue()


@pytest.mark.parametrize("spec", SPECS)
def test_a_correct_photo_passes_every_rule(good_photos: dict[str, bytes], spec: str) -> None:
    verdict = judge_photo(good_photos[spec], SPECS[spec])
    assert set(verdict.rules) == set(PHOTO_RULES)
    assert verdict.problems == []


@pytest.mark.parametrize(
    ("mode", "spec", "rule"),
    [
        ("off-centre", "us", "centred"),
        ("small-head", "eu", "head_height"),
        ("grey-background", "us", "background"),
        ("grey-background", "eu", "background"),
        ("upside-down", "us", "one_face"),
        ("upside-down", "eu", "one_face"),
    ],
)
def test_each_fault_breaks_its_rule_alone(
    good_photos: dict[str, bytes], mode: str, spec: str, rule: str
) -> None:
    verdict = judge_photo(_edited(good_photos[spec], PHOTO_EDITS[mode]), SPECS[spec])
    broken = {name for name, problems in verdict.rules.items() if problems}
    assert broken == {rule}, verdict.problems
