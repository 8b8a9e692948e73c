"""The waiver file: every waiver is still valid (an expired one fails) and used."""

from __future__ import annotations

from pytest_pipeline.plugin.scancases import WaiverCheck


def test_waiver(security_waiver: WaiverCheck) -> None:
    """An expired waiver fails; one that matches no finding warns."""
    security_waiver.check()
