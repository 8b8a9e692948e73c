"""The one error shape of the contract: `{"error": {"code", "message"}}`, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

try:  # the server's own body-framing errors (a bad chunk size, a client gone mid-body)
    from gunicorn.http.errors import NoMoreData, ParseException

    _FRAMING_ERRORS: tuple[type[BaseException], ...] = (ParseException, NoMoreData)
except ImportError:  # pragma: no cover - another WSGI server
    _FRAMING_ERRORS = ()

log = logging.getLogger("passport.errors")
_DRAIN_CHUNK = 1 << 16
_OVERSIZED_DRAIN = 256 * 1024 * 1024  # read at most this much of a refused body

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


def _finish_body(oversized: bool, limit: int) -> None:
    """Read what an early error answer left of the request body (at most `limit` bytes).

    Closing a socket with unread data makes TCP send a reset, and clients still sending
    the body then see "connection reset" instead of the JSON answer; and the server drains
    only a little itself before closing, so the next request a client sends on a kept-alive
    connection would get no answer. An oversized body (413) is read from the server's stream
    (werkzeug's refuses it), up to its declared length. When the rest cannot be read (bad
    framing, more than `limit`), the answer says `Connection: close`.
    """
    try:
        if oversized:
            stream = request.environ["wsgi.input"]
            limit = min(request.content_length or _OVERSIZED_DRAIN, _OVERSIZED_DRAIN)
        else:
            stream = request.stream
        while True:
            chunk = stream.read(min(limit + 1, _DRAIN_CHUNK))
            if not chunk:
                return
            limit -= len(chunk)
            if limit < 0:
                break
    except Exception:
        log.debug("the rest of the request body could not be read")
    _close_connection()


def _close_connection() -> None:
    """Ask gunicorn to answer `Connection: close` and close the connection afterwards.

    gunicorn drops a `Connection` header set by the application (hop-by-hop); its request
    object, reachable through a chunked body's reader, decides instead.
    """
    reader = getattr(request.environ.get("wsgi.input"), "reader", None)
    server_request = getattr(reader, "req", None)
    if server_request is not None and hasattr(server_request, "must_close"):
        server_request.must_close = True


def register(app: Flask) -> None:
    """Install handlers so that every error, expected or not, has the contract shape."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:
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

    @app.after_request
    def _read_unread_body(response: Response) -> Response:
        if response.status_code >= 400:
            limit = int(app.config.get("MAX_CONTENT_LENGTH") or _OVERSIZED_DRAIN)
            _finish_body(response.status_code == 413, limit)
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if _FRAMING_ERRORS and isinstance(error, _FRAMING_ERRORS):
            _close_connection()
            return error_response(
                400,
                "bad_request",
                f"the request body is not framed correctly ({type(error).__name__}: "
                f"{str(error)[:120]}); send a valid Content-Length or chunked body",
            )
        log.exception("unhandled error", extra={"error_type": type(error).__name__})
        return error_response(500, "internal_error", "internal error; the request id is logged")


def _allowed(error: HTTPException) -> str:
    valid = getattr(error, "valid_methods", None) or []
    return ", ".join(sorted(valid)) or "none"
