"""Request-and-judge scenarios shared by the postdeploy suite and the predeploy local-app tests.

Each probe sends the request(s) of one contract scenario through a
:class:`~pytest_pipeline.postdeploy.http.ServiceClient` and returns a :class:`Probe`: the last
response and every problem the contract validators found. Both stages call the same
probes, so the app tested locally before deploy is held to exactly the checks the deployed
service meets afterwards. The cases come from data (``postdeploy/cases/*.toml`` and
``test_images/manifest.toml``).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pytest_pipeline.postdeploy import contract
from pytest_pipeline.postdeploy.contract import Response
from pytest_pipeline.postdeploy.http import ServiceClient

__all__ = [
    "CASES_DIR",
    "Probe",
    "find_email_record",
    "load_cases",
    "probe_cors",
    "probe_email",
    "probe_error_case",
    "probe_health",
    "probe_preflight",
    "probe_security_headers",
    "probe_specs",
]

CASES_DIR = Path(__file__).parent / "cases"


@dataclass
class Probe:
    """The outcome of one scenario: its response, problems, and pictures worth showing.

    ``rules`` keeps the problems apart by contract rule where a scenario judges several
    (a photo: ``answer`` and each of ``images.PHOTO_RULES`` but ``size``); a rule
    missing from it could not be judged, and ``unjudged`` says why.
    """

    response: Response | None
    problems: list[str] = field(default_factory=list)
    pictures: list[tuple[str, bytes, str]] = field(default_factory=list)
    rules: dict[str, list[str]] = field(default_factory=dict)
    unjudged: str = ""

    @property
    def ok(self) -> bool:
        """True when the contract holds."""
        return not self.problems

    def explain(self) -> str:
        """All problems, one per line."""
        return "\n".join(self.problems)


@cache
def load_cases(name: str) -> dict[str, Any]:
    """The cases file ``postdeploy/cases/<name>.toml`` as a dict."""
    path = CASES_DIR / f"{name}.toml"
    with path.open("rb") as handle:
        return tomllib.load(handle)


def probe_health(client: ServiceClient) -> Probe:
    """``GET /health``: healthy, well formed, every dependency check ok."""
    resp = client.get("/health")
    return Probe(resp, contract.check_health(resp))


def probe_specs(client: ServiceClient) -> tuple[Probe, dict[str, Any]]:
    """``GET /api/v1/specs``; also returns the specs (empty when they are unusable)."""
    resp = client.get("/api/v1/specs")
    problems = contract.check_specs(resp)
    try:
        specs = json.loads(resp.body) if resp.status == 200 else {}
    except ValueError:
        specs = {}
    return Probe(resp, problems), specs if isinstance(specs, dict) else {}


def probe_email(client: ServiceClient, email: str, valid: bool, normalised: str | None) -> Probe:
    """``POST /api/v1/emails/validate`` for one address and the verdict it must get."""
    label = f"POST /api/v1/emails/validate ({email[:40]!r})"
    resp = client.post("/api/v1/emails/validate", json={"email": email}, label=label)
    return Probe(resp, contract.check_email(resp, valid, normalised))


def probe_cors(client: ServiceClient, path: str, origin: str, allowed: bool) -> Probe:
    """A simple ``GET`` with an ``Origin``: that origin echoed when allowed, none otherwise."""
    label = f"GET {path} (Origin: {origin})"
    resp = client.get(path, headers={"Origin": origin}, label=label)
    check = contract.check_cors_allowed if allowed else contract.check_cors_denied
    return Probe(resp, check(resp, origin))


def probe_preflight(
    client: ServiceClient,
    path: str,
    method: str,
    origin: str,
    allowed: bool,
    request_headers: str | None = None,
) -> Probe:
    """An ``OPTIONS`` preflight for ``method`` on ``path`` from ``origin``."""
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    label = f"OPTIONS {path} (preflight {method} from {origin})"
    resp = client.options(path, headers=headers, label=label)
    if allowed:
        return Probe(resp, contract.check_preflight_allowed(resp, origin, method))
    return Probe(resp, contract.check_preflight_denied(resp, origin))


def probe_error_case(
    client: ServiceClient, case: dict[str, Any], sample_photo: Path | None
) -> Probe:
    """One request of ``cases/errors.toml``, judged by the error contract."""
    kind, path = case["kind"], case["path"]
    label = f"{case.get('method', 'POST')} {path} [{case['id']}]"
    if kind == "plain":
        resp = client.request(case["method"], path, label=label)
    elif kind == "json":
        resp = client.request(
            case["method"],
            path,
            data=case["json_raw"].encode(),
            headers={"Content-Type": "application/json"},
            label=label,
        )
    elif kind in ("upload", "oversized"):
        if kind == "oversized":
            payload = b"\xff\xd8\xff\xe0" + b"\0" * int(case["size_mb"] * 2**20)
        elif case.get("use_sample_photo"):
            if sample_photo is None:
                return Probe(None, [f"{label}: needs a sample photo and none is available"])
            payload = sample_photo.read_bytes()
        else:
            payload = case["file_text"].encode()
        files = {case["field"]: (case["filename"], payload, "application/octet-stream")}
        resp = client.post(path, files=files, data=case.get("fields", {}), label=label)
    else:
        raise ValueError(f"cases/errors.toml case {case['id']!r}: unknown kind {kind!r}")
    return Probe(resp, contract.check_error(resp, case["status"], case["code"]))


def find_email_record(dynamodb: Any, table: str, email: str) -> dict[str, Any] | None:
    """The item of ``table`` holding ``email`` in any string attribute, or None.

    A scan, so it does not depend on the service's key schema; tables here are small.
    """
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=table):
        for item in page.get("Items", []):
            values = {v.get("S") for v in item.values() if isinstance(v, dict)}
            if email in values or email.lower() in values:
                return dict(item)
    return None


def probe_security_headers(client: ServiceClient, path: str) -> Probe:
    """Security headers (and HSTS over HTTPS) on ``GET path``; no banner leaks."""
    resp = client.get(path)
    return Probe(resp, contract.check_security_headers(resp, https=client.https))
