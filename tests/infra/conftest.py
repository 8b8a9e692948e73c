"""Fixtures of the infra tests: one moto server per test module, reset at its start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"


@pytest.fixture(autouse=True)
def _no_pipeline_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inner pytest runs must not see PIPELINE_* variables of the outer environment."""
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    """A threaded moto server for the module, its (process-wide) state reset first."""
    with MotoServer() as server:
        requests.post(f"{server.endpoint_url}/moto-api/reset", timeout=10)
        yield server


@pytest.fixture(scope="module")
def ctx(moto_server: MotoServer) -> AwsContext:
    """An ``AwsContext`` on the module's moto server (the ``moto`` backend)."""
    return resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
