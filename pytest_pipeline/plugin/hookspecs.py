"""The hooks pytest-pipeline calls: how another plugin or a ``conftest.py`` reacts to a run.

Registered in ``pytest_addhooks`` (as pytest-xdist registers its own). Implement any of them
in a plugin or a ``conftest.py`` like a pytest hook, taking only the arguments you need::

    def pytest_pipeline_stage_started(stage, previous):
        print(f"stage {stage.value} started")

Every hook is called with keyword arguments; none of them returns anything the pipeline
uses. The run (:class:`~pytest_pipeline.plugin.run.PipelineRun`) is the one of the process
calling the hook. Where a hook is called "in the owning process", that is the single pytest
process or, under pytest-xdist, the controller (after every worker finished); the others are
called in the process that runs the tests (the single process or each worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_pipeline.deploy.rollback import Decision
    from pytest_pipeline.models import DeploymentMetadata, TestResult
    from pytest_pipeline.plugin.run import PipelineRun
    from pytest_pipeline.reporting.summary import RunSummary, StageSummary
    from pytest_pipeline.stages import Stage


@pytest.hookspec()
def pytest_pipeline_stage_started(run: PipelineRun, stage: Stage, previous: Stage | None) -> None:
    """This process starts the tests of ``stage`` (``previous``: the stage whose tests it ran
    before, None for its first stage).

    Called in the process that runs the tests, before the gate decides on the stage's first
    test (under pytest-xdist: in each worker, when that worker reaches the stage).
    """


@pytest.hookspec()
def pytest_pipeline_test_result(run: PipelineRun, result: TestResult) -> None:
    """``result`` is the pipeline's verdict on one finished test: its outcome over setup,
    call and teardown, its stage, whether the gate skipped it (``result.gated``), its first
    error line and its ``record_property`` values.

    Called in the owning process, once per test, in the order the tests finished. Results
    are made in batches (a few hundred tests, or whenever the run reads them), so the call
    may come some tests later; every result has been given before
    :func:`pytest_pipeline_stage_finished` is called.
    """


@pytest.hookspec()
def pytest_pipeline_stage_finished(run: PipelineRun, summary: StageSummary) -> None:
    """How one stage ended: ``summary.outcome`` (``passed``, ``failed``, ``halted`` or
    ``skipped``), its counts, the tests the gate skipped, its wall time, its first failure.

    Called in the owning process when the run ends, once per stage that had tests, in
    pipeline order, before the rollback decision.
    """


@pytest.hookspec()
def pytest_pipeline_rollback_decided(run: PipelineRun, decision: Decision) -> None:
    """The rollback policy's decision (``decision.action``: none, alert or rollback, and
    ``decision.reasons``) over the run's failed tests.

    Called in the owning process when the run ends with a failed test, before the rollback
    it decides on is carried out (the run's ``rollback`` record and ``deployment.json`` say
    how that went).
    """


@pytest.hookspec()
def pytest_pipeline_run_recorded(
    run: PipelineRun, record: DeploymentMetadata, path: Path | None, summary: RunSummary
) -> None:
    """The run's record: ``record`` is what ``reports/deployment.json`` holds (the
    deployment, every stage's results), written to ``path`` (None when it could not be
    written: the run fails and says why); ``summary`` is the run's summary.

    Called in the owning process when the run ends, after the rollback, before the
    notifications and before once-per-run resources are torn down (they still answer).
    """
