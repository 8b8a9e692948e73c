"""Property 4: the contract checks pass exactly when a response honours the contract."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_pipeline.postdeploy import contract
from pytest_pipeline.postdeploy.contract import Response

JSON = {"Content-Type": "application/json"}
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
words = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True)


def _health_body(draw: Any) -> dict[str, Any]:
    checks = draw(st.dictionaries(words, st.just({"status": "ok"}), min_size=1, max_size=4))
    return {"status": "ok", "version": draw(words), "checks": checks}


# Each mutation breaks the contract in one definite way.
HEALTH_MUTATIONS: dict[str, Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]] = {
    "status-503": lambda b: (503, b),
    "status-fail-in-200": lambda b: (200, {**b, "status": "fail"}),
    "no-version": lambda b: (200, {k: v for k, v in b.items() if k != "version"}),
    "a-check-fails": lambda b: (
        200,
        {**b, "checks": {**b["checks"], "dynamodb": {"status": "fail"}}},
    ),
    "checks-empty": lambda b: (200, {**b, "checks": {}}),
}


@settings(max_examples=150, deadline=None)
@given(data=st.data(), mutation=st.sampled_from([None, *HEALTH_MUTATIONS]))
def test_health_checks_pass_iff_contract_honoured(data: Any, mutation: str | None) -> None:
    # Feature: ci-cd-pipeline, Property 4: the checks pass exactly when the response honours
    # the contract (generated responses of a service)
    body = _health_body(data.draw)
    status = 200
    if mutation is not None:
        status, body = HEALTH_MUTATIONS[mutation](body)
    resp = Response(status, JSON, json.dumps(body).encode(), "GET /health")
    assert (contract.check_health(resp) == []) == (mutation is None)


ERROR_MUTATIONS: dict[str, Callable[[int, dict[str, Any], dict[str, str]], Any]] = {
    "wrong-status": lambda s, b, h: (s + 1, b, h),
    "wrong-code": lambda s, b, h: (s, {"error": {**b["error"], "code": "other"}}, h),
    "no-message": lambda s, b, h: (s, {"error": {"code": b["error"]["code"]}}, h),
    "flat-body": lambda s, b, h: (s, b["error"], h),
    "html": lambda s, b, h: (s, b, {"Content-Type": "text/html"}),
    "trace": lambda s, b, h: (
        s,
        {"error": {**b["error"], "message": 'Traceback (most recent call last):\n  File "x"'}},
        h,
    ),
    "banner": lambda s, b, h: (s, b, {**h, "Server": "Werkzeug/3.1.3 Python/3.11.7"}),
}


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from([400, 404, 405, 413, 415, 422]),
    code=words,
    message=st.from_regex(r"[A-Za-z][A-Za-z ,.;]{0,40}", fullmatch=True),
    server=st.sampled_from([None, "gunicorn", "nginx", "awselb"]),
    mutation=st.sampled_from([None, *ERROR_MUTATIONS]),
)
def test_error_checks_pass_iff_contract_honoured(
    status: int, code: str, message: str, server: str | None, mutation: str | None
) -> None:
    # Feature: ci-cd-pipeline, Property 4: the checks pass exactly when the response honours
    # the contract (generated responses of a service)
    body: Any = {"error": {"code": code, "message": message}}
    headers = dict(JSON) if server is None else {**JSON, "Server": server}
    sent_status = status
    if mutation is not None:
        sent_status, body, headers = ERROR_MUTATIONS[mutation](status, body, headers)
    resp = Response(sent_status, headers, json.dumps(body).encode(), "POST /x")
    assert (contract.check_error(resp, status, code) == []) == (mutation is None)


@settings(max_examples=150, deadline=None)
@given(
    email=text,
    valid=st.booleans(),
    reason=st.from_regex(r"[A-Za-z][a-z ]{0,30}", fullmatch=True),
    mutation=st.sampled_from([None, "verdict", "reason-on-valid", "no-reason", "not-bool", "500"]),
)
def test_email_checks_pass_iff_contract_honoured(
    email: str, valid: bool, reason: str, mutation: str | None
) -> None:
    # Feature: ci-cd-pipeline, Property 4: the checks pass exactly when the response honours
    # the contract (generated responses of a service)
    body: dict[str, Any] = {"email": email, "valid": valid, "reason": None if valid else reason}
    status = 200
    if mutation == "verdict":
        body = {**body, "valid": not valid, "reason": reason if valid else None}
    elif mutation == "reason-on-valid":
        valid = True
        body = {**body, "valid": True, "reason": reason}
    elif mutation == "no-reason":
        valid = False
        body = {**body, "valid": False, "reason": None}
    elif mutation == "not-bool":
        body = {**body, "valid": "yes" if valid else "no"}
    elif mutation == "500":
        status = 500
    resp = Response(status, JSON, json.dumps(body).encode(), "POST /api/v1/emails/validate")
    assert (contract.check_email(resp, valid, None) == []) == (mutation is None)


SPEC = {"width_px": 600, "height_px": 600, "head_ratio": [0.5, 0.69], "background": "#ffffff"}
EU = {"width_px": 413, "height_px": 531, "head_ratio": [0.71, 0.8], "background": "#ffffff"}


@settings(max_examples=120, deadline=None)
@given(
    extra=st.dictionaries(
        words.filter(lambda w: w not in ("us", "eu")),
        st.builds(
            lambda w, h, lo, span: {
                "width_px": w,
                "height_px": h,
                "head_ratio": [lo, min(1.0, lo + span)],
                "background": "#ffffff",
            },
            st.integers(1, 4000),
            st.integers(1, 4000),
            st.floats(0.01, 0.9),
            st.floats(0.0, 0.5),
        ),
        max_size=3,
    ),
    mutation=st.sampled_from(
        [None, "drop-us", "eu-size", "ratio-order", "grey", "zero-width", "float-height"]
    ),
)
def test_specs_checks_pass_iff_contract_honoured(
    extra: dict[str, Any], mutation: str | None
) -> None:
    # Feature: ci-cd-pipeline, Property 4: the checks pass exactly when the response honours
    # the contract (generated responses of a service)
    specs: dict[str, Any] = {"us": dict(SPEC), "eu": dict(EU), **extra}
    if mutation == "drop-us":
        del specs["us"]
    elif mutation == "eu-size":
        specs["eu"]["height_px"] = 600
    elif mutation == "ratio-order":
        specs["us"]["head_ratio"] = [0.69, 0.5]
    elif mutation == "grey":
        specs["eu"]["background"] = "#eeeeee"
    elif mutation == "zero-width":
        specs["us"]["width_px"] = 0
    elif mutation == "float-height":
        specs["us"]["height_px"] = 600.5
    resp = Response(200, JSON, json.dumps(specs).encode(), "GET /api/v1/specs")
    assert (contract.check_specs(resp) == []) == (mutation is None)


ORIGINS = st.from_regex(r"https://[a-z]{1,10}\.example", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(
    origin=ORIGINS,
    other=ORIGINS,
    allowed=st.booleans(),
    credentials=st.booleans(),
    answer=st.sampled_from(["echo", "star", "other", "none"]),
)
def test_cors_checks_pass_iff_contract_honoured(
    origin: str, other: str, allowed: bool, credentials: bool, answer: str
) -> None:
    # Feature: ci-cd-pipeline, Property 4: the checks pass exactly when the response honours
    # the contract (generated responses of a service)
    headers: dict[str, str] = {}
    if answer == "echo":
        headers["Access-Control-Allow-Origin"] = origin
    elif answer == "star":
        headers["Access-Control-Allow-Origin"] = "*"
    elif answer == "other" and other != origin:
        headers["Access-Control-Allow-Origin"] = other
    if credentials:
        headers["Access-Control-Allow-Credentials"] = "true"
    resp = Response(200, headers, b"{}", "GET /api/v1/specs")
    allow = headers.get("Access-Control-Allow-Origin")
    honours = allow == origin if allowed else allow is None
    check = contract.check_cors_allowed if allowed else contract.check_cors_denied
    assert (check(resp, origin) == []) == honours
