"""Real pipeline runs (pytester subprocesses) deploying a tiny app to Elastic Beanstalk on a
long-lived embedded backend: rollback, rollback disabled, the separate job with
--rollback-on-failure, and an alert-only breach."""

from __future__ import annotations

import pytest

from .project import Project, serving

pytestmark = pytest.mark.slow


def label_of(project: Project) -> str:
    return str(project.record()["version_label"])


def test_bad_version_is_rolled_back_to_the_previous_one_verified_and_reported(
    project: Project,
) -> None:
    v1 = project.deploy_baseline("staging-baseline-1")
    assert serving(project) == (v1, v1)

    project.set_broken(True)  # healthy, passes the deploy stage, fails a postdeploy check
    # under xdist: a worker deploys, the controller rolls back after every worker finished
    second = project.run("--env", "staging", "-n", "2")
    second.assert_outcomes(passed=2, failed=1, skipped=1)
    assert second.ret != 0
    record = project.record()
    v2 = record["version_label"]
    assert v2 != v1
    assert (record["status"], record["rollback_version"]) == ("rolled_back", v1)
    assert (
        "test_pipeline.py::test_hello: AssertionError: /hello answered HTTP 500"
        in (record["rollback_reason"])
    )
    assert serving(project) == (v1, v1)  # v1 serves again through the stable URL
    assert project.environment().health()["status"] == "ok"
    second.stdout.fnmatch_lines(
        [
            "*pipeline rollback*",
            "decision: rollback: 1 test(s) matching rollback-on failed, first *test_hello*",
            f"ROLLED BACK: staging rolled back from {v2} to {v1}; {v1} serves and is healthy*",
            "notification log: sent*",
            "notification webhook: sent*",
        ]
    )
    html = project.html()
    assert 'id="pipeline-rollback" data-status="rolled_back"' in html
    assert f"staging rolled back from {v2} to {v1}" in html
    # the ledger (deployment.json and the dashboard) ends with the rollback to v1
    ledger = {step["step"]: step for step in record["ledger"]}
    assert [step["step"] for step in record["ledger"]] == [
        "commit",
        "bundle sha256",
        "S3 key",
        "version label",
        "change set",
        "URL",
        "rollback",
    ]
    assert ledger["version label"]["value"] == v2 and ledger["rollback"]["value"] == v1
    assert ledger["bundle sha256"]["value"] == record["bundle_sha256"]
    assert f'data-step="rollback"><b>rollback</b>{v1}' in html
    failure, rolled_back = project.webhook.subjects()  # the failure, then the rollback
    assert failure.startswith("pipeline staging failed")
    assert rolled_back == f"pipeline staging: rolled back {v2} -> {v1}"
    outcome = project.webhook.bodies[1]["rollback"]["outcome"]
    assert (outcome["status"], outcome["to_version"]) == ("rolled_back", v1)
    log = (project.root / "reports" / "pipeline.log").read_text()
    assert f"pipeline staging: rolled back {v2} -> {v1}" in log

    # the next bad version cannot be rolled back: v1's bundle is gone (it still serves now)
    project.lose_bundles(keep=None)
    third = project.run("--env", "staging")
    third.assert_outcomes(passed=2, failed=1, skipped=1)
    assert third.ret != 0
    v3 = label_of(project)
    record = project.record()
    assert (record["status"], record["rollback_version"]) == ("rollback_failed", None)
    assert record["ledger"][-1]["note"].startswith("rollback FAILED: ")
    assert serving(project) == (v3, v3)  # Immutable: the failed restore never took traffic
    third.stdout.fnmatch_lines(
        [
            f"ROLLBACK FAILED: rollback of staging from {v3} to {v1} failed: *",
            f"what to do by hand: *restore {v1} by hand*",
            "last * event(s):",
            f"*ERROR [[]elasticbeanstalk[]] Unable to download from S3 location *{v1}.zip*",
        ]
    )
    assert 'id="pipeline-rollback" data-status="rollback_failed"' in project.html()
    assert project.webhook.subjects()[-1] == "pipeline staging: ROLLBACK FAILED, act by hand"


def test_disabled_then_separate_job_then_alert_only(project: Project) -> None:
    v1 = project.deploy_baseline("staging-baseline-1")

    # rollback disabled: the bad version stays and the failure is reported
    project.set_broken(True)
    kept = project.run("--env", "staging", "--rollback-enabled=false")
    kept.assert_outcomes(passed=2, failed=1, skipped=1)
    v2 = label_of(project)
    assert project.record()["status"] == "deployed"
    assert serving(project) == (v2, v2)
    kept.stdout.fnmatch_lines(
        [
            "decision: alert, no rollback: 1 test(s) matching rollback-on failed*",
            "  rollback is disabled for environment staging (rollback-enabled is off): "
            f"{v2} stays deployed",
        ]
    )

    # a separate job that did not deploy rolls back to the environment's previous version
    url = project.environment().url
    job = project.separate_job(url)
    job.assert_outcomes(passed=1, failed=1)
    assert job.ret != 0
    assert serving(project) == (v1, v1)
    record = project.record()
    assert (record["status"], record["rollback_version"], record["version_label"]) == (
        "rolled_back",
        v1,
        v2,
    )
    job.stdout.fnmatch_lines([f"ROLLED BACK: staging rolled back from {v2} to {v1}*"])

    # a threshold breach configured alert-only: an alert, no rollback (deployed blue/green:
    # afterwards the stack's environment serves v3 and no clone is left)
    project.set_broken(False)
    url = project.environment().url
    alert = project.run(
        *("--env", "staging", "--threshold", "p95<1ms", "--alert-only", "*test_latency*"),
        *("--eb-strategy", "swap"),
    )
    alert.assert_outcomes(passed=2, failed=1, skipped=1)
    v3 = label_of(project)
    assert serving(project) == (v3, v3) and project.environment().url == url
    assert project.environment().inventory() == ["tiny-staging-env:Ready"]
    assert project.record()["status"] == "deployed"
    alert.stdout.fnmatch_lines(
        [
            "decision: alert, no rollback: *test_latency: AssertionError: p95 * ms breaks "
            "p95<1ms (alert-only '*test_latency*': never rolls back)",
        ]
    )
    assert project.webhook.subjects()[-1] == "pipeline staging: ALERT, no rollback"


def test_a_missing_requirement_fails_the_deploy_stage_and_the_serving_version_stays(
    project: Project,
) -> None:
    """Elastic Beanstalk installs the bundle's requirements.txt, not the developer's
    virtualenv: a package the app imports but the file lacks fails the deploy stage with that
    reason, and the version serving before keeps serving."""
    v1 = project.deploy_baseline("staging-baseline-1")
    (project.app / "requirements.txt").write_text("gunicorn\n")  # flask is missing
    result = project.run("--env", "staging")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*No module named 'flask'*", "deploy * failed *"], consecutive=False
    )
    record = project.record()
    assert record["status"] in ("failed", "rolled_back") and record["version_label"] != v1
    assert serving(project) == (v1, v1)
