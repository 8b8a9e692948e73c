"""Availability first: the service answers /health, healthy, with every dependency ok."""

from __future__ import annotations

from typing import Any

from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import probe_health


def test_health_comes_up(service_availability: Any, contract_record: Any) -> None:
    """/health answers 200 within health-timeout (else every other test is skipped)."""
    contract_record.figure("health_wait_s", round(service_availability.waited_s, 2), "s")
    assert service_availability.ok, service_availability.reason


def test_health_contract(service: ServiceClient, contract_record: Any) -> None:
    """/health has the contract's shape, every check is ok, and a version label is served."""
    probe = probe_health(service)
    if probe.response is not None:
        try:
            version = probe.response.json_field("version")
        except ValueError:
            version = None
        contract_record.figure("version", str(version))
    assert probe.ok, probe.explain()
