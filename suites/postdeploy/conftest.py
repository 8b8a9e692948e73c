"""Parametrization of the postdeploy suite from data: the image manifest and the cases files."""

from __future__ import annotations

import pytest

from pytest_pipeline.checks.thresholds import parse_threshold
from pytest_pipeline.session import get_run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One load-threshold test per configured threshold, its id the threshold itself."""
    if "threshold" in metafunc.fixturenames:
        texts = get_run(metafunc.config).options.get("threshold")
        thresholds = [parse_threshold(t) for t in texts]
        metafunc.parametrize("threshold", thresholds, ids=[t.label for t in thresholds])
