"""The end of a run goes: stages, rollback, record, notifications, then teardown."""

from __future__ import annotations

import pytest

HELPERS = """
from pathlib import Path

ORDER = Path(__file__).with_name("order.txt")


def note(what):
    with ORDER.open("a") as handle:
        handle.write(what + "\\n")


def destroy(state):
    note("teardown " + state["name"])
"""

CONFTEST = """
import order_helpers
from pytest_pipeline.aws import monitoring

send = monitoring.notify


def notify(channels, subject, message, **kwargs):
    order_helpers.note("notify " + subject)
    return send(channels, subject, message, **kwargs)


monitoring.notify = notify


def pytest_pipeline_stage_finished(summary):
    order_helpers.note(f"stage {summary.name} {summary.outcome}")


def pytest_pipeline_rollback_decided(decision):
    order_helpers.note(f"rollback decided: {decision.action.value}")


def pytest_pipeline_run_recorded(path):
    order_helpers.note(f"recorded {path.name}")


def pytest_unconfigure():
    monitoring.notify = send
"""

TEST = """
import pytest


@pytest.mark.predeploy
def test_resource(pipeline_run):
    pipeline_run.once("thing", lambda: {"name": "thing"}, "order_helpers:destroy")
    assert False, "lint found a problem"
"""


def run_failing_test(pytester: pytest.Pytester, conftest: str) -> tuple[list[str], str]:
    """Run the one failing test with ``conftest``: what happened at the end, in order, and
    the terminal output."""
    pytester.makepyfile(order_helpers=HELPERS, test_order=TEST)
    pytester.makeconftest(conftest)
    pytester.syspathinsert()
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--teardown", "always", "--reports-dir", "reports"
    )
    result.assert_outcomes(failed=1)
    order = (pytester.path / "order.txt").read_text().split("\n")
    return order[:-1], result.stdout.str()


def test_the_end_of_a_run_goes_in_one_order(pytester: pytest.Pytester) -> None:
    order, output = run_failing_test(pytester, CONFTEST)
    assert "pipeline end of run" not in output
    assert order == [
        "stage predeploy failed",
        "rollback decided: none",
        "recorded deployment.json",
        "notify pipeline dev failed at predeploy",
        "teardown thing",
    ]


def test_a_failing_step_does_not_skip_the_later_ones(pytester: pytest.Pytester) -> None:
    broken = (
        CONFTEST
        + """

def pytest_configure(config):
    from pytest_pipeline.plugin.run import get_run

    reporting = get_run(config).reporting  # starts the run now (it would after collection)

    def broken():
        raise OSError("disk on fire")

    reporting.record_run = broken
"""
    )
    order, output = run_failing_test(pytester, broken)
    assert "pipeline end of run: record failed: OSError: disk on fire" in output
    assert order == [
        "stage predeploy failed",
        "rollback decided: none",
        "notify pipeline dev failed at predeploy",
        "teardown thing",
    ]
