"""Rollback drill: a deliberately broken version is refused while the current one keeps serving."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from pytest_pipeline.plugin.extras import need_extra

need_extra("aws", "the rollback drill")


from pytest_pipeline.aws.bundles import Bundle  # noqa: E402
from pytest_pipeline.deploy.base import DeployError, DeployTarget  # noqa: E402
from pytest_pipeline.models import DeploymentMetadata  # noqa: E402


class Poller(threading.Thread):
    """GETs ``/health`` every few milliseconds; remembers failures and the versions seen."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.sent = 0
        self.failures: list[str] = []
        self.versions: set[str] = set()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                response = requests.get(f"{self.url}/health", timeout=10)
                self.sent += 1
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}")
                else:
                    self.versions.add(response.json().get("version"))
            except requests.RequestException as error:
                self.failures.append(f"{type(error).__name__}: {error}")
            time.sleep(0.02)


def test_broken_version_is_refused_and_previous_keeps_serving(
    deployment: DeploymentMetadata,
    deploy_target: DeployTarget,
    broken_bundle: Bundle,
    target_url: str,
) -> None:
    """Deploying a bundle whose app cannot start fails with a reason, and every request sent
    meanwhile is answered by the version deployed before it."""
    poller = Poller(target_url)
    poller.start()
    try:
        time.sleep(0.2)
        with pytest.raises(DeployError) as failure:
            deploy_target.deploy(broken_bundle)
        time.sleep(0.2)
    finally:
        poller.done.set()
        poller.join(15)
    assert failure.value.remediation, "the error gives no remediation"
    assert poller.sent > 0
    assert poller.failures == [], f"{len(poller.failures)} failed request(s): {poller.failures[:3]}"
    assert poller.versions == {deployment.version_label}
    assert deploy_target.current_version() == deployment.version_label
