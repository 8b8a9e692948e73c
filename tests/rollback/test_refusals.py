"""Runs where the pipeline must not roll back, and says why (no deployment involved)."""

from __future__ import annotations

import json
import os

import pytest

FAILING_POSTDEPLOY = """
import pytest


@pytest.mark.postdeploy
def test_health(target_url):
    assert False, f"{target_url}/health is down"
"""


@pytest.fixture
def job(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project whose one postdeploy test fails against ``--target-url``."""
    for name in [name for name in os.environ if name.startswith("PIPELINE_")]:
        monkeypatch.delenv(name)
    pytester.makepyfile(test_job=FAILING_POSTDEPLOY)
    return pytester


def test_separate_job_refuses_to_roll_back_an_environment_that_does_not_serve_the_url(
    job: pytest.Pytester,
) -> None:
    result = job.runpytest_inprocess(
        "-p", "no:cacheprovider", "--target-url", "http://127.0.0.1:9", "--rollback-on-failure"
    )
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*pipeline rollback*",
            "decision: rollback: 1 test(s) matching rollback-on failed, first "
            "test_job.py::test_health: AssertionError: http://127.0.0.1:9/health is down*",
            "ROLLBACK REFUSED: nothing to roll back to: the tested URL http://127.0.0.1:9 is not "
            "served by elasticbeanstalk environment dev (a new embedded backend has no "
            "environments); it was left alone",
            "notification log: sent*",
        ]
    )
    record = json.loads((job.path / "reports" / "deployment.json").read_text())
    assert (record["status"], record["rollback_version"], record["rollback_reason"]) == (
        "pending",
        None,
        None,
    )


def test_separate_job_without_rollback_on_failure_only_alerts(job: pytest.Pytester) -> None:
    result = job.runpytest_inprocess("-p", "no:cacheprovider", "--target-url", "http://127.0.0.1:9")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "decision: alert, no rollback: 1 test(s) matching rollback-on failed*",
            "  this run deployed nothing (it tested a running deployment); pass "
            "--rollback-on-failure to roll the environment back to its previous version",
        ]
    )
    assert "ROLLED BACK" not in result.stdout.str()


def test_a_passing_run_says_nothing_about_rollback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.postdeploy\ndef test_ok():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--rollback-on-failure")
    result.assert_outcomes(passed=1)
    assert "pipeline rollback" not in result.stdout.str()
