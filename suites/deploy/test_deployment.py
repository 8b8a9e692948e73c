"""The new version is recorded, served at the target URL, and configured from the stack."""

from __future__ import annotations

import re
from typing import Any

import requests

from pytest_pipeline.deploy.base import DeployTarget
from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus, InfrastructureState
from pytest_pipeline.plugin.run import PipelineRun
from pytest_pipeline.settings import PipelineSettings


def health(url: str) -> dict[str, Any]:
    response = requests.get(f"{url}/health", timeout=10)
    assert response.status_code == 200, (
        f"GET {url}/health: {response.status_code} {response.text[:300]}"
    )
    body: dict[str, Any] = response.json()
    return body


def test_version_label_names_env_commit_and_time(
    deployment: DeploymentMetadata, pipeline_settings: PipelineSettings
) -> None:
    """``<env>-<short commit>-<UTC %Y%m%dT%H%M%SZ>``."""
    pattern = rf"{re.escape(pipeline_settings.env)}-[0-9A-Za-z]{{1,8}}-\d{{8}}T\d{{6}}Z"
    assert re.fullmatch(pattern, deployment.version_label), deployment.version_label


def test_deployment_is_recorded(deployment: DeploymentMetadata, pipeline_run: PipelineRun) -> None:
    """The run's deployment record holds the deployed label, status, URL and bundle hash."""
    record = pipeline_run.recorded("deployment")
    assert record is not None, "no deployment record"
    saved = DeploymentMetadata.from_dict(record)
    assert saved.status is DeploymentStatus.DEPLOYED
    assert (saved.version_label, saved.url, saved.bundle_sha256) == (
        deployment.version_label,
        deployment.url,
        deployment.bundle_sha256,
    )


def test_new_version_is_served(
    deployment: DeploymentMetadata, deploy_target: DeployTarget, target_url: str
) -> None:
    """``/health`` at the target URL reports the new label, and the target says it serves it."""
    assert health(target_url)["version"] == deployment.version_label
    assert deploy_target.current_version() == deployment.version_label


def test_environment_reached_the_app(
    deployment: DeploymentMetadata, target_url: str, stack: InfrastructureState
) -> None:
    """The app reaches the stack's table and bucket, named by the stack's outputs."""
    checks = health(target_url)["checks"]
    assert checks["dynamodb"]["status"] == "ok", checks["dynamodb"]
    assert checks["dynamodb"].get("table") == stack.output("TableName")
    assert checks["s3"]["status"] == "ok", checks["s3"]
    assert checks["s3"].get("bucket") == stack.output("PhotoBucketName")
