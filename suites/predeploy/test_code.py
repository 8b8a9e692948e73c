"""bandit over the application's code, at or above the `bandit-severity` floor."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.scancases import SecurityCheck


@pytest.mark.security_scan("code")
def test_no_insecure_code(security_case: SecurityCheck) -> None:
    """One failing test per bandit issue."""
    security_case.check()
