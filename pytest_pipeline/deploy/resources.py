"""Building deploy targets from settings, and the teardown functions of once-per-run records.

``runonce`` calls the teardown functions by reference (``"module:function"``) with the state
the fixture recorded, in whichever process owns the run, so they live here, importable
without pytest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pytest_pipeline.aws.bundles import AwsClientFactory
from pytest_pipeline.deploy.base import DeployTarget
from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget
from pytest_pipeline.deploy.local import LocalTarget, app_environment
from pytest_pipeline.runtime import vcs

log = logging.getLogger(__name__)

LOCAL_ROOT = ".pipeline"


def git_commit(root: Path) -> str:
    """The commit under test (:func:`pytest_pipeline.runtime.vcs.git_commit`), else ``nocommit``."""
    return vcs.git_commit(root) or "nocommit"


def make_target(
    kind: str,
    *,
    rootdir: Path,
    environment: str,
    ctx: AwsClientFactory,
    aws_env: dict[str, str],
    outputs: dict[str, str],
    timeout: float,
    strategy: str = "update",
    rollback_enabled: bool = False,
    eb_application: str | None = None,
    eb_environment: str | None = None,
    emulated: bool = False,
) -> DeployTarget:
    """The deploy target ``kind`` (``local`` or ``elasticbeanstalk``) for these settings.

    Building a target starts nothing: a local environment already running is attached to.
    ``emulated`` (an endpoint that does not serve Elastic Beanstalk, e.g. a stock moto server
    or LocalStack's free image) refuses ``elasticbeanstalk``: such emulators only stub it.
    """
    if kind == "local":
        return LocalTarget(
            rootdir / LOCAL_ROOT,
            environment,
            app_environment(outputs, aws_env),
            health_timeout=timeout,
        )
    if kind == "elasticbeanstalk":
        if emulated:
            raise ValueError(
                "deploy-target elasticbeanstalk needs an endpoint that serves Elastic Beanstalk: "
                "this one only stubs it (no application versions, updates, events or health); "
                "use the embedded backend (--aws-backend moto, or an endpoint started with "
                "`pytest-pipeline serve-aws`), --deploy-target local, or real AWS"
            )
        application = eb_application or outputs.get("ApplicationName")
        env_name = eb_environment or outputs.get("EnvironmentName")
        if not application or not env_name:
            raise ValueError(
                "deploy-target elasticbeanstalk needs eb-application and eb-environment "
                "(or the stack outputs ApplicationName and EnvironmentName)"
            )
        return ElasticBeanstalkTarget(
            ctx, application, env_name, strategy, timeout, rollback_enabled
        )
    raise ValueError(f"unknown deploy-target {kind!r}: use local or elasticbeanstalk")


def destroy_deployment(state: dict[str, Any]) -> None:
    """Teardown of the ``deployment`` record: stop a local environment (verified by PID),
    unless another run has deployed over it since (it serves another label: theirs to stop).

    An Elastic Beanstalk environment belongs to the stack and is left to it.
    """
    if state.get("target") != "local":
        log.info("deploy target %s is left to its stack", state.get("target"))
        return
    deployed = (state.get("metadata") or {}).get("version_label")
    target = LocalTarget(Path(state["root"]), str(state["environment"]))
    target.destroy(remove_files=True, owner=deployed)


def discard_bundle(state: dict[str, Any]) -> None:
    """Teardown of the ``bundle`` record: remove the local zip (S3 keeps its retention)."""
    path = state.get("path")
    if path:
        Path(path).unlink(missing_ok=True)
