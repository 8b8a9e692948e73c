"""Rollback drill, on a throwaway clone of the serving environment: a deliberately broken
version is refused and rolled back there, while the serving environment is never touched
(whatever its deployment policy: AllAtOnce would be an outage) and nothing is left after."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from pytest_pipeline.plugin.extras import need_extra

need_extra("aws", "the rollback drill")

from pytest_pipeline.aws.bundles import Bundle  # noqa: E402
from pytest_pipeline.deploy.base import DeployError, DeployTarget  # noqa: E402
from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget  # noqa: E402
from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus  # noqa: E402
from pytest_pipeline.reporting.recorder import Recorder  # noqa: E402


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


def test_broken_version_is_refused_on_a_throwaway_clone(
    deployment: DeploymentMetadata,
    deploy_target: DeployTarget,
    broken_bundle: Bundle,
    target_url: str,
    pipeline_record: Recorder,
) -> None:
    """The broken bundle goes to a clone of the serving environment (made from its
    configuration), fails there with a reason and is rolled back; every request to the
    serving URL meanwhile is answered by the deployed version; afterwards the clone and the
    broken application version are gone."""
    assert isinstance(deploy_target, ElasticBeanstalkTarget)
    before = deploy_target.inventory()
    poller = Poller(target_url)
    poller.start()
    try:
        time.sleep(0.2)
        with deploy_target.throwaway_clone("drill") as clone:
            assert clone.url.rstrip("/") != target_url.rstrip("/")
            assert clone.current_version() == deployment.version_label
            with pytest.raises(DeployError) as failure:
                clone.deploy(broken_bundle)
            assert clone.current_version() == deployment.version_label
        time.sleep(0.2)
    finally:
        poller.done.set()
        poller.join(15)
    pipeline_record.figure(
        "rollback drill ran on",
        f"throwaway clone {clone.environment} of {deploy_target.environment}, removed afterwards",
    )
    pipeline_record.figure("failed requests to the serving environment", len(poller.failures))
    assert failure.value.remediation, "the error gives no remediation"
    assert failure.value.metadata and failure.value.metadata.status is (
        DeploymentStatus.ROLLED_BACK
    ), "the clone was not rolled back automatically"
    assert poller.sent > 0
    assert poller.failures == [], f"{len(poller.failures)} failed request(s): {poller.failures[:3]}"
    assert poller.versions == {deployment.version_label}
    assert deploy_target.current_version() == deployment.version_label
    assert deploy_target.inventory() == before, "the drill left environments behind"
    assert broken_bundle.version_label not in deploy_target.versions()
