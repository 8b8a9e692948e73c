"""The app, locally: ``app/`` under gunicorn on loopback against moto with the real stack.

The same probes (request + contract validators) as the postdeploy suite, so the app is held
to the contract before it is deployed: health, every manifest photo, CORS, email cases, the
error contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("images", "the local app's photo checks")

from pytest_pipeline.postdeploy import photoprobes, probes  # noqa: E402
from pytest_pipeline.postdeploy.casedata import (  # noqa: E402
    background_cases,
    cors_paths,
    denied_origins,
    email_cases,
    error_cases,
    photo_cases,
    sample_photo,
)
from pytest_pipeline.postdeploy.http import ServiceClient  # noqa: E402

MANIFEST = Path(__file__).resolve().parents[2] / "test_images" / "manifest.toml"


@pytest.fixture(scope="module")
def local_specs(local_service: ServiceClient) -> dict[str, Any]:
    """The local app's specs."""
    probe, specs = probes.probe_specs(local_service)
    assert probe.ok, probe.explain()
    return specs


@pytest.fixture(scope="module")
def local_origin(local_app: Any) -> str:
    """An origin the local app allows (from the stack's AllowedOrigins output)."""
    if not local_app.allowed_origins:
        pytest.fail("the stack's AllowedOrigins output is empty: the app would allow no origin")
    return str(local_app.allowed_origins[0])


def test_local_health(local_service: ServiceClient) -> None:
    """/health: 200, every dependency (DynamoDB, S3, models) ok."""
    probe = probes.probe_health(local_service)
    assert probe.ok, probe.explain()


def test_local_specs(local_specs: dict[str, Any]) -> None:
    """/api/v1/specs offers at least us and eu."""
    assert {"us", "eu"} <= set(local_specs), f"specs offered: {sorted(local_specs)}"


@pytest.mark.parametrize(
    ("case", "spec_id"), [pytest.param(*v, id=i) for i, v in photo_cases(MANIFEST)]
)
def test_local_photo(
    local_service: ServiceClient,
    local_specs: dict[str, Any],
    case: Any,
    spec_id: str,
    contract_record: Any,
) -> None:
    """Each manifest photo answers as the manifest says; successes are judged as pictures."""
    probe = photoprobes.probe_photo(
        local_service,
        Path(case.path),
        case.media_type,
        spec_id,
        local_specs.get(spec_id),
        case.status,
        case.error or None,
    )
    if probe.pictures:
        contract_record.side_by_side(f"{case.file} as spec {spec_id}", probe.pictures)
    assert probe.ok, probe.explain()


@pytest.mark.parametrize("case", [pytest.param(*v, id=i) for i, v in background_cases(MANIFEST)])
def test_local_background(local_service: ServiceClient, case: Any) -> None:
    """/api/v1/background as the manifest says."""
    probe = photoprobes.probe_background(
        local_service,
        Path(case.path),
        case.media_type,
        bool(case.background),
        case.faces == 1 and case.ok,
    )
    assert probe.ok, probe.explain()


@pytest.mark.parametrize(
    ("email", "valid", "normalised"), [pytest.param(*v, id=i) for i, v in email_cases()]
)
def test_local_email(
    local_service: ServiceClient, email: str, valid: bool, normalised: str | None
) -> None:
    """Email validation cases: valid, invalid, internationalised, hostile."""
    probe = probes.probe_email(local_service, email, valid, normalised)
    assert probe.ok, probe.explain()


def test_local_email_is_stored(local_service: ServiceClient, local_app: Any) -> None:
    """A validation is recorded in the stack's DynamoDB table."""
    email = "stored.predeploy@example.com"
    probe = probes.probe_email(local_service, email, True, None)
    assert probe.ok, probe.explain()
    record = probes.find_email_record(local_app.aws.client("dynamodb"), local_app.table_name, email)
    assert record is not None, f"no item for {email} in table {local_app.table_name}"


@pytest.mark.parametrize("path_case", [pytest.param(*v, id=i) for i, v in cors_paths()])
def test_local_cors_allowed(
    local_service: ServiceClient, local_origin: str, path_case: dict[str, Any]
) -> None:
    """The allowed origin: simple request and preflight get it back."""
    problems = probes.probe_cors(local_service, "/api/v1/specs", local_origin, True).problems
    problems += probes.probe_preflight(
        local_service,
        path_case["path"],
        path_case["method"],
        local_origin,
        True,
        path_case.get("request_headers"),
    ).problems
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("origin", [pytest.param(*v, id=i) for i, v in denied_origins()])
@pytest.mark.parametrize("path_case", [pytest.param(*v, id=i) for i, v in cors_paths()])
def test_local_cors_denied(
    local_service: ServiceClient, path_case: dict[str, Any], origin: str
) -> None:
    """Other origins: no Access-Control-Allow-Origin on requests or preflights."""
    problems = probes.probe_cors(local_service, path_case["path"], origin, False).problems
    problems += probes.probe_preflight(
        local_service, path_case["path"], path_case["method"], origin, False
    ).problems
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", [pytest.param(*v, id=i) for i, v in error_cases()])
def test_local_error_contract(local_service: ServiceClient, case: dict[str, Any]) -> None:
    """400/404/405/413/415 answer the JSON error shape without stack traces."""
    probe = probes.probe_error_case(local_service, case, sample_photo(MANIFEST))
    assert probe.ok, probe.explain()
