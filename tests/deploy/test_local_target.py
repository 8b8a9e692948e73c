"""The local target on the tiny app: blue/green, failure, attach, rollback, teardown."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests

from pytest_pipeline.aws.bundles import Bundle
from pytest_pipeline.deploy.base import DeployError, DeployTarget
from pytest_pipeline.deploy.launcher import ProcessRef
from pytest_pipeline.deploy.local import LocalTarget, app_environment
from pytest_pipeline.models import DeploymentStatus

APP_ENV = {"TABLE_NAME": "photos", "BUCKET_NAME": "pictures"}


class Poller:
    """Sends requests to a URL in the background and counts failures."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = 0
        self.failures: list[str] = []
        self.versions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                response = session.get(self.url + "/health", timeout=5)
                self.sent += 1
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}")
                else:
                    version = response.json()["version"]
                    if not self.versions or self.versions[-1] != version:
                        self.versions.append(version)
            except requests.RequestException as error:
                self.failures.append(repr(error))

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def family(pids: list[int]) -> list[psutil.Process]:
    procs = []
    for pid in pids:
        proc = psutil.Process(pid)
        procs += [proc, *proc.children(recursive=True)]
    return procs


def test_app_environment_maps_stack_outputs() -> None:
    env = app_environment(
        {"TableName": "t", "PhotoBucketName": "b", "AllowedOrigins": "https://x", "Other": "o"},
        {"AWS_DEFAULT_REGION": "eu-west-1"},
    )
    assert env == {
        "TABLE_NAME": "t",
        "BUCKET_NAME": "b",
        "ALLOWED_ORIGINS": "https://x",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


@pytest.mark.slow
def test_full_cycle(tmp_path: Path, make_bundle: Callable[..., Bundle]) -> None:
    target = LocalTarget(tmp_path / ".pipeline", "dev", APP_ENV, health_timeout=3)
    first = target.deploy(make_bundle("dev-v1"))
    assert isinstance(target, DeployTarget)
    assert first.status is DeploymentStatus.DEPLOYED and first.previous_version is None
    url = target.url
    checks = requests.get(url + "/health", timeout=5).json()["checks"]
    assert (checks["dynamodb"]["table"], checks["s3"]["bucket"]) == ("photos", "pictures")

    # a process recorded by a run that crashed mid-deploy is stopped by the next deploy
    ghost = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    state = json.loads(target.state_path.read_text())
    state["apps"]["dev-v0 (starting)"] = {**ProcessRef.of(ghost.pid).to_dict(), "port": 1}
    target.state_path.write_text(json.dumps(state))

    # v2 while requests flow, with one slow request in flight on v1 across the switch
    with Poller(url) as poller, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(requests.get, url + "/slow?seconds=1.5", timeout=10)
        second = target.deploy(make_bundle("dev-v2"))
        assert slow.result().json() == {"version": "dev-v1"}
    assert poller.sent > 20 and poller.failures == []
    assert poller.versions == ["dev-v1", "dev-v2"]
    assert second.previous_version == "dev-v1" and target.url == url
    assert ghost.wait(5) is not None
    assert any("stale process of dev-v0" in e.message for e in second.events)

    # a broken v3 never takes traffic; v2 keeps serving throughout
    with Poller(url) as poller, pytest.raises(DeployError) as failure:
        target.deploy(make_bundle("dev-v3", failing_check="dynamodb"))
    assert poller.failures == [] and poller.versions == ["dev-v2"]
    assert "health check 'dynamodb" in failure.value.message
    assert failure.value.remediation and failure.value.events
    assert "application log" in str(failure.value)
    assert target.current_version() == "dev-v2"

    # another process attaches through the state file and rolls back
    attached = LocalTarget(tmp_path / ".pipeline", "dev", APP_ENV)
    assert (attached.url, attached.current_version()) == (url, "dev-v2")
    assert attached.versions() == ["dev-v1", "dev-v2", "dev-v3"]
    back = attached.rollback()
    assert back.status is DeploymentStatus.ROLLED_BACK and back.rollback_version == "dev-v1"
    assert requests.get(url + "/health", timeout=5).json()["version"] == "dev-v1"
    assert target.health()["status"] == "ok"
    assert any("failed health check" in e.message for e in target.events())

    # a version whose files were damaged cannot start: a DeployError, and v1 keeps serving
    (target._version_dir("dev-v2") / "Procfile").unlink()
    with pytest.raises(DeployError, match="could not start") as damaged:
        attached.rollback("dev-v2")
    assert "Procfile" in (damaged.value.remediation or "")
    assert requests.get(url + "/health", timeout=5).json()["version"] == "dev-v1"

    processes = family(target.pids())
    assert len(processes) >= 3  # proxy, gunicorn master and its worker
    assert target.destroy(owner="dev-v2") == []  # dev-v1 serves: not this owner's to stop
    assert all(p.is_running() for p in processes)
    target.destroy(owner="dev-v1")
    assert not [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert target.pids() == []


@pytest.mark.slow
def test_rollback_without_previous_version_explains(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / ".pipeline", "dev")
    with pytest.raises(DeployError, match="no previous version") as failure:
        target.rollback()
    assert failure.value.remediation
    with pytest.raises(DeployError, match="no deployment yet"):
        _ = target.url
