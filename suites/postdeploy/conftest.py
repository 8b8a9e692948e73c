"""Parametrization of the postdeploy suite from data, and the photo answers its rules share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.plugin.extras import need_extra
from pytest_pipeline.plugin.state import get_settings
from pytest_pipeline.postdeploy.contract import REQUIRED_SPECS
from pytest_pipeline.postdeploy.fuzz import operations
from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import Probe
from pytest_pipeline.postdeploy.thresholds import parse_threshold


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One load-threshold test per configured threshold, its id the threshold itself."""
    if "threshold" in metafunc.fixturenames:
        texts = get_settings(metafunc.config).threshold
        thresholds = [parse_threshold(t) for t in texts]
        metafunc.parametrize("threshold", thresholds, ids=[t.label for t in thresholds])
    if "fuzz_target" in metafunc.fixturenames:
        targets, ids = _fuzz_targets(metafunc.config)
        metafunc.parametrize("fuzz_target", targets, ids=ids)


def _fuzz_targets(config: pytest.Config) -> tuple[list[Any], list[str]]:
    """``(operation, mode)`` per operation of the contract document and generation mode;
    a single message (the test fails with it) when the document cannot be used."""
    contract = get_settings(config).contract
    try:
        ops = operations(contract)
    except (OSError, ValueError) as error:
        return [f"setting contract: {error} (set --contract / PIPELINE_CONTRACT)"], ["contract"]
    if not ops:
        return [f"setting contract: {contract} documents no operation"], ["contract"]
    targets = [(op, mode) for op in ops for mode in op.modes]
    return targets, [f"{op.label}-{mode}" for op, mode in targets]


@pytest.fixture(scope="session")
def photo_probe(
    service: ServiceClient, service_specs: dict[str, Any]
) -> Callable[[Any, str], Probe]:
    """``photo_probe(case, spec_id)``: one ``POST /api/v1/photos`` per photo and spec, judged
    once and shared by the tests of each photo rule.

    A spec beyond the contract's required ``us`` and ``eu`` is only tried when
    ``GET /api/v1/specs`` offers it (else the test is skipped).
    """
    need_extra("images", "the photo checks")
    # Only now: the photo probes judge pictures with NumPy, OpenCV and Pillow (the extra).
    from pytest_pipeline.postdeploy.photoprobes import probe_photo

    probes: dict[tuple[str, str], Probe] = {}

    def probe(case: Any, spec_id: str) -> Probe:
        if spec_id not in REQUIRED_SPECS and spec_id not in service_specs:
            pytest.skip(f"spec {spec_id!r} is optional and GET /api/v1/specs does not offer it")
        key = (case.file, spec_id)
        if key not in probes:
            probes[key] = probe_photo(
                service,
                Path(case.path),
                case.media_type,
                spec_id,
                service_specs.get(spec_id),
                case.status,
                case.error or None,
                case.also_correct,
            )
        return probes[key]

    return probe
