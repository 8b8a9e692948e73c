"""The rollback policy and executor in-process, over a deploy target in memory."""

from __future__ import annotations

from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_pipeline.deploy.rollback import (
    Action,
    OutcomeStatus,
    RollbackSettings,
    decide,
    execute,
    previous_label,
    record_outcome,
)
from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus, TestOutcome, TestResult

from .fakes import FakeTarget

STAGES = ("predeploy", "infra", "deploy", "postdeploy", "monitoring")
ON = RollbackSettings(environment="staging", enabled=True)


def result(stage: str, name: str, outcome: str = "failed", message: str = "") -> TestResult:
    return TestResult(
        f"suites/{stage}/test_{stage}.py::{name}",
        TestOutcome(outcome),
        stage=stage,
        message=message or f"AssertionError: {name} broke",
    )


def deployed(
    label: str = "v2", previous: str | None = "v1", status: str = "deployed"
) -> DeploymentMetadata:
    return DeploymentMetadata(
        "staging", label, "elasticbeanstalk", DeploymentStatus(status), previous_version=previous
    )


def no_sleep(seconds: float) -> None:
    """Polls in these tests never wait."""


def ticking() -> object:
    ticks = count()
    return lambda: float(next(ticks))


def test_postdeploy_failure_after_this_runs_deploy_rolls_back_to_the_previous_version() -> None:
    results = [result("deploy", "test_served", "passed"), result("postdeploy", "test_emails")]
    decision = decide(results, deployed(), ON)
    assert decision.action is Action.ROLLBACK
    assert (decision.from_version, decision.to_version) == ("v2", "v1")
    assert [t.nodeid for t in decision.triggers] == [
        "suites/postdeploy/test_postdeploy.py::test_emails"
    ]
    assert "test_emails: AssertionError: test_emails broke" in decision.reasons[0]


@pytest.mark.parametrize(
    ("deployment", "policy", "blocked"),
    [
        (deployed(), RollbackSettings("dev"), "rollback is disabled for environment dev"),
        (deployed(previous=None), ON, "nothing to roll back to: v2 is the first version"),
        (deployed(previous="v2"), ON, "nothing to roll back to"),
        (deployed(status="failed"), ON, "deployment of v2 ended failed"),
        (None, ON, "pass --rollback-on-failure"),
    ],
    ids=["disabled", "first-version", "redeploy-same-label", "deploy-failed", "no-deploy"],
)
def test_a_rollback_that_cannot_or_must_not_happen_alerts_and_says_why(
    deployment: DeploymentMetadata | None, policy: RollbackSettings, blocked: str
) -> None:
    decision = decide([result("postdeploy", "test_cors")], deployment, policy)
    assert decision.action is Action.ALERT
    assert decision.blocked is not None and blocked in decision.blocked
    assert blocked in " ".join(decision.reasons)


def test_alert_only_wins_over_rollback_on_by_marker_and_by_node_id_glob() -> None:
    latency = result("postdeploy", "test_threshold[p95<1ms]")
    alarm = result("monitoring", "test_alarm")
    policy = RollbackSettings("staging", True, alert_only=("*test_threshold*", "alarms"))
    decision = decide(
        [latency, alarm], deployed(), policy, {alarm.nodeid: ("monitoring", "alarms")}
    )
    assert decision.action is Action.ALERT and decision.blocked is None
    assert [(a.nodeid, a.rule) for a in decision.alerts] == [
        (latency.nodeid, "*test_threshold*"),
        (alarm.nodeid, "alarms"),
    ]
    assert "never rolls back" in decision.reasons[0]


def test_only_failures_matching_rollback_on_count() -> None:
    results = [
        result("predeploy", "test_bandit"),
        result("postdeploy", "test_slow", "skipped"),
        result("postdeploy", "test_flaky", "xfailed"),
    ]
    assert decide(results, deployed(), ON).action is Action.NONE
    marked = RollbackSettings("staging", True, rollback_on=("smoke",))
    smoke = result("deploy", "test_smoke", "error")
    decision = decide([smoke], deployed(), marked, {smoke.nodeid: ("deploy", "smoke")})
    assert decision.action is Action.ROLLBACK and decision.triggers[0].rule == "smoke"


