"""Fixtures of the core tests."""

from __future__ import annotations

import pytest


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
