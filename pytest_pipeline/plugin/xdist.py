"""The gate and the stage order under pytest-xdist (registered only when xdist distributes).

The controller gives every worker the run's id and folder (``workerinput``) and appends one
JSON line per finished or failed test to ``<run_dir>/results/results.jsonl`` as the reports
arrive (it sees every worker's reports, and the crash reports of dead workers). Before a
worker runs a stage-S test it waits until every selected test of an earlier stage has a line
there, or until one of them failed, and then applies the gate. Every worker collects the
same items sorted by stage and xdist's load scheduling hands each worker its items in that
order, so the earliest unfinished test never waits: this cannot deadlock. ``gate-timeout``
bounds the wait anyway (other schedulers, a stuck test).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from pytest_pipeline.plugin.run import (
    WORKERINPUT_DIR,
    WORKERINPUT_ID,
    WORKERINPUT_OWNER,
    PipelineRun,
    error_line,
)
from pytest_pipeline.retry import Backoff, RetryError, wait_until
from pytest_pipeline.stages import Gate, Halt, Stage

RESULTS = Path("results") / "results.jsonl"
POLL = Backoff(base=0.005, cap=0.2)


class GateTimeoutError(TimeoutError):
    """Earlier-stage tests did not finish within ``gate-timeout``."""


class XdistController:
    """Controller side: shares the run folder with the workers and records test outcomes."""

    def __init__(self, run: PipelineRun) -> None:
        self.run = run
        self.path = run.run_dir / RESULTS
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = None

    def pytest_configure_node(self, node: Any) -> None:
        """Tell a new worker which run it belongs to."""
        node.workerinput[WORKERINPUT_ID] = self.run.run_id
        node.workerinput[WORKERINPUT_DIR] = str(self.run.run_dir)
        node.workerinput[WORKERINPUT_OWNER] = self.run.owner_pid

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Append a line when a test failed (any phase) or finished (teardown)."""
        stage = getattr(report, "pipeline_stage", None)
        if stage is None or not (report.failed or report.when == "teardown"):
            return
        line = {
            "nodeid": report.nodeid,
            "stage": stage,
            "failed": bool(report.failed),
            "message": error_line(report) if report.failed else "",
        }
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def pytest_unconfigure(self) -> None:
        """Close the results file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class WorkerGate:
    """Worker side: waits for earlier stages (from the controller's results) and gates.

    Made and owned by the worker's :class:`PipelineRun` (``run.worker_gate``); reads the
    run folder and the ``gate-timeout`` setting."""

    def __init__(self, run: PipelineRun) -> None:
        self.path = run.run_dir / RESULTS
        self.timeout = run.options.gate_timeout
        self.gate = Gate(enabled=True)
        self._offset = 0
        self._done: set[str] = set()
        self._earlier: dict[Stage, set[str]] = {}
        self._ready: set[Stage] = set()

    def prepare(self, staged: Sequence[tuple[str, Stage | None]]) -> None:
        """Remember which selected tests each stage waits for (every worker selects the same)."""
        by_stage: dict[Stage, set[str]] = {}
        for nodeid, stage in staged:
            if stage is not None:
                by_stage.setdefault(stage, set()).add(nodeid)
        for stage in Stage:
            self._earlier[stage] = set().union(*(ids for s, ids in by_stage.items() if s < stage))

    def _read(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1  # only complete lines
        self._offset += end
        for raw in chunk[:end].splitlines():
            line = json.loads(raw)
            self._done.add(line["nodeid"])
            if line["failed"]:
                self.gate.record_failure(Stage(line["stage"]), line["nodeid"], line["message"])

    def halt_for(self, stage: Stage) -> Halt | None:
        """The halt for a stage-``stage`` test, after waiting for the earlier stages."""
        if stage not in self._ready:
            waiting_for = self._earlier.get(stage, set())

            def settled() -> bool:
                self._read()
                return self.gate.halt_for(stage) is not None or waiting_for <= self._done

            try:
                wait_until(
                    settled,
                    what=f"the tests of the stages before {stage.value}",
                    deadline=self.timeout,
                    backoff=POLL,
                )
            except RetryError:
                missing = sorted(waiting_for - self._done)
                shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
                raise GateTimeoutError(
                    f"pipeline gate: {len(missing)} earlier-stage test(s) did not finish within "
                    f"gate-timeout={self.timeout:g}s ({shown}); raise "
                    f"--gate-timeout or check for a stuck test"
                ) from None
            self._ready.add(stage)
        return self.gate.halt_for(stage)