def test_separate_job_rolls_back_to_the_environments_previous_version() -> None:
    policy = RollbackSettings("staging", on_failure=True)
    decision = decide([result("postdeploy", "test_photos")], None, policy)
    assert decision.action is Action.ROLLBACK and decision.to_version is None
    target = FakeTarget(["v1", "v2"], "v2", "v1")
    outcome = execute(decision, target, environment="staging", sleep=no_sleep)
    assert outcome.status is OutcomeStatus.ROLLED_BACK, outcome.lines()
    assert (outcome.from_version, outcome.to_version, target.serving) == ("v2", "v1", "v1")
    assert outcome.health["status"] == "ok"
    record = record_outcome(None, decision, outcome)
    assert (record.status, record.rollback_version) == (DeploymentStatus.ROLLED_BACK, "v1")
    assert "test_photos" in str(record.rollback_reason)


def test_separate_job_refuses_clearly_when_there_is_nothing_to_roll_back_to() -> None:
    decision = decide(
        [result("postdeploy", "test_photos")], None, RollbackSettings("prod", on_failure=True)
    )
    target = FakeTarget(["v1"], "v1", None)
    outcome = execute(decision, target, environment="prod", sleep=no_sleep)
    assert outcome.status is OutcomeStatus.REFUSED and target.rollbacks == []
    assert outcome.message.startswith(
        "nothing to roll back to: elasticbeanstalk environment prod has no"
    )
    assert "v1 keeps serving" in outcome.message


def test_previous_label_of_elastic_beanstalk_is_the_version_before_the_serving_one() -> None:
    # a later broken version exists too: it must never be the rollback target
    target = FakeTarget(["v1", "v2", "v3-broken"], "v2", None, name="elasticbeanstalk")
    assert previous_label(target) == "v1"
    assert previous_label(FakeTarget(["v2"], "v2", name="elasticbeanstalk")) is None
    assert previous_label(FakeTarget(["v1", "v2"], "v2", "v1")) == "v1"
    # a drill's broken version left between them (a killed run) is never restored
    assert previous_label(FakeTarget(["v1", "v1-broken-120000", "v2"], "v2", None)) == "v1"


def test_a_failing_rollback_is_rollback_failed_with_events_and_what_to_do() -> None:
    decision = decide([result("postdeploy", "test_cors")], deployed(), ON)
    target = FakeTarget(["v1", "v2"], "v2", "v1", fail_rollback=True)
    outcome = execute(decision, target, environment="staging", sleep=no_sleep)
    assert outcome.status is OutcomeStatus.ROLLBACK_FAILED
    text = "\n".join(outcome.lines())
    assert text.startswith("ROLLBACK FAILED: rollback of staging from v2 to v1 failed")
    assert "what to do by hand: fix it by hand; restore v1 by hand" in text
    assert "instances failed to start v1" in text
    record = record_outcome(deployed(), decision, outcome)
    assert record.status is DeploymentStatus.ROLLBACK_FAILED and record.rollback_version is None


def test_a_restored_version_that_is_not_healthy_is_a_failed_rollback() -> None:
    decision = decide([result("postdeploy", "test_cors")], deployed(), ON)
    target = FakeTarget(["v1", "v2"], "v2", "v1", unhealthy={"v1"})
    outcome = execute(
        decision, target, environment="staging", verify_timeout=5, sleep=no_sleep, clock=ticking()
    )
    assert outcome.status is OutcomeStatus.ROLLBACK_FAILED
    assert "v1 to serve and be healthy (last health: {'status': 'degraded'" in outcome.message


# -- Property 6 ------------------------------------------------------------------------------

