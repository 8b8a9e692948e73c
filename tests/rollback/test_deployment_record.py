"""A separate job (post-deployment, monitoring) rolls back with the deploying job's record
(``deployment-record``): from the version it deployed to the one that served before it, and
only while that version still serves."""

from __future__ import annotations

from pytest_pipeline.deploy.rollback import (
    Action,
    OutcomeStatus,
    RollbackSettings,
    decide,
    execute,
)
from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus

from .fakes import FakeTarget
from .test_policy import no_sleep, result

SEPARATE = RollbackSettings("staging", on_failure=True)
FAILED = [result("postdeploy", "test_photos")]


def record(
    label: str = "v3", previous: str | None = "v1", status: str = "deployed"
) -> DeploymentMetadata:
    """The deployment job's record (Elastic Beanstalk names its own environment)."""
    status_ = DeploymentStatus(status)
    return DeploymentMetadata(
        "staging-env", label, "elasticbeanstalk", status_, previous_version=previous
    )


def test_the_record_names_the_versions_even_past_drill_versions() -> None:
    # v2-drill was created after v1 (a rollback drill's broken bundle): the version before
    # the serving one is not the one that served before the deploy; the record knows it
    decision = decide(FAILED, None, SEPARATE, tested=record())
    assert (decision.action, decision.from_version, decision.to_version) == (
        Action.ROLLBACK,
        "v3",
        "v1",
    )
    assert not decision.deployed_this_run
    target = FakeTarget(["v1", "v2-drill", "v3"], "v3", None, name="elasticbeanstalk")
    outcome = execute(decision, target, environment="staging", sleep=no_sleep)
    assert outcome.status is OutcomeStatus.ROLLED_BACK, outcome.lines()
    assert (target.rollbacks, target.serving) == (["v1"], "v1")


def test_a_newer_deploy_since_the_tested_one_is_left_alone() -> None:
    decision = decide(FAILED, None, SEPARATE, tested=record("v3", "v1"))
    target = FakeTarget(["v1", "v3", "v4"], "v4", "v3", name="elasticbeanstalk")
    outcome = execute(decision, target, environment="staging", sleep=no_sleep)
    assert outcome.status is OutcomeStatus.REFUSED and target.rollbacks == []
    assert "serves v4, not v3 that this job tested" in outcome.message


def test_nothing_to_roll_back_to_or_a_failed_deploy_only_alerts() -> None:
    first = decide(FAILED, None, SEPARATE, tested=record("v1", None))
    assert first.action is Action.ALERT and "first version" in str(first.blocked)
    failed = decide(FAILED, None, SEPARATE, tested=record(status="failed"))
    assert failed.action is Action.ALERT and "ended failed" in str(failed.blocked)
    off = decide(FAILED, None, RollbackSettings("staging"), tested=record())
    assert off.action is Action.ALERT  # rollback-on-failure is off
