"""Rollback of an Elastic Beanstalk environment through the executor, against scripted
responses (botocore Stubber) shaped like the real API's DescribeEnvironments,
DescribeEvents, DescribeApplicationVersions and UpdateEnvironment answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from ebstub import EbScript, EbShapes

from pytest_pipeline.deploy.rollback import (
    Action,
    OutcomeStatus,
    RollbackSettings,
    decide,
    execute,
    record_outcome,
)
from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus, TestOutcome, TestResult

APP, ENV, CNAME = "passport-photo", "passport-prod", "passport-prod.us-east-1.elasticbeanstalk.com"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FAILED_EMAILS = TestResult(
    "suites/postdeploy/test_emails.py::test_validate",
    TestOutcome.FAILED,
    stage="postdeploy",
    message="AssertionError: HTTP 500 from /api/v1/emails/validate",
)


SHAPES = EbShapes(APP, ENV, CNAME, T0, events_after=timedelta(minutes=5))
env, events = SHAPES.env, SHAPES.events


class Script(EbScript):
    """A stubbed Elastic Beanstalk client behind the real target."""

    def __init__(self) -> None:
        super().__init__(SHAPES)


@pytest.fixture
def script() -> Iterator[Script]:
    s = Script()
    with s.stub:
        yield s
        s.stub.assert_no_pending_responses()


def run(
    decision_settings: RollbackSettings, deployment: DeploymentMetadata | None, s: Script
) -> Any:
    decision = decide([FAILED_EMAILS], deployment, decision_settings)
    assert decision.action is Action.ROLLBACK
    ticks = count()
    outcome = execute(
        decision,
        s.target,
        environment="prod",
        verify_timeout=30,
        sleep=lambda seconds: None,
        clock=lambda: 10.0 * next(ticks),
    )
    return decision, outcome


def test_this_runs_bad_version_is_rolled_back_and_verified_green(script: Script) -> None:
    deployment = DeploymentMetadata(
        "prod", "prod-v2", "elasticbeanstalk", DeploymentStatus.DEPLOYED, previous_version="prod-v1"
    )
    script.live(env("Ready", "Green", "prod-v2"), times=2)  # executor, then rollback()
    script.starts_update("prod-v1")
    script.poll(
        env("Ready", "Green", "prod-v1"),
        events(
            ("INFO", "Environment update is starting."),
            ("INFO", "Environment update completed successfully."),
        ),
    )
    script.live(env("Ready", "Green", "prod-v1"), times=4)  # url, health, current, url
    decision, outcome = run(RollbackSettings("prod", enabled=True), deployment, script)
    assert outcome.status is OutcomeStatus.ROLLED_BACK, outcome.lines()
    assert (outcome.from_version, outcome.to_version) == ("prod-v2", "prod-v1")
    assert outcome.health["color"] == "Green" and outcome.url == f"http://{CNAME}"
    assert "Environment update completed successfully." in [e.message for e in outcome.events]
    record = record_outcome(deployment, decision, outcome)
    assert (record.status, record.rollback_version) == (DeploymentStatus.ROLLED_BACK, "prod-v1")
    assert "test_validate: AssertionError: HTTP 500" in str(record.rollback_reason)


def test_separate_job_restores_the_version_before_the_serving_one(script: Script) -> None:
    script.live(env("Ready", "Green", "prod-v2"), times=2)  # current version, previous label
    script.versions("prod-v1", "prod-v2", "prod-v3-broken")  # a failed later upload exists
    script.live(env("Ready", "Green", "prod-v2"))  # rollback()
    script.update("prod-v1")
    script.poll(
        env("Ready", "Green", "prod-v1"),
        events(("INFO", "Environment update completed successfully.")),
    )
    script.live(env("Ready", "Green", "prod-v1"), times=4)
    _, outcome = run(RollbackSettings("prod", on_failure=True), None, script)
    assert outcome.status is OutcomeStatus.ROLLED_BACK, outcome.lines()
    assert (outcome.from_version, outcome.to_version) == ("prod-v2", "prod-v1")


def test_separate_job_refuses_when_the_serving_version_is_the_first(script: Script) -> None:
    script.live(env("Ready", "Green", "prod-v1"), times=2)
    script.versions("prod-v1")
    script.versions("prod-v1")  # listed in the refusal
    _, outcome = run(RollbackSettings("prod", on_failure=True), None, script)
    assert outcome.status is OutcomeStatus.REFUSED
    assert (
        "nothing to roll back to: elasticbeanstalk environment prod has no version before prod-v1"
        in outcome.message
    )


def test_a_rollback_that_fails_on_the_instances_is_rollback_failed(script: Script) -> None:
    deployment = DeploymentMetadata(
        "prod", "prod-v2", "elasticbeanstalk", DeploymentStatus.DEPLOYED, previous_version="prod-v1"
    )
    script.live(env("Ready", "Green", "prod-v2"), times=2)
    script.update("prod-v1")
    failed = events(
        ("INFO", "Environment update is starting."),
        (
            "ERROR",
            "During an aborted deployment, some instances may have deployed the new version.",
        ),
        ("ERROR", "Failed to deploy application."),
    )
    script.poll(env("Updating", "Grey", "prod-v1"), failed)
    script.poll(env("Ready", "Red", "prod-v1"), failed)
    decision, outcome = run(RollbackSettings("prod", enabled=True), deployment, script)
    assert outcome.status is OutcomeStatus.ROLLBACK_FAILED
    text = "\n".join(outcome.lines())
    assert "ROLLBACK FAILED: rollback of prod from prod-v2 to prod-v1 failed" in text
    assert "Failed to deploy application." in text  # the platform's events
    assert (
        f"aws elasticbeanstalk update-environment --environment-name {ENV} --version-label prod-v1"
        in text
    )
    record = record_outcome(deployment, decision, outcome)
    assert record.status is DeploymentStatus.ROLLBACK_FAILED
    assert any(e.severity == "ERROR" and e.source == "elasticbeanstalk" for e in record.events)


def test_a_restored_version_that_turns_red_is_rollback_failed(script: Script) -> None:
    deployment = DeploymentMetadata(
        "prod", "prod-v2", "elasticbeanstalk", DeploymentStatus.DEPLOYED, previous_version="prod-v1"
    )
    script.live(env("Ready", "Green", "prod-v2"), times=2)
    script.update("prod-v1")
    script.poll(
        env("Ready", "Green", "prod-v1"),
        events(("INFO", "Environment update completed successfully.")),
    )
    script.live(env("Ready", "Green", "prod-v1"))  # rollback()'s url
    for _ in range(3):  # verification: health then current version, until the deadline
        script.live(env("Ready", "Red", "prod-v1"), times=2)
    script.live(env("Ready", "Red", "prod-v1"))  # events() reads the live environment
    script.stub.add_response(
        "describe_events",
        events(("WARN", "Environment health has transitioned from Ok to Severe.")),
        {"ApplicationName": APP, "EnvironmentName": ENV, "MaxRecords": 100},
    )
    _, outcome = run(RollbackSettings("prod", enabled=True), deployment, script)
    assert outcome.status is OutcomeStatus.ROLLBACK_FAILED
    assert "prod-v1 to serve and be healthy" in outcome.message
    assert "'color': 'Red'" in outcome.message
    assert "transitioned from Ok to Severe." in "\n".join(outcome.lines())
