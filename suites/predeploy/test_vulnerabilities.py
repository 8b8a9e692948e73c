"""Known vulnerabilities of the pinned packages (pip-audit online, else the OSV snapshot)."""

from __future__ import annotations

import pytest


@pytest.mark.security_scan("vulnerabilities")
def test_no_known_vulnerability(security_case):
    """One failing test per advisory affecting a pin; skipped when nothing could be checked."""
    security_case.check()
