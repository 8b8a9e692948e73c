"""Notes: a small WSGI service (standard library only) for the pipeline's second example.

``GET /health`` answers ``{"status": "ok", "version": APP_VERSION, "checks": {...}}``;
``GET /api/v1/notes`` lists the notes, ``POST /api/v1/notes`` with ``{"text": "..."}`` adds
one (201). Every error is JSON ``{"error": {"code", "message"}}``. Notes live in memory: the
example is about the pipeline, not about storage.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

MAX_BODY = 16 * 1024
MAX_TEXT = 1000
HEADERS = [
    ("Content-Type", "application/json"),
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
]
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found"}
REASONS.update({405: "Method Not Allowed", 413: "Payload Too Large"})

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_notes: list[dict[str, Any]] = []
_lock = threading.Lock()


def _answer(start: StartResponse, status: int, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [*HEADERS, ("Content-Length", str(len(data)))]
    start(f"{status} {REASONS[status]}", headers)
    return [data]


def _error(start: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    return _answer(start, status, {"error": {"code": code, "message": message}})


def _read_json(environ: dict[str, Any]) -> tuple[object, str | None]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, "invalid_json"
    if length > MAX_BODY:
        return None, "too_large"
    try:
        return json.loads(environ["wsgi.input"].read(length) or b"null"), None
    except ValueError:
        return None, "invalid_json"


def _notes_api(environ: dict[str, Any], start: StartResponse) -> list[bytes]:
    method = environ["REQUEST_METHOD"]
    if method == "GET":
        with _lock:
            return _answer(start, 200, {"notes": list(_notes)})
    if method != "POST":
        return _error(start, 405, "method_not_allowed", f"{method} is not allowed here")
    body, problem = _read_json(environ)
    if problem == "too_large":
        return _error(start, 413, "too_large", f"the body is over {MAX_BODY} bytes")
    if problem or not isinstance(body, dict):
        return _error(start, 400, "invalid_json", "send a JSON object")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        return _error(start, 400, "invalid_text", f"text: 1 to {MAX_TEXT} characters")
    with _lock:
        note = {"id": len(_notes) + 1, "text": text.strip()}
        _notes.append(note)
    return _answer(start, 201, note)


def application(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    """The WSGI entry point (gunicorn ``service:application``)."""
    path = environ.get("PATH_INFO") or "/"
    if path == "/health":
        if environ["REQUEST_METHOD"] != "GET":
            return _error(start, 405, "method_not_allowed", "GET /health only")
        version = os.environ.get("APP_VERSION") or "dev"
        return _answer(start, 200, {"status": "ok", "version": version, "checks": {}})
    if path == "/api/v1/notes":
        return _notes_api(environ, start)
    return _error(start, 404, "not_found", f"no resource at {path}")
