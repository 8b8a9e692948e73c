"""CORS: the allowed origin echoed, other origins refused, preflights, never * with credentials."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_pipeline.postdeploy.casedata import cors_paths, denied_origins
from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import probe_cors, probe_preflight
from pytest_pipeline.settings import PipelineSettings

PATHS = [pytest.param(*v, id=i) for i, v in cors_paths()]
DENIED = [pytest.param(*v, id=i) for i, v in denied_origins()]


@pytest.fixture(scope="module")
def allowed_origin(pipeline_settings: PipelineSettings) -> str:
    """The origin the service must allow (setting ``allowed-origin``)."""
    return pipeline_settings.allowed_origin


def test_allowed_origin_simple(service: ServiceClient, allowed_origin: str) -> None:
    """A GET from the allowed origin gets that origin back."""
    probe = probe_cors(service, "/api/v1/specs", allowed_origin, allowed=True)
    assert probe.ok, probe.explain()


@pytest.mark.parametrize("path_case", PATHS)
def test_allowed_origin_preflight(
    service: ServiceClient, allowed_origin: str, path_case: dict[str, Any]
) -> None:
    """A preflight from the allowed origin is answered with that origin and the method."""
    probe = probe_preflight(
        service,
        path_case["path"],
        path_case["method"],
        allowed_origin,
        True,
        path_case.get("request_headers"),
    )
    assert probe.ok, probe.explain()


@pytest.mark.parametrize("origin", DENIED)
def test_denied_origin_simple(service: ServiceClient, origin: str) -> None:
    """A GET from another origin gets no Access-Control-Allow-Origin."""
    probe = probe_cors(service, "/api/v1/specs", origin, allowed=False)
    assert probe.ok, probe.explain()


@pytest.mark.parametrize("origin", DENIED)
@pytest.mark.parametrize("path_case", PATHS)
def test_denied_origin_preflight(
    service: ServiceClient, path_case: dict[str, Any], origin: str
) -> None:
    """A preflight from another origin gets no Access-Control-Allow-Origin."""
    probe = probe_preflight(
        service,
        path_case["path"],
        path_case["method"],
        origin,
        False,
        path_case.get("request_headers"),
    )
    assert probe.ok, probe.explain()
