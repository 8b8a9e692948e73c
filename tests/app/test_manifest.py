"""Every sample photo gets the answer its manifest entry promises; the loader's validation."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from pytest_pipeline.postdeploy.manifest import ImageCase, ManifestError, load_manifest

from .helpers import IMAGES, decode, upload

MANIFEST = IMAGES / "manifest.toml"
CASES = load_manifest(MANIFEST)
PHOTO_PARAMS = [
    pytest.param(case, spec, id=f"{case.file}-{spec}") for case in CASES for spec in case.specs
]


@pytest.mark.parametrize(("case", "spec"), PHOTO_PARAMS)
def test_photo_answer_matches_manifest(
    shared_client: FlaskClient, case: ImageCase, spec: str
) -> None:
    response = upload(
        shared_client, case.read(), spec=spec, name=case.file, media_type=case.media_type
    )
    body = response.get_json()
    assert response.status_code == case.status, body
    if case.status == 200:
        assert body["spec"] == spec
        fmt, _mode, pixels = decode(base64.b64decode(body["image"]))
        assert fmt == "JPEG" and pixels.shape[:2] == (body["height"], body["width"])
    else:
        assert body["error"]["code"] == case.error


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_background_answer_matches_manifest(shared_client: FlaskClient, case: ImageCase) -> None:
    response = upload(
        shared_client,
        case.read(),
        path="/api/v1/background",
        name=case.file,
        media_type=case.media_type,
    )
    assert (response.status_code == 200) is case.background, response.get_data()[:200]
    if case.background:
        fmt, mode, _pixels = decode(response.data)
        assert (fmt, mode) == ("PNG", "RGBA")


def test_manifest_covers_the_issue() -> None:
    errors = {case.error for case in CASES}
    assert {"no_face", "multiple_faces", "face_too_small", "too_large"} <= errors
    assert "unsupported_media_type" in errors
    assert sum(case.status == 200 for case in CASES) >= 5
    assert len(CASES) >= 12
    assert all(case.licence and case.source for case in CASES)


def test_huge_sample_is_small_on_disk() -> None:
    huge = next(case for case in CASES if case.file == "huge.png")
    assert huge.path.stat().st_size < 1_000_000  # trips the pixel guard, not the body limit


def _write(tmp_path: Path, body: str, files: tuple[str, ...] = ("a.jpg",)) -> Path:
    for name in files:
        (tmp_path / name).write_bytes(b"x")
    path = tmp_path / "manifest.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


GOOD = """
[[images]]
file = "a.jpg"
media_type = "image/jpeg"
status = 200
error = ""
faces = 1
specs = ["us", "eu"]
background = true
source = "s"
licence = "CC0-1.0"
description = "d"
"""


def test_load_valid(tmp_path: Path) -> None:
    (case,) = load_manifest(_write(tmp_path, GOOD))
    assert case.path == tmp_path / "a.jpg" and case.specs == ("us", "eu")
    assert case.derived_from is None and case.ok


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace('licence = "CC0-1.0"\n', ""), "missing key 'licence'"),
        (lambda s: s + 'colour = "red"\n', "unknown key 'colour'"),
        (lambda s: s.replace('"a.jpg"', '"b.jpg"'), "b.jpg does not exist"),
        (lambda s: s.replace("status = 200", 'status = "200"'), "'status' must be of type int"),
        (lambda s: s.replace("status = 200", "status = true"), "'status' must be of type int"),
        (lambda s: s.replace('error = ""', 'error = "no_face"'), 'error = ""'),
        (lambda s: s.replace('["us", "eu"]', '["us"]'), "at least specs"),
        (lambda s: s.replace('"a.jpg"', '"../a.jpg"'), "must be a path inside"),
    ],
)
def test_load_rejects(tmp_path: Path, edit: object, message: str) -> None:
    body = edit(GOOD)  # type: ignore[operator]
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(tmp_path, body))
    assert message in str(info.value)
    assert "[[images]] #1" in str(info.value)


def test_load_names_every_bad_entry(tmp_path: Path) -> None:
    body = GOOD + GOOD.replace("faces = 1", "faces = -1") + GOOD.replace("faces = 1\n", "")
    with pytest.raises(ManifestError) as info:
        load_manifest(_write(tmp_path, body))
    text = str(info.value)
    assert "#2 (a.jpg): 'faces' cannot be negative" in text
    assert "#3 (a.jpg): missing key 'faces'" in text
    assert "duplicate file name" in text


def test_load_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"make_images\.py"):
        load_manifest(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[images]\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="not valid TOML"):
        load_manifest(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"no \[\[images\]\] tables"):
        load_manifest(empty)


@pytest.mark.slow
def test_committed_set_is_what_the_script_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("make_images", IMAGES / "make_images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_images", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    module.main(tmp_path)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted([*(case.file for case in CASES), "manifest.toml"])
    for name in made:
        assert (tmp_path / name).read_bytes() == (IMAGES / name).read_bytes(), (
            f"{name} differs from a fresh run of make_images.py: regenerate and commit"
        )
