"""The HTTP contract (DESIGN.md section 5), endpoint by endpoint, on the Flask test client."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from .helpers import TABLE, aws_client, decode, image_bytes, upload


def assert_error(response: Any, status: int, code: str) -> None:
    """The response is the contract's error shape with this status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.get_data(as_text=True)


# ---- /health ---------------------------------------------------------------------------


def test_health_ok_names_backend_and_dependencies(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["version"] == "dev"
    assert {"dynamodb", "s3", "models"} <= set(body["checks"])
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["models"]["backend"] == "mediapipe"
    assert body["checks"]["dynamodb"]["table"] == TABLE


def test_health_503_when_table_missing(aws: None, make_app: Callable[..., Flask]) -> None:
    aws_client("dynamodb").delete_table(TableName=TABLE)
    response = make_app().test_client().get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "fail"
    assert body["checks"]["dynamodb"]["status"] == "fail"
    assert "ResourceNotFound" in body["checks"]["dynamodb"]["error"]
    assert body["checks"]["s3"]["status"] == "ok"


def test_health_503_when_bucket_missing(aws: None, make_app: Callable[..., Flask]) -> None:
    response = make_app(bucket_name="no-such-bucket-here").test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["checks"]["s3"]["status"] == "fail"


def test_health_503_when_not_configured(aws: None, make_app: Callable[..., Flask]) -> None:
    response = make_app(table_name="", bucket_name="").test_client().get("/health")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert "TABLE_NAME" in checks["dynamodb"]["error"]
    assert "BUCKET_NAME" in checks["s3"]["error"]


def test_health_caches_probes(aws: None, make_app: Callable[..., Flask]) -> None:
    client = make_app(health_cache_seconds=60.0).test_client()
    first = client.get("/health").get_json()
    aws_client("dynamodb").delete_table(TableName=TABLE)
    second = client.get("/health")
    assert first["cached"] is False
    assert second.status_code == 200 and second.get_json()["cached"] is True


def test_version_from_environment(
    aws: None, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_VERSION", "v-123")
    assert make_app().test_client().get("/health").get_json()["version"] == "v-123"


# ---- /api/v1/specs ---------------------------------------------------------------------


def test_specs(client: FlaskClient) -> None:
    body = client.get("/api/v1/specs").get_json()
    assert body["us"]["width_px"] == 600 and body["us"]["height_px"] == 600
    assert body["eu"]["width_px"] == 413 and body["eu"]["height_px"] == 531
    for spec in body.values():
        low, high = spec["head_ratio"]
        assert 0 < low < high < 1
        assert spec["background"] == "#ffffff"


# ---- /api/v1/photos --------------------------------------------------------------------


@pytest.mark.parametrize("spec_id", ["us", "eu"])
def test_photo_success(client: FlaskClient, spec_id: str) -> None:
    response = upload(client, image_bytes("astronaut.jpg"), spec=spec_id)
    assert response.status_code == 200
    body = response.get_json()
    spec = client.get("/api/v1/specs").get_json()[spec_id]
    assert (body["spec"], body["width"], body["height"]) == (
        spec_id,
        spec["width_px"],
        spec["height_px"],
    )
    fmt, _mode, pixels = decode(base64.b64decode(body["image"]))
    assert fmt == "JPEG" and pixels.shape[:2] == (spec["height_px"], spec["width_px"])
    x, y, w, h = body["face"]["box"]
    assert abs(x + w / 2 - spec["width_px"] / 2) <= 0.05 * spec["width_px"]
    assert 0.3 * spec["height_px"] <= y + h / 2 <= 0.7 * spec["height_px"]
    assert 0.5 < body["face"]["confidence"] <= 1
    checks = body["checks"]
    for name in ("sharpness", "brightness", "centering", "head_ratio", "background_uniformity"):
        assert isinstance(checks[name]["value"], float) and isinstance(checks[name]["ok"], bool)
    low, high = spec["head_ratio"]
    assert low <= checks["head_ratio"]["value"] <= high
    # White background: the top corners of the composed photo.
    corners = np.concatenate([pixels[:20, :20].reshape(-1, 3), pixels[:20, -20:].reshape(-1, 3)])
    assert corners.min() >= 240


def test_photo_default_spec_is_us(client: FlaskClient) -> None:
    body = upload(client, image_bytes("astronaut.jpg")).get_json()
    assert (body["spec"], body["width"], body["height"]) == ("us", 600, 600)


def test_missing_photo(client: FlaskClient) -> None:
    assert_error(client.post("/api/v1/photos", data={"spec": "us"}), 400, "missing_photo")
    assert_error(client.post("/api/v1/photos"), 400, "missing_photo")


def test_unknown_spec(client: FlaskClient) -> None:
    assert_error(upload(client, image_bytes("astronaut.jpg"), spec="mars"), 400, "unknown_spec")


def test_upload_limit_is_413_json(aws: None, make_app: Callable[..., Flask]) -> None:
    client = make_app(max_upload_mb=0.05).test_client()
    response = upload(client, image_bytes("astronaut_alpha.png"), media_type="image/png")
    assert_error(response, 413, "too_large")


def test_pixel_guard_before_decoding(client: FlaskClient) -> None:
    response = upload(client, image_bytes("huge.png"), media_type="image/png")
    assert_error(response, 413, "too_large")
    assert "144000000 pixels" in response.get_json()["error"]["message"]


def test_content_sniffing_ignores_declared_type(client: FlaskClient) -> None:
    text = b"GIF89a but really just text"
    assert_error(upload(client, text, media_type="image/gif"), 415, "unsupported_media_type")
    png_as_jpeg = upload(client, image_bytes("astronaut_png_named_jpg.jpg"), name="x.jpg")
    assert png_as_jpeg.status_code == 200


@pytest.mark.parametrize(
    ("file", "code"),
    [
        ("coffee.jpg", "no_face"),
        ("two_faces.jpg", "multiple_faces"),
        ("small_face.jpg", "face_too_small"),
    ],
)
def test_face_rules(client: FlaskClient, file: str, code: str) -> None:
    assert_error(upload(client, image_bytes(file)), 422, code)


# ---- /api/v1/background ----------------------------------------------------------------


def test_background_rgba_same_size(client: FlaskClient) -> None:
    response = upload(client, image_bytes("astronaut.jpg"), path="/api/v1/background")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    fmt, mode, pixels = decode(response.data)
    assert (fmt, mode, pixels.shape) == ("PNG", "RGBA", (512, 512, 4))
    alpha = pixels[:, :, 3]
    assert alpha[:40, -60:].max() <= 32  # studio background top right: transparent
    assert alpha[90:150, 190:250].min() >= 224  # the face (source box ~171,64,105,105)


def test_background_errors(client: FlaskClient) -> None:
    assert_error(client.post("/api/v1/background"), 400, "missing_photo")
    response = upload(client, image_bytes("not_an_image.jpg"), path="/api/v1/background")
    assert_error(response, 415, "unsupported_media_type")


# ---- /api/v1/emails/validate -----------------------------------------------------------


def _items() -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws_client("dynamodb").scan(TableName=TABLE)["Items"]
    return items


def test_email_valid_normalised_and_stored(client: FlaskClient) -> None:
    response = client.post("/api/v1/emails/validate", json={"email": "  Ada@Example.COM "})
    assert response.status_code == 200
    assert response.get_json() == {"email": "Ada@example.com", "valid": True, "reason": None}
    (item,) = _items()
    assert item["email"]["S"] == "Ada@example.com"
    assert item["valid"]["BOOL"] is True
    assert item["domain"]["S"] == "example.com"
    assert item["pk"]["S"].startswith("EMAIL#") and int(item["expires_at"]["N"]) > 0


def test_email_invalid_has_reason_and_is_stored(client: FlaskClient) -> None:
    body = client.post("/api/v1/emails/validate", json={"email": "not-an-address"}).get_json()
    assert body["valid"] is False and body["email"] == "not-an-address"
    assert isinstance(body["reason"], str) and body["reason"]
    (item,) = _items()
    assert item["valid"]["BOOL"] is False and item["reason"]["S"] == body["reason"]


def _count_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import email_validator.deliverability as deliverability

    calls: list[str] = []

    def fake(domain: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(domain)
        return {}

    monkeypatch.setattr(deliverability, "validate_email_deliverability", fake)
    return calls


def test_email_no_dns_lookup_by_default(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_dns(monkeypatch)
    body = client.post("/api/v1/emails/validate", json={"email": "user@example.org"})
    assert body.get_json()["valid"] is True
    assert calls == []


def test_email_deliverability_when_configured(
    aws: None, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_dns(monkeypatch)
    client = make_app(check_deliverability=True).test_client()
    client.post("/api/v1/emails/validate", json={"email": "user@example.org"})
    assert calls == ["example.org"]


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        ("not json", "application/json", "invalid_json"),
        ("", "application/json", "invalid_json"),
        ("[1, 2]", "application/json", "invalid_json"),
        ('"a@b.org"', "application/json", "invalid_json"),
        ("{}", "application/json", "missing_email"),
        ('{"email": ""}', "application/json", "missing_email"),
        ('{"email": 42}', "application/json", "missing_email"),
        ('{"email": null}', "application/json", "missing_email"),
    ],
)
def test_email_errors(client: FlaskClient, body: str, content_type: str, code: str) -> None:
    response = client.post("/api/v1/emails/validate", data=body, content_type=content_type)
    assert_error(response, 400, code)


def test_email_storage_down_is_503_not_crash(aws: None, make_app: Callable[..., Flask]) -> None:
    client = make_app(table_name="missing-table").test_client()
    response = client.post("/api/v1/emails/validate", json={"email": "a@b.org"})
    assert_error(response, 503, "storage_unavailable")


# ---- everything else -------------------------------------------------------------------


def test_not_found(client: FlaskClient) -> None:
    assert_error(client.get("/no/such/path"), 404, "not_found")
    assert_error(client.get("/api/v1/specs/us/extra"), 404, "not_found")


def test_method_not_allowed(client: FlaskClient) -> None:
    response = client.get("/api/v1/photos")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert_error(client.delete("/health"), 405, "method_not_allowed")


def test_unexpected_error_is_json_500_without_trace(
    client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = app.extensions["passport.pipeline"]

    def boom(data: bytes, spec_id: str) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(pipeline, "photo", boom)
    response = upload(client, image_bytes("astronaut.jpg"))
    assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.get_data(as_text=True)


def test_security_headers_and_request_id(client: FlaskClient) -> None:
    response = client.get("/api/v1/specs", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(generated.headers["X-Request-ID"]) == 32


def test_request_logs_are_json_with_request_id(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    upload(client, image_bytes("astronaut.jpg"), spec="us")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    composed = [line for line in lines if line["message"] == "photo composed"]
    assert composed and len(composed[0]["request_id"]) == 32


# ---- CORS ------------------------------------------------------------------------------


def _preflight(client: FlaskClient, origin: str) -> Any:
    return client.options(
        "/api/v1/photos",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )


def test_cors_allowed_origin(client: FlaskClient) -> None:
    response = _preflight(client, "https://app.example")
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_cors_other_origin_gets_nothing(client: FlaskClient) -> None:
    response = _preflight(client, "https://evil.example")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_off_without_allowed_origins(aws: None, make_app: Callable[..., Flask]) -> None:
    response = _preflight(make_app().test_client(), "https://app.example")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_wildcard_never_with_credentials(aws: None, make_app: Callable[..., Flask]) -> None:
    client = make_app(allowed_origins=("*",)).test_client()
    response = _preflight(client, "https://any.example")
    assert response.headers.get("Access-Control-Allow-Origin") == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_phone_multi_picture_jpeg_is_a_jpeg(client: FlaskClient) -> None:
    from PIL import Image

    frames = [Image.open(io.BytesIO(image_bytes("astronaut.jpg"))).convert("RGB")] * 2
    buffer = io.BytesIO()
    frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    assert upload(client, buffer.getvalue()).status_code == 200
