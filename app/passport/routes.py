"""HTTP endpoints of the contract (DESIGN.md §5)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Blueprint, Response, current_app, g, jsonify, request

from .compose import SPECS
from .errors import ApiError, error_response
from .health import HealthMonitor
from .pipeline import PhotoPipeline
from .storage import Aws, StorageError

log = logging.getLogger("passport.api")
api = Blueprint("api", __name__)

MAX_JSON_BYTES = 16 * 1024  # an email request is a few hundred bytes
MAX_JSON_DEPTH = 16  # {"email": "..."} is depth 1
_JSON_TOKENS = re.compile(rb'[\[\]{}"\\]')


def _pipeline() -> PhotoPipeline:
    pipeline: PhotoPipeline = current_app.extensions["passport.pipeline"]
    return pipeline


def _upload() -> bytes:
    """The bytes of the multipart `photo` field (400 `missing_photo` without one)."""
    upload = request.files.get("photo")
    if upload is None:
        raise ApiError(
            400, "missing_photo", "send the image as the multipart/form-data field 'photo'"
        )
    data: bytes = upload.read()
    if not data:
        raise ApiError(400, "missing_photo", "the 'photo' field is empty")
    return data


def _json_body() -> Any:
    """The request's JSON document, its size and nesting bounded before it is parsed.

    Raises 413 `too_large` over `MAX_JSON_BYTES`, 400 `invalid_json` when it is not JSON
    or nests deeper than `MAX_JSON_DEPTH` (the parser would recurse once per level).
    """
    length = request.content_length
    if length is not None and length > MAX_JSON_BYTES:
        raise ApiError(
            413, "too_large", f"the JSON body is {length} bytes; the limit is {MAX_JSON_BYTES}"
        )
    body = request.stream.read(MAX_JSON_BYTES + 1)
    if len(body) > MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"the JSON body exceeds {MAX_JSON_BYTES} bytes")
    deepest = _nesting(body)
    if deepest > MAX_JSON_DEPTH:
        raise ApiError(
            400,
            "invalid_json",
            f"the JSON body nests {deepest} levels deep; the limit is {MAX_JSON_DEPTH}",
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def _nesting(body: bytes) -> int:
    """How deep brackets nest in `body`, outside JSON strings (one linear pass)."""
    depth = deepest = 0
    in_string = False
    escape_at = -2  # where an unescaped backslash inside a string is
    for match in _JSON_TOKENS.finditer(body):
        token, at = match.group(), match.start()
        if in_string:
            if escape_at == at - 1:
                escape_at = -2
            elif token == b"\\":
                escape_at = at
            elif token == b'"':
                in_string = False
        elif token == b'"':
            in_string = True
        elif token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


@api.get("/health")
def health() -> tuple[Response, int]:
    """Dependency status; 503 when a required dependency is down."""
    monitor: HealthMonitor = current_app.extensions["passport.health"]
    body = monitor.report()
    return jsonify(body), 200 if body["status"] == "ok" else 503


@api.get("/api/v1/specs")
def specs() -> Response:
    """The passport specifications the service can produce."""
    return jsonify({spec_id: spec.to_dict() for spec_id, spec in SPECS.items()})


@api.post("/api/v1/photos")
def photos() -> Response:
    """A passport photo for the uploaded picture and the requested spec (default `us`)."""
    spec_id = (request.form.get("spec") or "us").strip().lower()
    data = _upload()
    result = _pipeline().photo(data, spec_id)
    log.info(
        "photo composed",
        extra={"spec": spec_id, "face_box": result["face"]["source_box"], "bytes_in": len(data)},
    )
    return jsonify(result)


@api.post("/api/v1/background")
def background() -> Response:
    """The uploaded picture as an RGBA PNG with the background made transparent."""
    png = _pipeline().background(_upload())
    return Response(png, mimetype="image/png")


@api.post("/api/v1/emails/validate")
def validate() -> Response | tuple[Response, int]:
    """Validate (and normalise) an email address; every result is stored in DynamoDB."""
    payload = _json_body()
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", 'the body must be a JSON object like {"email": "..."}')
    email = payload.get("email")
    if email is None or (isinstance(email, str) and not email.strip()):
        raise ApiError(400, "missing_email", 'the JSON object needs a non-empty "email" string')
    if not isinstance(email, str):
        raise ApiError(400, "missing_email", '"email" must be a string')
    settings = current_app.config["PASSPORT_SETTINGS"]
    reason: str | None = None
    try:
        info = validate_email(email.strip(), check_deliverability=settings.check_deliverability)
        normalised, valid = info.normalized, True
    except EmailNotValidError as exc:
        normalised, valid, reason = email.strip(), False, str(exc)
    except (UnicodeError, ValueError) as exc:
        normalised, valid, reason = email.strip(), False, f"not a valid address ({exc})"
    aws: Aws = current_app.extensions["passport.aws"]
    try:
        aws.put_validation(normalised, valid, reason, g.get("request_id", ""))
    except StorageError as exc:
        log.error("validation not stored", extra={"error": str(exc)})
        return error_response(
            503, "storage_unavailable", "the validation could not be stored; retry later"
        ), 503
    safe = normalised.encode("utf-8", "replace").decode("utf-8")
    return jsonify({"email": safe, "valid": valid, "reason": reason})
