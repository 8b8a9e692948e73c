"""GET /api/v1/specs: well-formed specs, at least us (600x600) and eu (413x531)."""

from __future__ import annotations

from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import probe_specs


def test_specs_contract(service: ServiceClient) -> None:
    """Every spec has width_px, height_px, head_ratio and a white background."""
    probe, _specs = probe_specs(service)
    assert probe.ok, probe.explain()
