"""Known vulnerabilities of the pinned packages (pip-audit online, else the OSV snapshot)."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.scancases import SecurityCheck


@pytest.mark.security_scan("vulnerabilities")
def test_no_known_vulnerability(security_case: SecurityCheck) -> None:
    """One failing test per advisory affecting a pin; skipped when nothing could be checked."""
    security_case.check()
