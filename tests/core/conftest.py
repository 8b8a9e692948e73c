"""Fixtures of the core tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_pipeline_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inner pytest runs must not see PIPELINE_* variables of the outer environment."""
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with a pyproject.toml and no cache provider noise."""
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        addopts = "-p no:cacheprovider"
        # in-process runs import the already imported plugin again
        filterwarnings = ["ignore::pytest.PytestAssertRewriteWarning"]
        """
    )
    return pytester
