"""Fixtures of the postdeploy tests: the reference app running locally, faulty proxies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_pipeline.aws.stacks import load_parameters
from pytest_pipeline.postdeploy.service import LocalApp, LocalAppRunner

ROOT = Path(__file__).resolve().parents[2]
FAULTY = Path(__file__).with_name("faulty_service.py")
ALTSERVICE = Path(__file__).with_name("altservice") / "service.py"
ALLOWED_ORIGIN = "https://app.example.com"


def _start(args: list[str], what: str) -> tuple[subprocess.Popen[str], str]:
    """Start a loopback server that prints ``PORT <n>``; its process and URL."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


@pytest.fixture(scope="session")
def reference_app() -> Iterator[LocalApp]:
    """``app/`` under gunicorn on loopback against a private moto server (dev parameters)."""
    runner = LocalAppRunner(
        ROOT / "app",
        ROOT / "infra" / "template.yaml",
        load_parameters(ROOT / "infra" / "parameters" / "dev.json"),
        health_timeout_s=90,
    )
    with runner as app:
        yield app


@pytest.fixture(scope="session")
def faulty_service(reference_app: LocalApp) -> Iterator[Callable[[str], str]]:
    """Start a faulty proxy (``faulty_service.py MODE``) in front of the reference app.

    ``faulty_service("none")`` serves every mode of the catalog under ``/v/<mode>``.
    """
    procs: dict[str, tuple[subprocess.Popen[str], str]] = {}

    def start(mode: str) -> str:
        if mode not in procs:
            args = [str(FAULTY), mode, reference_app.url]
            procs[mode] = _start(args, f"faulty service {mode}")
        return procs[mode][1]

    yield start
    for proc, _ in procs.values():
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def second_implementation() -> Iterator[str]:
    """The independent implementation of the contract (``altservice/service.py``): its URL."""
    proc, url = _start([str(ALTSERVICE), ALLOWED_ORIGIN], "the second implementation")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
