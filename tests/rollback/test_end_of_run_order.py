"""The end of a run goes: rollback, then record and report, then notifications, then teardown."""

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
from pytest_pipeline.plugin.run import PHASE_NOTIFY, PHASE_ROLLBACK, get_run


def pytest_configure(config):
    run = get_run(config)
    # registered in the reverse of the order they must run in
    run.add_finalizer(lambda: order_helpers.note("notify"), phase=PHASE_NOTIFY)
    run.add_finalizer(lambda: order_helpers.note("report 2"))
    run.add_finalizer(lambda: order_helpers.note("report 1"))
    run.add_finalizer(lambda: order_helpers.note("rollback"), phase=PHASE_ROLLBACK)
"""

TEST = """
def test_resource(pipeline_run):
    pipeline_run.once("thing", lambda: {"name": "thing"}, "order_helpers:destroy")
"""


def test_finalizer_phases_run_in_order_before_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(order_helpers=HELPERS, test_order=TEST)
    pytester.makeconftest(CONFTEST)
    pytester.syspathinsert()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--teardown", "always")
    result.assert_outcomes(passed=1)
    order = (pytester.path / "order.txt").read_text().split("\n")
    assert order[:-1] == ["rollback", "report 1", "report 2", "notify", "teardown thing"]


def test_the_plugin_registers_rollback_first_and_its_notification_after_the_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
from pytest_pipeline.plugin.run import PHASE_NOTIFY, PHASE_ROLLBACK, PHASE_REPORT, get_run


def pytest_configure(config):
    run = get_run(config)
    plugin = config.pluginmanager.get_plugin("pipeline-rollback")
    reporting = config.pluginmanager.get_plugin("pipeline-reporting")
    phases = {fn: phase for phase, _, fn in run._finalizers}
    assert phases[plugin.roll_back] == PHASE_ROLLBACK
    assert phases[reporting.finish] == PHASE_REPORT
    assert phases[plugin.notify] == PHASE_NOTIFY
    assert PHASE_ROLLBACK < PHASE_REPORT < PHASE_NOTIFY
"""
    )
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
