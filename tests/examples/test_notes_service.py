"""The Notes example itself: its health endpoint and its JSON API, served by gunicorn from
its Procfile (what the pipeline deploys)."""

from __future__ import annotations

import requests


def test_health_reports_the_version(notes_service: str) -> None:
    body = requests.get(f"{notes_service}/health", timeout=10).json()
    assert body == {"status": "ok", "version": "v-core", "checks": {}}


def test_notes_are_added_and_listed(notes_service: str) -> None:
    added = requests.post(f"{notes_service}/api/v1/notes", json={"text": " milk "}, timeout=10)
    assert added.status_code == 201, added.text
    note = added.json()
    assert note["text"] == "milk" and isinstance(note["id"], int)
    listed = requests.get(f"{notes_service}/api/v1/notes", timeout=10).json()["notes"]
    assert note in listed


def test_errors_are_json_with_a_code(notes_service: str) -> None:
    cases = [
        ("POST", "/api/v1/notes", b"{not json", 400, "invalid_json"),
        ("POST", "/api/v1/notes", b'{"text": ""}', 400, "invalid_text"),
        ("POST", "/api/v1/notes", b'{"text": "' + b"x" * 20000 + b'"}', 413, "too_large"),
        ("DELETE", "/api/v1/notes", b"", 405, "method_not_allowed"),
        ("GET", "/nowhere", b"", 404, "not_found"),
    ]
    for method, path, body, status, code in cases:
        answer = requests.request(method, f"{notes_service}{path}", data=body, timeout=10)
        assert answer.status_code == status, (method, path, answer.text)
        assert answer.json()["error"]["code"] == code, answer.text
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
