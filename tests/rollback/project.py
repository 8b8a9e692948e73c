"""A small pipeline project for the rollback end-to-end runs: a tiny Flask app deployed to
the local target, a minimal stack on the embedded moto server, deploy and postdeploy tests,
and a webhook receiver."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pytest_pipeline.deploy.local import LocalTarget

APP = """
import os
import time
from pathlib import Path

from flask import Flask, jsonify

application = Flask(__name__)
HERE = Path(__file__).parent


@application.get("/health")
def health():
    ok = bool(os.environ.get("TABLE_NAME")) and bool(os.environ.get("BUCKET_NAME"))
    body = {"status": "ok" if ok else "fail", "version": os.environ.get("APP_VERSION"),
            "checks": {"dynamodb": {"status": "ok" if ok else "fail"}}}
    return jsonify(body), 200 if ok else 503


@application.get("/hello")
def hello():
    time.sleep(0.005)  # a latency no threshold of 1 ms can meet
    if (HERE / "broken.txt").exists():
        return jsonify({"error": {"code": "broken", "message": "this version is broken"}}), 500
    return jsonify({"hello": "world", "version": os.environ.get("APP_VERSION")})
"""

# What the minimal stack's outputs give the app (see CONFTEST).
APP_ENV = {"TABLE_NAME": "photos", "BUCKET_NAME": "photo-uploads"}

PROCFILE = (
    "web: gunicorn --bind ${BIND_HOST}:${PORT} --workers 1 --threads 4 "
    "--worker-class gthread --graceful-timeout 2 application:application\n"
)

CONFTEST = '''
import pytest

from pytest_pipeline.models import InfrastructureState, StackStatus


@pytest.fixture(scope="session")
def stack(pipeline_run, aws):
    """A minimal stack: the deployment bucket and the outputs the tiny app reads."""
    aws.client("s3").create_bucket(Bucket="deployments")
    state = InfrastructureState(
        stack_name="tiny",
        region=aws.region,
        status=StackStatus.CREATE_COMPLETE,
        backend=aws.backend,
        endpoint_url=aws.endpoint_url,
        outputs={
            "DeploymentBucketName": "deployments",
            "TableName": "photos",
            "PhotoBucketName": "photo-uploads",
        },
    )
    pipeline_run.record("infrastructure", state.to_dict())
    return state
'''

TESTS = """
import time

import pytest
import requests

from pytest_pipeline.postdeploy.thresholds import parse_threshold


@pytest.mark.deploy
def test_serves_its_label(deployment, target_url):
    body = requests.get(target_url + "/health", timeout=5).json()
    assert body["version"] == deployment.version_label


@pytest.mark.postdeploy
def test_hello(target_url):
    answer = requests.get(target_url + "/hello", timeout=5)
    assert answer.status_code == 200, f"/hello answered HTTP {answer.status_code}"


@pytest.mark.postdeploy
def test_latency(target_url, pipeline_settings):
    timings = []
    for _ in range(20):
        began = time.perf_counter()
        requests.get(target_url + "/hello", timeout=5)
        timings.append((time.perf_counter() - began) * 1000)
    p95 = sorted(timings)[18]
    for text in pipeline_settings.threshold:
        threshold = parse_threshold(text)
        if threshold.metric == "p95":
            assert threshold.holds(p95), f"p95 {p95:.1f} ms breaks {threshold.text}"


@pytest.mark.monitoring
def test_monitoring():
    pass
"""


class Webhook:
    """Collects what the pipeline posts to its webhook."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def subjects(self) -> list[str]:
        return [str(body.get("subject")) for body in self.bodies]


class Project:
    """The pytester project, its app and its local environment."""

    def __init__(self, pytester: pytest.Pytester, webhook: Webhook) -> None:
        self.pytester = pytester
        self.webhook = webhook
        self.root = pytester.path
        self.app = self.root / "app"

    def environment(self, env: str = "staging") -> LocalTarget:
        return LocalTarget(self.root / ".pipeline", env)

    def set_broken(self, broken: bool) -> None:
        marker = self.app / "broken.txt"
        if broken:
            marker.write_text("broken\n")
        else:
            marker.unlink(missing_ok=True)

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(
            "--webhook-url", self.webhook.url, "--teardown", "never", *args, timeout=180
        )

    def deploy_baseline(self, label: str, env: str = "staging") -> str:
        """Deploy the app as ``label`` straight through the local target and return the label.

        Done in a short-lived process, so the app's processes are not children of this one
        (a pipeline run stopping them later would otherwise wait for this process to reap).
        """
        script = (
            "import sys\n"
            "from pathlib import Path\n"
            "from pytest_pipeline.aws.bundles import build_bundle\n"
            "from pytest_pipeline.deploy.local import LocalTarget\n"
            "root, env, label = Path(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
            "bundle = build_bundle(root / 'app', root / 'baseline', label)\n"
            f"LocalTarget(root / '.pipeline', env, {APP_ENV!r}).deploy(bundle)\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, str(self.root), env, label], check=True, timeout=120
        )
        return label

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "reports" / "deployment.json").read_text())
        return data

    def html(self) -> str:
        return (self.root / "reports" / "report.html").read_text(encoding="utf-8")


def serving(project: Project, env: str = "staging") -> tuple[str | None, str | None]:
    """(state's serving label, the label /health reports through the stable URL)."""
    target = project.environment(env)
    return target.current_version(), target.health().get("version")
