"""The one error shape of the contract: `{"error": {"code", "message"}}`, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger("passport.errors")

# Codes for the HTTP errors werkzeug raises itself (routing, body limit, bad requests).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An error the API reports to the client with a contract code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    """The JSON body and status of an error response."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _drain_body() -> None:
    """Read the rest of an oversized upload so the client can read the 413 reply.

    Closing a socket with unread data makes TCP send a reset, and clients still sending
    the body then see "connection reset" instead of the JSON answer.
    """
    from flask import request

    stream = request.environ.get("wsgi.input")
    length = request.content_length or 0
    budget = min(length, 256 * 1024 * 1024)
    try:
        while budget > 0 and stream is not None:
            chunk = stream.read(min(budget, 1 << 20))
            if not chunk:
                break
            budget -= len(chunk)
    except Exception:
        log.debug("client closed the connection while an oversized body was drained")


def register(app: Flask) -> None:
    """Install handlers so that every error, expected or not, has the contract shape."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:
            _drain_body()
            limit = app.config.get("MAX_CONTENT_LENGTH") or 0
            return error_response(
                413, "too_large", f"request body exceeds the upload limit of {limit} bytes"
            )
        if status == 405:
            response = error_response(
                405, "method_not_allowed", f"method not allowed; allowed: {_allowed(error)}"
            )
            allow = error.get_headers()
            for name, value in allow:
                if name.lower() == "allow":
                    response.headers["Allow"] = value
            return response
        code = _HTTP_CODES.get(status, "http_error" if status < 500 else "internal_error")
        message = error.description or error.name
        if status == 404:
            message = "no such resource; see GET /api/v1/specs and the API documentation"
        return error_response(status, code, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error", extra={"error_type": type(error).__name__})
        return error_response(500, "internal_error", "internal error; the request id is logged")


def _allowed(error: HTTPException) -> str:
    valid = getattr(error, "valid_methods", None) or []
    return ", ".join(sorted(valid)) or "none"
