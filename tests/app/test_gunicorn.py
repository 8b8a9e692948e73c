"""The bundle's Procfile command serves the app under gunicorn on loopback, against moto."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from .helpers import REGION, TABLE, image_bytes
from .serving import serve_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(
    moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """gunicorn started from the Procfile in app/ (one worker, 1 MB uploads)."""
    log = tmp_path_factory.mktemp("gunicorn") / "out.log"
    settings = {
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "ALLOWED_ORIGINS": "https://app.example",
        "MAX_UPLOAD_MB": "1",
        "APP_VERSION": "v-gunicorn",
    }
    with serve_app(moto_endpoint, log, **settings) as app:
        yield {"base": app.base, "log": log, "health": app.health, "endpoint": moto_endpoint}


def test_health_under_gunicorn(served: dict[str, Any]) -> None:
    body = served["health"].json()
    assert body["status"] == "ok" and body["version"] == "v-gunicorn"
    assert body["checks"]["dynamodb"]["status"] == "ok"
    assert body["checks"]["s3"]["status"] == "ok"
    assert body["checks"]["models"]["backend"] == "mediapipe"


def test_photo_and_email_over_http(served: dict[str, Any]) -> None:
    base = served["base"]
    photo = requests.post(
        f"{base}/api/v1/photos",
        files={"photo": ("a.jpg", image_bytes("astronaut.jpg"), "image/jpeg")},
        data={"spec": "eu"},
        timeout=60,
    )
    assert photo.status_code == 200 and photo.json()["width"] == 413
    email = requests.post(
        f"{base}/api/v1/emails/validate", json={"email": "Grace@Example.org"}, timeout=30
    )
    assert email.json() == {"email": "Grace@example.org", "valid": True, "reason": None}
    items = (
        boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        .client("dynamodb", endpoint_url=served["endpoint"])
        .scan(TableName=TABLE)["Items"]
    )
    assert any(item["email"]["S"] == "Grace@example.org" for item in items)


def test_oversized_upload_gets_json_413(served: dict[str, Any]) -> None:
    blob = os.urandom(3 * 1024 * 1024)
    response = requests.post(
        f"{served['base']}/api/v1/photos",
        files={"photo": ("big.jpg", blob, "image/jpeg")},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_access_log_is_json(served: dict[str, Any]) -> None:
    requests.get(f"{served['base']}/api/v1/specs", headers={"X-Request-ID": "log-me"}, timeout=10)
    time.sleep(0.5)
    lines = served["log"].read_text().splitlines()
    access = [json.loads(line) for line in lines if line.startswith("{") and '"access"' in line]
    mine = [entry for entry in access if entry["request_id"] == "log-me"]
    assert mine and mine[0]["status"] == "200" and mine[0]["path"] == "/api/v1/specs"
    server = [json.loads(line) for line in lines if '"logger": "gunicorn.error"' in line]
    assert any("Booting worker" in entry["message"] for entry in server)
    assert all(line.startswith("{") for line in lines if line.strip()), "a non-JSON log line"


def test_every_contract_row_over_http(served: dict[str, Any]) -> None:
    base = served["base"]

    def post_photo(path: str, name: str, **data: str) -> requests.Response:
        files = {"photo": (name, image_bytes(name), "image/jpeg")}
        return requests.post(f"{base}{path}", files=files, data=data, timeout=60)

    def code(response: requests.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]["code"]

    specs = requests.get(f"{base}/api/v1/specs", timeout=10).json()
    assert {"us", "eu"} <= set(specs)
    background = post_photo("/api/v1/background", "astronaut.jpg")
    assert background.status_code == 200
    assert background.headers["Content-Type"] == "image/png"
    assert code(post_photo("/api/v1/photos", "astronaut.jpg", spec="mars")) == (
        400,
        "unknown_spec",
    )
    assert code(requests.post(f"{base}/api/v1/photos", timeout=10)) == (400, "missing_photo")
    assert code(post_photo("/api/v1/photos", "not_an_image.jpg")) == (
        415,
        "unsupported_media_type",
    )
    assert code(post_photo("/api/v1/photos", "two_faces.jpg")) == (422, "multiple_faces")
    bad_json = requests.post(
        f"{base}/api/v1/emails/validate",
        data="{",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert code(bad_json) == (400, "invalid_json")
    assert code(requests.get(f"{base}/nope", timeout=10)) == (404, "not_found")
    assert code(requests.put(f"{base}/api/v1/specs", timeout=10)) == (405, "method_not_allowed")
    preflight = requests.options(
        f"{base}/api/v1/photos",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
