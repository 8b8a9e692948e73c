"""Fixtures for the reference backend's tests: the app on moto's in-process AWS mock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws

from .helpers import BUCKET, REGION, TABLE, create_resources
from .serving import free_port

_CLEARED = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "TABLE_NAME",
    "BUCKET_NAME",
    "ALLOWED_ORIGINS",
    "MAX_UPLOAD_MB",
    "APP_SECRET_ARN",
    "SEGMENTATION_BACKEND",
    "EMAIL_CHECK_DELIVERABILITY",
)


def _isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region; no endpoint or app settings leak in from outside."""
    _isolate(monkeypatch)


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    """moto's in-process AWS with the table and bucket the app is configured for."""
    with mock_aws():
        create_resources()
        yield


@pytest.fixture
def make_app(aws_env: None) -> Callable[..., Flask]:
    """Factory: `make_app(**settings)` builds the app with the test table and bucket."""
    from passport import create_app

    def make(**overrides: Any) -> Flask:
        settings: dict[str, Any] = {
            "table_name": TABLE,
            "bucket_name": BUCKET,
            "health_cache_seconds": 0.0,
        }
        settings.update(overrides)
        app: Flask = create_app(settings)
        app.testing = False  # errors must go through the handlers, as in production
        return app

    return make


@pytest.fixture
def app(aws: None, make_app: Callable[..., Flask]) -> Flask:
    """The app with healthy dependencies and CORS for https://app.example."""
    return make_app(allowed_origins=("https://app.example",))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask test client of `app`."""
    return app.test_client()


@pytest.fixture(scope="module")
def shared_client() -> Iterator[FlaskClient]:
    """One app on one moto mock for a whole module (read-mostly tests: manifest, properties)."""
    from passport import create_app

    # monkeypatch inside the mock: it undoes its changes first, then moto restores the
    # environment it found (the other way round, moto's fake keys would outlive the module).
    with mock_aws(), pytest.MonkeyPatch.context() as monkeypatch:
        _isolate(monkeypatch)
        create_resources()
        app = create_app({"table_name": TABLE, "bucket_name": BUCKET})
        yield app.test_client()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port holding the table and the bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # moto's backends live in this process: start from an empty account in each module
        requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()
        create_resources(endpoint_url=endpoint)
        yield endpoint
    finally:
        server.stop()
