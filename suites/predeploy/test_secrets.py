"""No secret in any file git tracks (detect-secrets; `.secrets.baseline` lists accepted ones)."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.scancases import SecurityCheck


@pytest.mark.security_scan("secrets")
def test_no_secret(security_case: SecurityCheck) -> None:
    """One failing test per secret found, with file and line; the value is redacted."""
    security_case.check()
