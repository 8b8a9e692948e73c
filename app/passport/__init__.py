"""Passport Photo backend: face detection, background removal, email validation."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider
from flask_cors import CORS

from . import errors
from .config import Settings
from .faces import FaceDetector
from .health import HealthMonitor
from .logsetup import configure_logging, install_request_ids
from .pipeline import PhotoPipeline
from .routes import api
from .segmentation import build_segmenter
from .storage import Aws

log = logging.getLogger("passport")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application from the environment; `config` overrides individual settings.

    `config` keys are `Settings` field names (e.g. `{"table_name": "t", "max_upload_mb": 1}`).
    """
    configure_logging()
    settings = Settings.from_env()
    if config:
        settings = settings.with_overrides(config)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["PASSPORT_SETTINGS"] = settings
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own: the contract's key order
        app.json.sort_keys = False

    aws = Aws(settings)
    aws.warm_up()
    secret = aws.read_secret()
    app.config["SECRET_KEY"] = secret or secrets.token_hex(32)

    choice = build_segmenter(settings.segmentation_backend)
    detector = FaceDetector()
    pipeline = PhotoPipeline(detector, choice, settings.max_pixels)

    def models_probe() -> dict[str, Any]:
        status = dict(choice.status)
        status["face_detector"] = detector.path.name
        return status

    monitor = HealthMonitor(
        {"dynamodb": aws.probe_table, "s3": aws.probe_bucket, "models": models_probe},
        settings.app_version,
        ttl=settings.health_cache_seconds,
    )
    app.extensions["passport.aws"] = aws
    app.extensions["passport.pipeline"] = pipeline
    app.extensions["passport.health"] = monitor

    if settings.allowed_origins:
        wildcard = "*" in settings.allowed_origins
        CORS(
            app,
            origins="*" if wildcard else list(settings.allowed_origins),
            supports_credentials=False,
            send_wildcard=wildcard,
            methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            max_age=600,
        )

    install_request_ids(app)
    errors.register(app)
    app.register_blueprint(api)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    log.info(
        "application ready",
        extra={
            "version": settings.app_version,
            "segmentation": choice.status.get("backend"),
            "table": settings.table_name,
            "bucket": settings.bucket_name,
            "origins": list(settings.allowed_origins),
        },
    )
    return app
