"""The plugin's own hooks (``pytest_pipeline_*``): a conftest implements them, a run calls them."""

from __future__ import annotations

import json

import pytest

CONFTEST = """
import json
from pathlib import Path

CALLS = []


def pytest_pipeline_stage_started(run, stage, previous):
    CALLS.append(["stage_started", stage.value, previous.value if previous else None, run.role])


def pytest_pipeline_test_result(run, result):
    CALLS.append(["test_result", result.nodeid, result.stage, result.outcome.value, result.gated])


def pytest_pipeline_stage_finished(run, summary):
    CALLS.append(["stage_finished", summary.name, summary.outcome, summary.counts,
                  summary.gated, summary.first_failure])


def pytest_pipeline_rollback_decided(run, decision):
    CALLS.append(["rollback_decided", decision.action.value, list(decision.reasons)])


def pytest_pipeline_run_recorded(run, record, path, summary):
    CALLS.append(["run_recorded", path.name, path.is_file(), sorted(record.stage_results),
                  summary.outcome, summary.halted_stage])


def pytest_unconfigure(config):
    from pytest_pipeline.plugin.run import get_run

    name = f"calls-{get_run(config).worker_id}.json"
    Path(config.rootpath, name).write_text(json.dumps(CALLS))
"""

TESTS = {
    "suites/predeploy/test_lint.py": "def test_lint():\n    pass\n",
    "suites/infra/test_stack.py": "def test_stack():\n    raise RuntimeError('stack broke')\n",
    "suites/deploy/test_bundle.py": "def test_bundle():\n    pass\n",
}


LINT = "suites/predeploy/test_lint.py::test_lint"
STACK = "suites/infra/test_stack.py::test_stack"
BUNDLE = "suites/deploy/test_bundle.py::test_bundle"
RESULTS = [
    ["test_result", LINT, "predeploy", "passed", False],
    ["test_result", STACK, "infra", "failed", False],
    ["test_result", BUNDLE, "deploy", "skipped", True],
]
END = [
    ["stage_finished", "predeploy", "passed", {"passed": 1}, 0, ""],
    ["stage_finished", "infra", "failed", {"failed": 1}, 0, f"{STACK}: RuntimeError: stack broke"],
    ["stage_finished", "deploy", "halted", {"skipped": 1}, 1, ""],
    ["rollback_decided", "none", ["no failure of a test matching rollback-on"]],
    ["run_recorded", "deployment.json", True, ["deploy", "infra", "predeploy"], "failed", "infra"],
]
"""What the owning process is told at the end of the run (single process or controller)."""


def run_project(project: pytest.Pytester, *args: str) -> dict[str, list[list[object]]]:
    """Run the three stages with the conftest; the hook calls of each process."""
    project.mkpydir("suites")
    for stage in ("predeploy", "infra", "deploy"):
        project.mkdir(f"suites/{stage}")
    project.makepyfile(**{path.removesuffix(".py"): text for path, text in TESTS.items()})
    project.makeconftest(CONFTEST)
    result = project.runpytest_subprocess("--reports-dir", "reports", *args)
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    return {
        path.stem.removeprefix("calls-"): json.loads(path.read_text())
        for path in project.path.glob("calls-*.json")
    }


def test_a_conftest_sees_stages_results_the_rollback_decision_and_the_record(
    project: pytest.Pytester,
) -> None:
    calls = run_project(project)
    assert list(calls) == ["main"]
    assert calls["main"] == [
        ["stage_started", "predeploy", None, "single"],
        ["stage_started", "infra", "predeploy", "single"],
        ["stage_started", "deploy", "infra", "single"],
        *RESULTS,
        *END,
    ]


@pytest.mark.slow
def test_under_xdist_workers_start_stages_and_the_controller_hears_the_rest(
    project: pytest.Pytester,
) -> None:
    calls = run_project(project, "-n", "2")
    controller = calls.pop("controller")
    assert sorted(controller[:3]) == sorted(RESULTS)  # in the order the workers finished
    assert controller[3:] == END
    assert sorted(calls) == ["gw0", "gw1"]
    started = [call for worker in calls.values() for call in worker]
    assert {call[0] for call in started} == {"stage_started"}
    assert {call[3] for call in started} == {"worker"}
    assert {call[1] for call in started} == {"predeploy", "infra", "deploy"}


def test_a_hook_with_a_wrong_argument_is_refused(project: pytest.Pytester) -> None:
    # the hooks are specified: pluggy checks an implementation's arguments against them
    project.makeconftest("def pytest_pipeline_stage_started(stage, colour):\n    pass\n")
    project.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = project.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "colour" in result.stdout.str() + result.stderr.str()
