"""Model integrity and backend selection: checksum, fallbacks, GrabCut, face detection."""

from __future__ import annotations

import hashlib
import shutil
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from PIL import Image

from .helpers import IMAGES, image_bytes, upload


def _rgb(name: str) -> np.ndarray[Any, Any]:
    with Image.open(IMAGES / name) as image:
        return np.asarray(image.convert("RGB"))


def test_committed_model_matches_its_checksum() -> None:
    from passport import segmentation

    path = segmentation.MODEL_PATH
    assert path.stat().st_size == 249_505
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
    assert segmentation.verify_model() == digest
    assert (path.parent / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    from passport import segmentation

    copy = tmp_path / "model.tflite"
    data = bytearray(segmentation.MODEL_PATH.read_bytes())
    data[1000] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(segmentation.ModelError, match="failed its checksum"):
        segmentation.MediapipeSegmenter(copy)
    with pytest.raises(segmentation.ModelError, match="is missing"):
        segmentation.verify_model(tmp_path / "absent.tflite")


def test_bad_model_makes_health_503_but_requests_still_served(
    aws: None,
    make_app: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from passport import segmentation

    broken = tmp_path / "selfie_segmentation.tflite"
    shutil.copy(segmentation.MODEL_PATH, broken)
    with broken.open("ab") as handle:
        handle.write(b"\0")
    monkeypatch.setattr(segmentation, "MODEL_PATH", broken)
    client = make_app().test_client()
    health = client.get("/health")
    assert health.status_code == 503
    models = health.get_json()["checks"]["models"]
    assert models["status"] == "fail" and models["backend"] == "grabcut"
    assert "checksum" in models["error"]
    photo = upload(client, image_bytes("astronaut.jpg"))
    assert photo.status_code == 200 and photo.get_json()["segmentation"] == "grabcut"


def test_rembg_missing_falls_back_to_grabcut_and_says_so(
    aws: None, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rembg", None)  # import fails even if installed
    client = make_app(segmentation_backend="rembg").test_client()
    body = client.get("/health").get_json()
    models = body["checks"]["models"]
    assert models["requested"] == "rembg" and models["backend"] == "grabcut"
    assert models["fallback"] is True and "rembg" in models["error"]
    assert models["status"] == "ok"  # an optional backend: configured fallback, not an outage


def test_rembg_selected_when_installed_with_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from passport import segmentation

    fake = types.ModuleType("rembg")
    calls: list[str] = []

    def new_session(model: str) -> str:
        calls.append(model)
        return "session"

    def remove(image: Image.Image, session: str, only_mask: bool) -> Image.Image:
        assert only_mask and session == "session"
        return Image.new("L", image.size, 255)

    fake.new_session = new_session  # type: ignore[attr-defined]
    fake.remove = remove  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rembg", fake)
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    (tmp_path / "u2net.onnx").write_bytes(b"model")
    choice = segmentation.build_segmenter("rembg")
    assert choice.status["backend"] == "rembg" and choice.healthy and calls == ["u2net"]
    mask = choice.segmenter.mask(np.zeros((10, 12, 3), np.uint8), None)
    assert mask.shape == (10, 12) and float(mask.min()) == 1.0


def test_grabcut_backend_separates_person(aws: None, make_app: Callable[..., Flask]) -> None:
    from passport.faces import FaceDetector
    from passport.segmentation import GrabCutSegmenter, build_segmenter, upsample

    choice = build_segmenter("grabcut")
    assert choice.status["backend"] == "grabcut" and choice.healthy
    rgb = _rgb("astronaut.jpg")
    (face,) = FaceDetector().detect(rgb)
    mask = upsample(GrabCutSegmenter().mask(rgb, face), rgb.shape)
    assert mask.shape == rgb.shape[:2]
    cx, cy = face.x + face.w // 2, face.y + face.h // 2
    assert mask[cy - 10 : cy + 10, cx - 10 : cx + 10].min() > 0.9  # the face is person
    assert mask[:30, -80:].mean() < 0.1  # studio background, top right
    client = make_app(segmentation_backend="grabcut").test_client()
    assert client.get("/health").get_json()["checks"]["models"]["backend"] == "grabcut"
    response = upload(client, image_bytes("astronaut.jpg"), path="/api/v1/background")
    assert response.status_code == 200


def test_grabcut_without_face_and_on_flat_images() -> None:
    from passport.segmentation import GrabCutSegmenter

    flat = np.full((40, 60, 3), 128, np.uint8)
    mask = GrabCutSegmenter().mask(flat, None)
    assert mask.shape == (40, 60) and np.isfinite(mask).all()  # small inputs keep their size
    tiny = GrabCutSegmenter().mask(np.zeros((3, 3, 3), np.uint8), None)
    assert tiny.shape == (3, 3)


def test_mediapipe_mask_marks_person_and_background() -> None:
    from passport.faces import FaceDetector
    from passport.segmentation import WORK_SIDE, MediapipeSegmenter, upsample

    rgb = _rgb("astronaut.jpg")
    (face,) = FaceDetector().detect(rgb)
    small = MediapipeSegmenter().mask(rgb, face)
    assert small.dtype == np.float32 and small.shape == (WORK_SIDE, WORK_SIDE)
    mask = upsample(small, rgb.shape)
    assert mask[face.y + face.h // 2, face.x + face.w // 2] > 0.95
    assert mask[:40, -60:].max() < 0.1


def test_face_detector_boxes_and_rules() -> None:
    from passport.faces import FaceDetector

    detector = FaceDetector()
    (face,) = detector.detect(_rgb("astronaut.jpg"))
    assert 150 < face.x < 200 and 40 < face.y < 90 and 80 < face.w < 130
    assert face.box == [face.x, face.y, face.w, face.h] and 0.5 < face.confidence <= 1
    assert len(detector.detect(_rgb("two_faces.jpg"))) == 2
    assert detector.detect(_rgb("coffee.jpg")) == []
    assert detector.detect(np.zeros((5, 5, 3), np.uint8)) == []
    gray = np.asarray(Image.open(IMAGES / "astronaut_gray.jpg"))
    assert gray.ndim == 2 and len(detector.detect(gray)) == 1


def test_settings_from_environment() -> None:
    from passport.config import ConfigError, Settings

    settings = Settings.from_env(
        {
            "TABLE_NAME": "t",
            "ALLOWED_ORIGINS": "https://a.example, https://b.example,",
            "MAX_UPLOAD_MB": "2.5",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "SEGMENTATION_BACKEND": "GrabCut",
            "EMAIL_CHECK_DELIVERABILITY": "yes",
        }
    )
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.max_upload_bytes == int(2.5 * 1024 * 1024)
    assert settings.region == "eu-west-1" and settings.segmentation_backend == "grabcut"
    assert settings.check_deliverability is True and settings.app_version == "dev"
    defaults = Settings.from_env({})
    assert defaults.max_upload_mb == 10 and not defaults.check_deliverability
    assert Settings.from_env({"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "x"}).region == (
        "ap-south-1"
    )
    for env, message in [
        ({"MAX_UPLOAD_MB": "ten"}, "MAX_UPLOAD_MB"),
        ({"MAX_UPLOAD_MB": "-1"}, "MAX_UPLOAD_MB"),
        ({"SEGMENTATION_BACKEND": "magic"}, "SEGMENTATION_BACKEND"),
        ({"EMAIL_CHECK_DELIVERABILITY": "maybe"}, "EMAIL_CHECK_DELIVERABILITY"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Settings.from_env(env)
    with pytest.raises(ConfigError, match="unknown settings"):
        defaults.with_overrides({"colour": "red"})


def test_secret_read_at_start_and_never_logged(
    aws: None, make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    from .helpers import aws_client

    arn = aws_client("secretsmanager").create_secret(
        Name="passport/app-key", SecretString="s3cr3t-value-123"
    )["ARN"]
    app = make_app(app_secret_arn=arn)
    assert app.config["SECRET_KEY"] == "s3cr3t-value-123"
    missing = make_app(app_secret_arn=arn + "-gone")
    assert missing.config["SECRET_KEY"] != "s3cr3t-value-123"
    assert "s3cr3t-value-123" not in capsys.readouterr().out
