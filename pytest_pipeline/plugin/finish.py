"""The end of a run, in one function read top to bottom: :func:`finish_run`.

Called from the one ``pytest_sessionfinish`` hook of the plugin. In the owning process (the
single pytest process, or the xdist controller after every worker finished) the order is:

1. every test left gets its result; how each stage ended (``pytest_pipeline_stage_finished``);
2. the rollback decision (``pytest_pipeline_rollback_decided``) and, when the policy says so,
   the rollback: the run's deployment record must say what happened before it is written;
3. the record: ``deployment.json`` with its ledger, GitHub outputs, the run's metrics
   (``pytest_pipeline_run_recorded``);
4. notifications: the failure notification, the alert or rollback notification (SNS and the
   webhook still answer: nothing is torn down yet);
5. teardown: once-per-run resources (by the ``teardown`` policy), the environment's lock.

An xdist worker only makes its last results and ends (step 1 without the stages' summary).
A step that raises does not stop the later ones: it becomes a ``PytestWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_pipeline.plugin.run import PipelineRun


def finish_run(session: pytest.Session, run: PipelineRun, exitstatus: int) -> None:
    """End ``run`` (pytest ended its tests with ``exitstatus``), in the order above."""
    problems: list[str] = []

    def step(name: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as error:  # one step failing must not skip the later ones
            problems.append(f"pipeline end of run: {name} failed: {type(error).__name__}: {error}")

    run.end(exitstatus)
    if run.owns_run:
        step("stage summaries", lambda: stages_finished(session.config, run))
        rollback, reporting = run.rollback, run.reporting
        if rollback is not None:
            step("rollback", rollback.roll_back)
        if reporting is not None:
            step("record", reporting.record_run)
            step("failure notification", reporting.notify_failure)
        if rollback is not None:
            step("rollback notification", rollback.notify)
        if reporting is not None:
            step("last log line", reporting.log_finished)
    problems += run.teardown()

    for problem in problems:
        warnings.warn(pytest.PytestWarning(problem), stacklevel=1)
    # a record that could not be written, a rollback or a failed one: never a green run
    rolled_back = run.rollback is not None and run.rollback.fails_run
    if (run.end_problems or rolled_back) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def stages_finished(config: pytest.Config, run: PipelineRun) -> None:
    """``pytest_pipeline_stage_finished`` for each stage that had tests, in pipeline order."""
    for summary in run.stage_summary():
        config.hook.pytest_pipeline_stage_finished(run=run, summary=summary)
