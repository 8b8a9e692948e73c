"""Fixtures of the infra tests: one moto server per test module, reset at its start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"


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
