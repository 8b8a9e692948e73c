"""app/ served by gunicorn from its Procfile on loopback, against a moto server."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from .helpers import APP_DIR, BUCKET, REGION, TABLE


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def procfile_command() -> list[str]:
    """The `web:` command of the bundle's Procfile, with this venv's gunicorn."""
    line = next(
        line for line in (APP_DIR / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    argv = shlex.split(line.removeprefix("web:"))
    assert argv[0] == "gunicorn"
    argv[0] = str(Path(sys.executable).with_name("gunicorn"))
    return argv


@dataclass
class Served:
    """A running gunicorn: its URL, log file, first /health answer and master process."""

    base: str
    log: Path
    health: requests.Response
    endpoint: str
    master: psutil.Process


@contextmanager
def serve_app(moto_endpoint: str, log: Path, **settings: str) -> Iterator[Served]:
    """gunicorn started from the Procfile in app/, answering /health; stopped afterwards."""
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PIPELINE_"))
        and key not in ("TABLE_NAME", "BUCKET_NAME", "MAX_IMAGE_PIXELS", "WEB_CONCURRENCY")
    }
    env.update(
        PORT=str(port),
        BIND_HOST="127.0.0.1",
        AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # pragma: allowlist secret
        AWS_DEFAULT_REGION=REGION,
        TABLE_NAME=TABLE,
        BUCKET_NAME=BUCKET,
    )
    env.update(settings)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            procfile_command(), cwd=APP_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        health: requests.Response | None = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
            try:
                health = requests.get(f"{base}/health", timeout=5)
                if health.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail(f"gunicorn did not answer /health within 90 s:\n{log.read_text()}")
        yield Served(base, log, health, moto_endpoint, psutil.Process(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
