"""The postdeploy hostile-input check run for real (pytester, subprocess): passes against
``app/`` under gunicorn, fails against a service that answers 500 or HTML to hostile input."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_pipeline.postdeploy.service import LocalApp

SUITE = Path(__file__).resolve().parents[2] / "suites" / "postdeploy" / "test_hostile_input.py"
ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly", "-rf")


class _Fragile(BaseHTTPRequestHandler):
    """Healthy, JSON errors for most input, but 500 on deep JSON and HTML on chunked bodies."""

    protocol_version = "HTTP/1.1"
    server_version = "fragile"
    sys_version = ""

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, body: bytes, media_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        body = {"status": "ok"} if self.path == "/health" else {"us": {}}
        self._answer(200, json.dumps(body).encode())

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._answer(400, b"<html><h1>Bad Request</h1></html>", "text/html")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if body.count(b"[") > 10:
            self._answer(500, b'{"error": {"code": "internal_error", "message": "boom"}}')
            return
        self._answer(400, b'{"error": {"code": "bad_request", "message": "no"}}')


@pytest.fixture
def fragile_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fragile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_hostile_check_passes_against_the_reference_app(
    pytester: pytest.Pytester, reference_app: LocalApp
) -> None:
    result = pytester.runpytest_subprocess(str(SUITE), "--target-url", reference_app.url, *ARGS)
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) >= 30 and "failed" not in outcomes


def test_hostile_check_fails_on_500_and_html_errors(
    pytester: pytest.Pytester, fragile_service: str
) -> None:
    result = pytester.runpytest_subprocess(str(SUITE), "--target-url", fragile_service, *ARGS)
    assert result.ret == 1, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(
        [
            "*POST /api/v1/emails/validate (JSON nested 1000 deep): answered 500*",
            "FAILED *JSON nested 1000 deep*",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        ["*(chunk size zz): error 400 is not JSON*Content-Type 'text/html'*"], consecutive=False
    )
    # It closed after the HTML answer without saying so: the next request went unanswered.
    result.stdout.fnmatch_lines(
        ["*(chunk size -1): no answer on a kept-alive connection*"], consecutive=False
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 20, "the failures must be specific, not collateral"
