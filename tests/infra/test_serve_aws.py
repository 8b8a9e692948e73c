"""``pytest-pipeline serve-aws``: the embedded backend as a standalone server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from pytest_pipeline.aws.clients import DUMMY_CREDENTIALS

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("pytest-pipeline")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(CLI), "serve-aws", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A running ``serve-aws`` and its URL (its first line of output)."""
    process = start("--port", "0")
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_prints_its_url_serves_elastic_beanstalk_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[str], str],
) -> None:
    """First line: the endpoint URL. Elastic Beanstalk is served there; SIGTERM stops the
    server and every environment it runs, with exit status 0."""
    process, url = served
    assert url.startswith("http://127.0.0.1:")
    keys = {key.lower(): value for key, value in DUMMY_CREDENTIALS.items()}
    eb = boto3.client("elasticbeanstalk", endpoint_url=url, region_name="us-east-1", **keys)
    eb.create_application(ApplicationName="served-app")
    env = eb.create_environment(ApplicationName="served-app", EnvironmentName="served-env")
    cname = env["CNAME"]
    with socket.create_connection(tuple(cname.split(":")), timeout=5):  # type: ignore[arg-type]
        pass  # the environment's load balancer listens
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    with pytest.raises(OSError):
        socket.create_connection(tuple(cname.split(":")), timeout=2)  # type: ignore[arg-type]


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start("--port", str(port))
        _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err


@pytest.mark.slow
def test_the_infra_stage_runs_against_it(
    served: tuple[subprocess.Popen[str], str], tmp_path: Path
) -> None:
    """``--aws-backend endpoint --aws-endpoint-url`` provisions the stack on the served backend,
    Elastic Beanstalk environment and URL output included."""
    _, url = served
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
    env["PIPELINE_REPORTS_DIR"] = str(tmp_path / "reports")
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "suites/infra/test_stack.py", "-q",
            "-p", "no:cacheprovider", "--aws-backend", "endpoint", "--aws-endpoint-url", url,
            f"--junitxml={junit}", f"--html={tmp_path / 'r.html'}",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    url_case = cases["test_environment_url_output"]
    assert url_case.find("skipped") is None and url_case.find("failure") is None
