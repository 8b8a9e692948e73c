"""The contract's operations as the fuzzing tests see them, and a fuzzed 5xx reported with
a curl line (a tiny loopback WSGI service, no app/)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest

from pytest_pipeline.postdeploy.fuzz import FuzzOperation, fuzz_operation, operations

CONTRACT = Path(__file__).resolve().parents[2] / "app" / "openapi.yaml"


def test_every_operation_of_the_contract_is_fuzzed() -> None:
    found = {(op.label, op.modes) for op in operations(CONTRACT)}
    assert found == {
        ("GET /health", ("positive",)),
        ("GET /api/v1/specs", ("positive",)),
        ("POST /api/v1/photos", ("positive", "negative")),
        ("POST /api/v1/background", ("positive", "negative")),
        ("POST /api/v1/emails/validate", ("positive", "negative")),
    }


def test_a_document_that_is_not_openapi_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "contract.yaml"
    bad.write_text("swagger: '2.0'\n")
    with pytest.raises(ValueError, match=r"contract.yaml is not an OpenAPI 3 document"):
        operations(bad)
    with pytest.raises(ValueError, match=r"cannot read the contract document"):
        operations(tmp_path / "missing.yaml")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def _crashing_emails(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Validates emails, but crashes (500) when "email" is not a string."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(size) or b"null")
    except ValueError:
        body = None
    headers = [
        ("Content-Type", "application/json"),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'none'"),
    ]
    if isinstance(body, dict) and "email" in body and not isinstance(body["email"], str):
        start_response("500 Internal Server Error", headers)
        return [b'{"error": {"code": "internal_error", "message": "boom"}}']
    if not isinstance(body, dict) or not str(body.get("email", "")).strip():
        start_response("400 Bad Request", headers)
        return [b'{"error": {"code": "missing_email", "message": "send an email"}}']
    start_response("200 OK", headers)
    return [json.dumps({"email": body["email"], "valid": True, "reason": None}).encode()]


@pytest.fixture
def crashing_service() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _crashing_emails, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_5xx_is_found_and_reported_with_curl(crashing_service: str) -> None:
    emails = FuzzOperation("post", "/api/v1/emails/validate", ("positive", "negative"))
    positive = fuzz_operation(CONTRACT, emails, "positive", crashing_service, examples=30, seed=1)
    assert positive.ok, positive.problems
    assert positive.requests > 1
    negative = fuzz_operation(CONTRACT, emails, "negative", crashing_service, examples=30, seed=1)
    assert not negative.ok
    (problem,) = negative.problems
    assert problem.startswith("POST /api/v1/emails/validate (negative data) breaks the contract")
    assert "Server error" in problem
    assert "curl -X POST -H 'Content-Type: application/json' -d " in problem
    assert f"{crashing_service}/api/v1/emails/validate" in problem
