"""The application launcher and the switching proxy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests

from pytest_pipeline.deploy import proxy
from pytest_pipeline.deploy.launcher import AppProcess, AppProcessError, expand, read_procfile


def test_expand_and_procfile(tmp_path: Path) -> None:
    argv = expand(
        "gunicorn --bind ${BIND_HOST}:$PORT -w ${WORKERS:-2} app:app",
        {"PORT": "81", "BIND_HOST": "h"},
    )
    assert argv == ["gunicorn", "--bind", "h:81", "-w", "2", "app:app"]
    with pytest.raises(AppProcessError, match="does not exist"):
        read_procfile(tmp_path)
    (tmp_path / "Procfile").write_text("worker: x\n")
    with pytest.raises(AppProcessError, match="no 'web:' line"):
        read_procfile(tmp_path)


def test_proxy_marks_first_final_response_close() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5"
    )
    assert proxy._close_after(head) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close"
    assert proxy._status(b"HTTP/1.1 101 Switching Protocols") == 101
    assert proxy._status(b"\x16\x03\x01 binary") is None


@pytest.mark.slow
def test_crashing_app_reports_exit_and_log(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text(
        "web: python -c \"import sys; print('boom at start'); sys.exit(3)\"\n"
    )
    app = AppProcess(tmp_path, {})
    with app, pytest.raises(AppProcessError) as failure:
        app.wait_healthy(10)
    assert failure.value.check == "process"
    assert "status 3" in str(failure.value) and "boom at start" in failure.value.log_tail
    assert app.ref is not None and not app.ref.alive()


@pytest.mark.slow
def test_proxy_switches_upstream_and_stops(tmp_path: Path, tiny_app: Path) -> None:
    with (
        AppProcess(tiny_app, {"APP_VERSION": "a", "TABLE_NAME": "t", "BUCKET_NAME": "b"}) as one,
        AppProcess(tiny_app, {"APP_VERSION": "b", "TABLE_NAME": "t", "BUCKET_NAME": "b"}) as two,
    ):
        one.wait_healthy(20)
        two.wait_healthy(20)
        handle = proxy.start_proxy(tmp_path / "proxy.log", upstream=one.port)
        try:
            response = requests.get(handle.url + "/health", timeout=5)
            assert response.json()["version"] == "a"
            assert response.headers["Connection"] == "close"
            handle.switch(two.port)
            assert requests.get(handle.url + "/health", timeout=5).json()["version"] == "b"
            assert handle.status()["upstream"] == two.port
            assert handle.drain(one.port, 5)
        finally:
            handle.ref.stop()
        assert not handle.ref.alive()


class _Sink:
    """The part of asyncio.StreamWriter the proxy's pumps use."""

    def __init__(self) -> None:
        self.data = b""
        self.eof = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        return None


def _pump(chunks: list[bytes]) -> _Sink:
    async def run() -> _Sink:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        sink = _Sink()
        await proxy._pump_responses(reader, sink)  # type: ignore[arg-type]
        return sink

    return asyncio.run(run())


INTERIM = b"HTTP/1.1 100 Continue\r\n\r\n"
HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
    b"Content-Length: 17"
)
BODY = b'{"status": "ok"}\n' + b"HTTP/1.1 200 OK\r\n\r\n"  # a later response passes untouched
EXPECTED = INTERIM + proxy._close_after(HEAD) + b"\r\n\r\n" + BODY


def test_proxy_rewrites_only_the_final_head_wherever_chunks_split() -> None:
    stream = INTERIM + HEAD + b"\r\n\r\n" + BODY
    for cut in range(1, len(stream)):
        sink = _pump([stream[:cut], stream[cut:]])
        assert sink.data == EXPECTED and sink.eof, f"split at {cut}"
    for first in range(1, len(stream), 7):
        for second in range(first + 1, len(stream), 5):
            parts = [stream[:first], stream[first:second], stream[second:]]
            assert _pump(parts).data == EXPECTED, f"splits at {first}, {second}"


def test_proxy_passes_non_http_and_upgrades_untouched() -> None:
    binary = bytes(range(256)) * 300  # no header block in sight
    assert _pump([binary[:1000], binary[1000:]]).data == binary
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
    assert _pump([upgrade]).data == upgrade


@pytest.mark.slow
def test_an_expired_timeout_is_named_not_blamed_on_the_app(tiny_app: Path) -> None:
    env = {"APP_VERSION": "a", "TABLE_NAME": "t", "BUCKET_NAME": "b"}
    with AppProcess(tiny_app, env) as app, pytest.raises(AppProcessError) as failure:
        app.wait_healthy(0.05, timeout_name="deploy-timeout")  # too short to start gunicorn
    message = str(failure.value)
    assert "no healthy answer within 0.05 s (deploy-timeout)" in message
    assert "if the app only needs longer to start, raise deploy-timeout" in message
