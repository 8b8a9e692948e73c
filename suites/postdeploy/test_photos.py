"""POST /api/v1/photos and /api/v1/background for every manifest photo, pictures judged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.checks.casedata import background_cases, photo_cases
from pytest_pipeline.checks.http import ServiceClient
from pytest_pipeline.checks.probes import probe_background, probe_photo

MANIFEST = Path(__file__).resolve().parents[2] / "test_images" / "manifest.toml"


@pytest.mark.parametrize(
    ("case", "spec_id"), [pytest.param(*v, id=i) for i, v in photo_cases(MANIFEST)]
)
def test_photo(
    service: ServiceClient,
    service_specs: dict[str, Any],
    case: Any,
    spec_id: str,
    contract_record: Any,
) -> None:
    """Status and error code as the manifest says; for successes, the picture itself."""
    probe = probe_photo(
        service,
        Path(case.path),
        case.media_type,
        spec_id,
        service_specs.get(spec_id),
        case.status,
        case.error or None,
    )
    if probe.response is not None:
        contract_record.figure("latency_ms", round(probe.response.elapsed_ms, 1), "ms")
    if probe.pictures:
        contract_record.side_by_side(f"{case.file} as spec {spec_id}", probe.pictures)
    assert probe.ok, probe.explain()


@pytest.mark.parametrize("case", [pytest.param(*v, id=i) for i, v in background_cases(MANIFEST)])
def test_background(service: ServiceClient, case: Any, contract_record: Any) -> None:
    """RGBA PNG, border transparent, face region opaque (or a 4xx error as the manifest says)."""
    probe = probe_background(
        service,
        Path(case.path),
        case.media_type,
        bool(case.background),
        case.faces == 1 and case.ok,
    )
    if probe.pictures:
        contract_record.side_by_side(f"{case.file} background removed", probe.pictures)
    assert probe.ok, probe.explain()
