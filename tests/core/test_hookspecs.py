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
    Path(config.rootpath, "calls.json").write_text(json.dumps(CALLS))
"""

TESTS = {
    "suites/predeploy/test_lint.py": "def test_lint():\n    pass\n",
    "suites/infra/test_stack.py": "def test_stack():\n    raise RuntimeError('stack broke')\n",
    "suites/deploy/test_bundle.py": "def test_bundle():\n    pass\n",
}


def test_a_conftest_sees_stages_results_the_rollback_decision_and_the_record(
    project: pytest.Pytester,
) -> None:
    project.mkpydir("suites")
    for stage in ("predeploy", "infra", "deploy"):
        project.mkdir(f"suites/{stage}")
    project.makepyfile(**{path.removesuffix(".py"): text for path, text in TESTS.items()})
    project.makeconftest(CONFTEST)
    result = project.runpytest_inprocess("--reports-dir", "reports")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    calls = json.loads((project.path / "calls.json").read_text())
    lint = "suites/predeploy/test_lint.py::test_lint"
    stack = "suites/infra/test_stack.py::test_stack"
    bundle = "suites/deploy/test_bundle.py::test_bundle"
    assert calls == [
        ["stage_started", "predeploy", None, "single"],
        ["stage_started", "infra", "predeploy", "single"],
        ["stage_started", "deploy", "infra", "single"],
        ["test_result", lint, "predeploy", "passed", False],
        ["test_result", stack, "infra", "failed", False],
        ["test_result", bundle, "deploy", "skipped", True],
        ["stage_finished", "predeploy", "passed", {"passed": 1}, 0, ""],
        [
            "stage_finished",
            "infra",
            "failed",
            {"failed": 1},
            0,
            f"{stack}: RuntimeError: stack broke",
        ],
        ["stage_finished", "deploy", "halted", {"skipped": 1}, 1, ""],
        ["rollback_decided", "none", ["no failure of a test matching rollback-on"]],
        [
            "run_recorded",
            "deployment.json",
            True,
            ["deploy", "infra", "predeploy"],
            "failed",
            "infra",
        ],
    ]


def test_a_hook_with_a_wrong_argument_is_refused(project: pytest.Pytester) -> None:
    # the hooks are specified: pluggy checks an implementation's arguments against them
    project.makeconftest("def pytest_pipeline_stage_started(stage, colour):\n    pass\n")
    project.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = project.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "colour" in result.stdout.str() + result.stderr.str()
