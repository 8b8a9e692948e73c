"""Contract validators the property does not cover: HTTPS, security headers, preflights."""

from __future__ import annotations

from pytest_pipeline.postdeploy import contract
from pytest_pipeline.postdeploy.contract import Response


def test_https_redirect() -> None:
    good = Response(301, {"Location": "https://svc.example/health"}, b"", "GET /health")
    assert contract.check_https_redirect(good) == []
    served = Response(200, {}, b"{}", "GET /health")
    assert contract.check_https_redirect(served) == [
        "GET /health: plain HTTP must redirect to HTTPS, got 200 Location None"
    ]
    to_http = Response(302, {"Location": "http://svc.example/"}, b"", "GET /health")
    assert contract.check_https_redirect(to_http)


def test_security_headers_and_hsts_over_https() -> None:
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    }
    assert contract.check_security_headers(Response(200, headers, b"", "GET /"), https=False) == []
    problems = contract.check_security_headers(Response(200, headers, b"", "GET /"), https=True)
    assert problems == [
        "GET /: over HTTPS, expected Strict-Transport-Security with max-age > 0, got None"
    ]
    hsts = {**headers, "Strict-Transport-Security": "max-age=31536000; includeSubDomains"}
    assert contract.check_security_headers(Response(200, hsts, b"", "GET /"), https=True) == []
    assert contract.check_security_headers(Response(200, {}, b"", "GET /"), https=False) == [
        "GET /: expected X-Content-Type-Options: nosniff, got None",
        "GET /: expected a Content-Security-Policy header, got none",
        "GET /: framing must be denied (X-Frame-Options: DENY or CSP frame-ancestors 'none'), "
        "got X-Frame-Options None and CSP None",
    ]


def test_framing_denied_by_either_header() -> None:
    nosniff = {"X-Content-Type-Options": "nosniff"}
    by_xfo = {**nosniff, "Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY"}
    assert contract.check_security_headers(Response(200, by_xfo, b"", "GET /"), https=False) == []
    framable = {**nosniff, "Content-Security-Policy": "default-src 'self'"}
    problems = contract.check_security_headers(Response(200, framable, b"", "GET /"), https=False)
    assert len(problems) == 1 and "framing must be denied" in problems[0]


def test_banners_and_traces_leak() -> None:
    resp = Response(
        500,
        {"Server": "gunicorn/23.0.0", "X-Powered-By": "Flask"},
        b'Traceback (most recent call last):\n  File "/app/x.py", line 3',
        "GET /x",
    )
    problems = contract.check_no_leaks(resp)
    assert len(problems) == 3
    assert "leaks a stack trace" in problems[0]
    assert "Server header leaks software versions ('gunicorn/23.0.0')" in problems[1]
    assert contract.check_no_leaks(Response(200, {"Server": "gunicorn"}, b"{}")) == []


def test_preflight_must_allow_the_method() -> None:
    origin = "https://app.example.com"
    headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "GET, POST"}
    assert contract.check_preflight_allowed(Response(204, headers), origin, "POST") == []
    problems = contract.check_preflight_allowed(Response(204, headers), origin, "DELETE")
    assert problems == [
        "request: preflight for DELETE must list it in Access-Control-Allow-Methods, "
        "got 'GET, POST'"
    ]


def test_photo_json_claims_are_checked() -> None:
    spec = {"width_px": 600, "height_px": 600, "head_ratio": [0.5, 0.69]}
    body = b'{"spec": "eu", "width": 413, "height": 531, "face": {}, "checks": {}, "image": "!"}'
    problems = contract.check_photo(
        Response(200, {"Content-Type": "application/json"}, body), "us", spec
    )
    assert "request: expected spec 'us', got 'eu'" in problems
    assert any("expected a 600x600 photo" in p for p in problems)
    assert any("face.box must be [x, y, w, h]" in p for p in problems)
    assert any("'image' must be a base64 JPEG" in p for p in problems)