OUTCOMES = st.sampled_from(["passed", "passed", "failed", "error", "skipped"])


@st.composite
def pipeline_runs(draw: st.DrawFn) -> dict[str, object]:
    """A run: each stage's test outcomes (gate applied), the deployment, settings, versions."""
    stages = {stage: draw(st.lists(OUTCOMES, max_size=3)) for stage in STAGES}
    deploys = draw(st.booleans()) and bool(stages["deploy"])
    deploy_ok = deploys and draw(st.booleans())
    if deploys and not deploy_ok:
        stages["deploy"] = ["error", *stages["deploy"][1:]]
    if draw(st.booleans()):  # the gate: after a failed stage, later stages are skipped
        failed = False
        for stage in STAGES:
            if failed:
                stages[stage] = ["skipped"] * len(stages[stage])
            failed = failed or any(o in ("failed", "error") for o in stages[stage])
    return {
        "stages": stages,
        "deployment": deploys,
        "deploy_ok": deploy_ok,
        "has_previous": draw(st.booleans()),
        "enabled": draw(st.booleans()),
        "on_failure": draw(st.booleans()),
        "rollback_on": tuple(draw(st.sets(st.sampled_from(STAGES[2:])))),
        "alert_only": tuple(draw(st.sets(st.sampled_from(["monitoring", "*test_1*", "slo"])))),
    }


# Feature: ci-cd-pipeline, Property 6: a rollback happens exactly when the policy says,
# and the previous version is what serves afterwards
@settings(max_examples=200, deadline=None)
@given(run=pipeline_runs())
def test_property_rollback_exactly_when_the_policy_says(run: dict[str, object]) -> None:
    stages: dict[str, list[str]] = run["stages"]  # type: ignore[assignment]
    results, markers = [], {}
    for stage, outcomes in stages.items():
        for index, outcome in enumerate(outcomes):
            item = result(stage, f"test_{index}", outcome)
            results.append(item)
            markers[item.nodeid] = (stage, "slo") if index == 2 else (stage,)
    has_previous = bool(run["has_previous"])
    deployment = None
    if run["deployment"]:
        status = "deployed" if run["deploy_ok"] else "failed"
        deployment = deployed("v2", "v1" if has_previous else None, status)
    policy = RollbackSettings(
        "staging",
        enabled=bool(run["enabled"]),
        on_failure=bool(run["on_failure"]),
        rollback_on=run["rollback_on"],  # type: ignore[arg-type]
        alert_only=run["alert_only"],  # type: ignore[arg-type]
    )
    previous = "v1" if has_previous else None
    target = FakeTarget(["v1", "v2"] if has_previous else ["v2"], "v2", previous)

    decision = decide(results, deployment, policy, markers)
    if decision.action is Action.ROLLBACK:
        outcome = execute(decision, target, environment="staging", sleep=no_sleep)

    # the oracle, stated independently of the policy's code
    def alert_only(item: TestResult) -> bool:
        names = {item.stage, *markers[item.nodeid]}
        return bool(names & set(policy.alert_only)) or (
            "*test_1*" in policy.alert_only and "::test_1" in item.nodeid
        )

    triggered = any(
        r.outcome in (TestOutcome.FAILED, TestOutcome.ERROR)
        and r.stage in policy.rollback_on
        and not alert_only(r)
        for r in results
    )
    if deployment is not None:
        allowed = run["deploy_ok"] and (policy.enabled or policy.on_failure) and has_previous
    else:
        allowed = policy.on_failure
    assert (decision.action is Action.ROLLBACK) == (triggered and bool(allowed))
    rolled_back = decision.action is Action.ROLLBACK and has_previous
    assert len(target.rollbacks) == (1 if rolled_back else 0)
    assert target.current_version() == ("v1" if rolled_back else "v2")
    if decision.action is Action.ROLLBACK:
        expected = OutcomeStatus.ROLLED_BACK if has_previous else OutcomeStatus.REFUSED
        assert outcome.status is expected
