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
from pytest_pipeline.runtime import vcs

log = logging.getLogger(__name__)


def git_commit(root: Path) -> str:
    """The commit under test (:func:`pytest_pipeline.runtime.vcs.git_commit`), else ``nocommit``."""
    return vcs.git_commit(root) or "nocommit"


LOCAL_ALIAS = "local"
"""``deploy-target local``: a name for the emulated Elastic Beanstalk (the same
``ElasticBeanstalkTarget``), accepted only where the backend emulates it."""


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
    """The deploy target for these settings: always an :class:`ElasticBeanstalkTarget`.

    ``kind`` is ``elasticbeanstalk`` or ``local``, a name for the *emulated* Elastic
    Beanstalk: the same code, refused on real AWS so that it never deploys there by surprise.
    Building a target starts nothing. ``emulated`` (an endpoint that does not serve Elastic
    Beanstalk, e.g. a stock moto server or LocalStack's free image) is refused: such
    emulators only stub it. ``rootdir`` and ``aws_env`` are not needed by Elastic Beanstalk
    (its environments get their settings from the stack) and kept for callers' convenience.
    """
    del rootdir, aws_env
    if kind not in (LOCAL_ALIAS, "elasticbeanstalk"):
        raise ValueError(f"unknown deploy-target {kind!r}: use elasticbeanstalk (or local)")
    if kind == LOCAL_ALIAS and not getattr(ctx, "emulated", True):
        raise ValueError(
            "deploy-target local is the emulated Elastic Beanstalk of the embedded backend; "
            "this run's AWS is real: pass --deploy-target elasticbeanstalk to deploy to real "
            "Elastic Beanstalk, or --aws-backend moto to deploy on this machine"
        )
    if emulated:
        raise ValueError(
            f"deploy-target {kind} needs an endpoint that serves Elastic Beanstalk: "
            "this one only stubs it (no application versions, updates, events or health); "
            "use the embedded backend (--aws-backend moto, or an endpoint started with "
            "`pytest-pipeline serve-aws`), or real AWS"
        )
    application = eb_application or outputs.get("ApplicationName")
    env_name = eb_environment or outputs.get("EnvironmentName")
    if not application or not env_name:
        raise ValueError(
            f"deploy-target {kind} needs eb-application and eb-environment "
            "(or the stack outputs ApplicationName and EnvironmentName): the stack of "
            f"environment {environment} has no Elastic Beanstalk environment"
        )
    return ElasticBeanstalkTarget(ctx, application, env_name, strategy, timeout, rollback_enabled)


def destroy_deployment(state: dict[str, Any]) -> None:
    """Teardown of the ``deployment`` record: nothing of its own. The Elastic Beanstalk
    environment belongs to the stack; deleting the stack (``teardown``) terminates it."""
    log.info("deploy target %s is left to its stack", state.get("target"))


def discard_bundle(state: dict[str, Any]) -> None:
    """Teardown of the ``bundle`` record: remove the local zip (S3 keeps its retention)."""
    path = state.get("path")
    if path:
        Path(path).unlink(missing_ok=True)
