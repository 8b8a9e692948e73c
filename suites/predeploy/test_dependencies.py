"""The app's requirements: parsed, pinned, compatible with each other and the runtime Python,
existing on PyPI and resolvable as one set (one test per problem)."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.scancases import SecurityCheck


@pytest.mark.security_scan("dependencies")
def test_requirements(security_case: SecurityCheck) -> None:
    """Every requirement is pinned and no ML-stack compatibility rule fires."""
    security_case.check()


@pytest.mark.security_scan("resolution")
def test_resolution(security_case: SecurityCheck) -> None:
    """Every pin exists, supports the runtime Python, and the set resolves with pip."""
    security_case.check()
