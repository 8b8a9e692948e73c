"""The error contract (JSON errors, no traces, no banners), security headers, HTTPS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.postdeploy.casedata import error_cases, sample_photo
from pytest_pipeline.postdeploy.contract import check_https_redirect
from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import probe_error_case, probe_security_headers

MANIFEST = Path(__file__).resolve().parents[2] / "test_images" / "manifest.toml"


@pytest.mark.parametrize("case", [pytest.param(*v, id=i) for i, v in error_cases()])
def test_error_contract(service: ServiceClient, case: dict[str, Any]) -> None:
    """404/405/400/413/415 answer JSON {"error": {"code", "message"}} without stack traces."""
    probe = probe_error_case(service, case, sample_photo(MANIFEST))
    assert probe.ok, probe.explain()


@pytest.mark.parametrize("path", ["/health", "/api/v1/specs", "/api/v1/photos", "/no/such/page"])
def test_security_headers(service: ServiceClient, path: str) -> None:
    """nosniff, a CSP and framing denied on every answer (errors too), HSTS over HTTPS, no
    server banner with versions."""
    probe = probe_security_headers(service, path)
    assert probe.ok, probe.explain()


def test_https_redirect(service: ServiceClient) -> None:
    """Over HTTPS, the plain-HTTP URL redirects to HTTPS."""
    if not service.https:
        pytest.skip(f"{service.base_url} is plain HTTP: no HTTPS redirect or HSTS to check")
    plain = ServiceClient("http://" + service.base_url.removeprefix("https://"))
    try:
        resp = plain.get("/health")
    finally:
        plain.close()
    problems = check_https_redirect(resp)
    assert not problems, "\n".join(problems)
