"""A small pipeline project for the rollback end-to-end runs: a tiny Flask app deployed to
Elastic Beanstalk on a long-lived embedded backend (``pytest-pipeline serve-aws``, shared by
the project's runs, as a team's long-lived stack would be), a tiny stack with the Elastic
Beanstalk application and environment, deploy and postdeploy tests, and a webhook receiver."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import tinystack

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.bundles import build_bundle, upload
from pytest_pipeline.aws.clients import AwsContext, resolve_context
from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget

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

PROCFILE = (
    "web: gunicorn --bind ${BIND_HOST}:${PORT} --workers 1 --threads 4 "
    "--worker-class gthread --graceful-timeout 2 application:application\n"
)

# The tiny stack: the deployment bucket and an Elastic Beanstalk application and environment
# whose option settings give the app what it reads. Immutable: a version that cannot start
# never takes traffic (the old one keeps serving).
TEMPLATE = tinystack.template("Immutable", bucket=True, timeout=30)

CONFTEST = '''
import pytest

from pytest_pipeline.aws import stacks


@pytest.fixture(scope="session")
def stack(pipeline_run, aws, pipeline_settings):
    """The tiny stack of infra/tiny.yaml: created by the first run on the long-lived
    backend, found unchanged by the later ones."""
    name = f"tiny-{pipeline_settings.env}"
    state = stacks.provision(aws, "infra/tiny.yaml", name, timeout=120, lint=False)
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


def serve_aws() -> tuple[subprocess.Popen[str], str]:
    """``pytest-pipeline serve-aws`` on a free port: the process and its endpoint URL.

    Its environments' virtualenvs come from the user's cache (pytester points HOME at the
    test's folder, where every test would build them again)."""
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    cache = os.environ.get("PIPELINE_EB_CACHE") or str(home / ".cache/pytest-pipeline/eb-venvs")
    server = subprocess.Popen(
        [sys.executable, "-m", "pytest_pipeline.aws.emulated.server"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPELINE_EB_CACHE": cache},
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


class Project:
    """The pytester project, its app, and its Elastic Beanstalk environments on ``endpoint``."""

    def __init__(self, pytester: pytest.Pytester, webhook: Webhook, endpoint: str) -> None:
        self.pytester = pytester
        self.webhook = webhook
        self.root = pytester.path
        self.app = self.root / "app"
        self.ctx: AwsContext = resolve_context("endpoint", endpoint)

    def environment(self, env: str = "staging") -> ElasticBeanstalkTarget:
        return ElasticBeanstalkTarget(self.ctx, f"tiny-{env}-app", f"tiny-{env}-env", timeout=60)

    def separate_job(self, url: str, *args: str, env: str = "staging") -> pytest.RunResult:
        """A postdeploy job against ``url`` with ``--rollback-on-failure``, as a workflow's
        later job runs: it provisions nothing, so the options name the environment."""
        return self.run(
            *("--env", env, "-m", "postdeploy", "--target-url", url, "--rollback-on-failure"),
            *("--eb-application", f"tiny-{env}-app", "--eb-environment", f"tiny-{env}-env"),
            *args,
        )

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
        """Create the tiny stack and deploy the app as ``label`` straight through the
        Elastic Beanstalk target; return the label."""
        state = stacks.provision(
            self.ctx, self.root / "infra" / "tiny.yaml", f"tiny-{env}", timeout=120, lint=False
        )
        bundle = build_bundle(self.app, self.root / "baseline", label)
        uploaded = upload(self.ctx, bundle, state.outputs["DeploymentBucketName"])
        self.environment(env).deploy(uploaded)
        return label

    def lose_bundles(self, keep: str | None, env: str = "staging") -> None:
        """Delete the S3 bundle of every application version but ``keep``: those versions
        can no longer be deployed (by a rollback least of all)."""
        eb = self.ctx.client("elasticbeanstalk")
        for version in eb.describe_application_versions(ApplicationName=f"tiny-{env}-app")[
            "ApplicationVersions"
        ]:
            if version["VersionLabel"] != keep:
                source = version["SourceBundle"]
                self.ctx.client("s3").delete_object(Bucket=source["S3Bucket"], Key=source["S3Key"])

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "reports" / "deployment.json").read_text())
        return data

    def html(self) -> str:
        return (self.root / "reports" / "report.html").read_text(encoding="utf-8")


def serving(project: Project, env: str = "staging") -> tuple[str | None, str | None]:
    """(the environment's label, the label /health reports through its URL)."""
    import requests

    target = project.environment(env)
    body = requests.get(f"{target.url}/health", timeout=5).json()
    return target.current_version(), body.get("version")


def write_template(root: Path) -> None:
    """The tiny stack's template at ``infra/tiny.yaml``."""
    (root / "infra").mkdir(exist_ok=True)
    (root / "infra" / "tiny.yaml").write_text(TEMPLATE)
