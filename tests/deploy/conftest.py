"""Helpers for the deploy tests: a copy of the tiny app and bundles of it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_pipeline.aws.bundles import Bundle, build_bundle

TINYAPP = Path(__file__).with_name("tinyapp")


@pytest.fixture
def tiny_app(tmp_path: Path) -> Path:
    """A private copy of the tiny Flask app (tests may break it)."""
    return Path(shutil.copytree(TINYAPP, tmp_path / "app"))


@pytest.fixture
def make_bundle(tiny_app: Path, tmp_path: Path) -> Callable[..., Bundle]:
    """Build a bundle of the tiny app; ``failing_check`` makes its /health fail that check."""

    def make(label: str, failing_check: str | None = None) -> Bundle:
        marker = tiny_app / "fail_check.txt"
        marker.unlink(missing_ok=True)
        if failing_check:
            marker.write_text(failing_check)
        return build_bundle(tiny_app, tmp_path / "bundles", label)

    return make
