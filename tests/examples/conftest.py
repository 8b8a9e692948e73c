"""Fixtures of the examples' tests: the Notes service running."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_pipeline.deploy.launcher import AppProcess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes"


@pytest.fixture
def notes_service() -> Iterator[str]:
    """The Notes example's Procfile run by the plugin's launcher on loopback, from this
    environment and not the core virtualenv: the service is someone else's process."""
    process = AppProcess(EXAMPLE / "app", {"APP_VERSION": "v-core", "WEB_CONCURRENCY": "1"})
    process.start()
    try:
        process.wait_healthy(30, "v-core")
        yield process.url
    finally:
        process.stop()
