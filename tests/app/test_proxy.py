"""The bundle's proxy settings (.platform/nginx) in a real nginx in front of app/ under
gunicorn, laid out as Elastic Beanstalk includes them: the hostile corpus answered in the
contract's JSON shape whoever refuses it (nginx, gunicorn or the app), the app's own errors
passed through unchanged. Skipped where nginx is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pytest_pipeline.postdeploy.hostile import (
    UPLOAD_PATHS,
    ImageCase,
    RawClient,
    Request,
    answer_problems,
    corpus,
    image_bytes,
    upload_request,
)

from .helpers import APP_DIR
from .serving import free_port, serve_app

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
]
CONF_D = APP_DIR / ".platform" / "nginx" / "conf.d"


def _nginx_conf(prefix: Path, port: int, upstream: str) -> str:
    """A minimal nginx.conf shaped like Elastic Beanstalk's (conf.d in http, conf.d/
    elasticbeanstalk in the default server), proxying to `upstream`."""
    temp = " ".join(
        f"{name}_temp_path {prefix / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # As root, nginx's workers drop to "nobody", who cannot enter pytest's private tmp.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    {temp}
    include {CONF_D}/*.conf;
    server {{
        listen 127.0.0.1:{port} default_server;
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
        include {CONF_D}/elasticbeanstalk/*.conf;
    }}
}}
"""


@pytest.fixture(scope="module")
def proxied(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx with the bundle's settings in front of app/ under gunicorn; its URL."""
    assert NGINX is not None
    prefix = tmp_path_factory.mktemp("nginx")
    with serve_app(moto_endpoint, prefix / "gunicorn.log", WEB_CONCURRENCY="1") as app:
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(_nginx_conf(prefix, port, app.base))
        check = subprocess.run(
            [NGINX, "-t", "-c", str(conf), "-p", str(prefix)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(prefix)])
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.2)
            else:
                pytest.fail(f"nginx did not proxy /health: {(prefix / 'error.log').read_text()}")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_hostile_corpus_through_the_proxy(proxied: str) -> None:
    client = RawClient(proxied)
    try:
        problems = [p for request in corpus() for p in answer_problems(client.send(request))]
    finally:
        client.close()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (
            Request("POST", UPLOAD_PATHS[0], (("Content-Type", "text/plain"),), b"x" * (11 << 20)),
            413,
            "too_large",
        ),
        (Request("GET", "/api/v1/specs?" + "a" * 9000, label="9 kB line"), 414, "uri_too_long"),
        (Request("GET", "/health", (("X-Big", "a" * 9000),)), 431, "headers_too_large"),
    ],
    ids=["body-over-MAX_UPLOAD_MB", "request-line", "header-field"],
)
def test_proxy_refusals_are_contract_json(
    proxied: str, request_: Request, status: int, code: str
) -> None:
    client = RawClient(proxied)
    try:
        response = client.send(request_)
    finally:
        client.close()
    assert not answer_problems(response)
    assert (response.status, response.json_field("error")["code"]) == (status, code)


def test_app_errors_pass_through_unchanged(proxied: str) -> None:
    data = image_bytes(ImageCase("PNG", "P+tRNS>256", 32, 32))
    client = RawClient(proxied)
    try:
        response = client.send(upload_request(UPLOAD_PATHS[0], data, label="bad palette"))
    finally:
        client.close()
    assert response.status == 415
    assert response.json_field("error")["code"] == "unsupported_media_type"
