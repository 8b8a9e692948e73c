"""The state of one pipeline run, registered with pytest as the ``pipeline-run`` plugin object.

:func:`get_run` finds it from any ``pytest.Config``. It holds the resolved settings
(:class:`~pytest_pipeline.settings.PipelineSettings`), the run id and the run folder shared by the
xdist controller and its workers, every test's result with its stage, the gate, records
other areas persist for the controller (``record``/``recorded``) and end-of-run finalizers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.models import PropertyValue, TestOutcome, TestResult
from pytest_pipeline.runtime import envlock, orphans, runonce
from pytest_pipeline.runtime.signals import TermAsInterrupt
from pytest_pipeline.settings import PipelineSettings
from pytest_pipeline.stages import Gate, Halt, Stage, first_line

PLUGIN_NAME = "pipeline-run"
RUNS_DIR = Path(".pipeline") / "runs"
KEEP_RUNS = 20
PRUNE_AFTER_S = 3600.0
WORKERINPUT_ID = "pipeline_run_id"
WORKERINPUT_DIR = "pipeline_run_dir"
WORKERINPUT_OWNER = "pipeline_run_owner_pid"
_KIND = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# End-of-run phases of finalizers, in the order they run (then once-per-run teardown):
PHASE_ROLLBACK = 10
"""Decide on the deployment and roll it back (the record must say what happened)."""
PHASE_REPORT = 20
"""The deployment record, report summary and failure notification (the default)."""
PHASE_NOTIFY = 30
"""Notifications about what the earlier phases did (SNS still answers: before teardown)."""

RUN_KEY = pytest.StashKey["PipelineRun"]()
"""``config.stash[RUN_KEY]`` is the run (use :func:`get_run`)."""
STAGE_KEY = pytest.StashKey["Stage | None"]()
"""``item.stash[STAGE_KEY]``: the stage of a collected test (None for unstaged tests)."""
GATED_KEY = pytest.StashKey[bool]()
"""``item.stash[GATED_KEY]`` is True when the gate skipped the test."""


def get_run(config: pytest.Config) -> PipelineRun:
    """The run of this pytest session (raises a clear error before ``pytest_configure``)."""
    try:
        return config.stash[RUN_KEY]
    except KeyError:
        raise RuntimeError(
            "the pipeline run is not configured yet (get_run() is available from "
            "pytest_configure on, and not when the settings were invalid)"
        ) from None


@dataclass
class StageSummary:
    """What one stage did in this run."""

    stage: Stage
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    gated: int = 0
    xfailed: int = 0
    xpassed: int = 0
    start: float | None = None
    stop: float | None = None
    halt: Halt | None = None

    @property
    def total(self) -> int:
        """Every test of the stage."""
        return self.passed + self.failed + self.errors + self.skipped + self.xfailed + self.xpassed

    @property
    def duration(self) -> float:
        """Wall time from the stage's first test start to its last test end, in seconds."""
        if self.start is None or self.stop is None:
            return 0.0
        return max(0.0, self.stop - self.start)

    @property
    def outcome(self) -> str:
        """failed, halted (skipped by the gate), skipped or passed."""
        if self.failed or self.errors:
            return "failed"
        if self.gated and self.gated == self.skipped and not (self.passed or self.xpassed):
            return "halted"
        if self.total and self.skipped + self.xfailed == self.total and not self.passed:
            return "skipped"
        return "passed"

    def counts(self) -> str:
        """``"3 passed, 1 failed"`` (non-zero counts only)."""
        parts = [
            (self.passed, "passed"),
            (self.failed, "failed"),
            (self.errors, "error" if self.errors == 1 else "errors"),
            (self.skipped - self.gated, "skipped"),
            (self.gated, "halted"),
            (self.xfailed, "xfailed"),
            (self.xpassed, "xpassed"),
        ]
        return ", ".join(f"{count} {label}" for count, label in parts if count) or "no tests"


class _Open:
    """A test of this run: its stage, whether the gate skipped it, its reports so far."""

    __slots__ = ("gated", "nodeid", "reports", "stage")

    def __init__(self, nodeid: str, stage: Stage | None, gated: bool) -> None:
        self.nodeid = nodeid
        self.stage = stage
        self.gated = gated
        self.reports: list[pytest.TestReport] = []


SETTLE_EVERY = 500
"""Finished tests become results in batches (when read, or every this many tests)."""


_STAGES = {stage.value: stage for stage in Stage}
_COUNTER = {
    TestOutcome.PASSED: "passed",
    TestOutcome.FAILED: "failed",
    TestOutcome.ERROR: "errors",
    TestOutcome.SKIPPED: "skipped",
    TestOutcome.XFAILED: "xfailed",
    TestOutcome.XPASSED: "xpassed",
}
"""The :class:`StageSummary` counter of each outcome."""


def error_line(report: pytest.TestReport | pytest.CollectReport) -> str:
    """The first line of a failed report's error (``AssertionError: ...``)."""
    longrepr = report.longrepr
    crash: Any = getattr(longrepr, "reprcrash", None)
    message: Any = getattr(crash, "message", None) if crash is not None else None
    if message:
        return first_line(str(message))
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return first_line(str(longrepr[2]))
    text = report.longreprtext if longrepr is not None else ""
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    return first_line(lines[0][1:] if lines else text) or report.outcome


def _outcome_of(report: pytest.TestReport) -> TestOutcome:
    wasxfail = "wasxfail" in report.__dict__
    if report.when == "call":
        if report.passed:
            return TestOutcome.XPASSED if wasxfail else TestOutcome.PASSED
        if report.skipped:
            return TestOutcome.XFAILED if wasxfail else TestOutcome.SKIPPED
        return TestOutcome.FAILED
    if report.failed:
        return TestOutcome.ERROR
    return TestOutcome.SKIPPED if report.skipped else TestOutcome.PASSED


class PipelineRun:
    """The state of one run; one per process (single, xdist controller or xdist worker)."""

    def __init__(
        self,
        pytest_config: pytest.Config,
        options: PipelineSettings,
        *,
        run_id: str,
        run_dir: Path,
        role: str = "single",
    ) -> None:
        if role not in ("single", "controller", "worker"):
            raise ValueError(f"role must be single, controller or worker, not {role!r}")
        self.pytest_config = pytest_config
        self.options = options
        self.run_id = run_id
        self.run_dir = run_dir
        self.role = role
        self._results: list[TestResult] = []
        self.gate = Gate(enabled=not options.no_gate)
        self.selected: dict[Stage, int] = {}
        self.teardown_failures: list[runonce.TeardownFailure] = []
        self.exitstatus: int | None = None
        self._open: dict[str, _Open] = {}
        self._done: list[_Open] = []
        self.markers: dict[str, tuple[str, ...]] = {}
        """Marker names of every failed test (from its failed report), by node id."""
        self._summary: dict[Stage, StageSummary] = {}
        self._finalizers: list[tuple[int, int, Callable[[], object]]] = []
        self.stage_gate: Callable[[Stage], Halt | None] = self.gate.halt_for
        """Applies the gate before a test of a stage (waits for other workers under xdist)."""
        self.worker_gate: Any = None
        self.report_handlers: list[Callable[[pytest.TestReport, pytest.Item | None], None]] = []
        """Called with every test report before anything else sees it, and with its test (None
        in an xdist controller): reporting redacts the report and attaches its extras."""
        self.stage_handlers: list[Callable[[Stage | None, Stage], None]] = []
        """Called with the previous stage (None at first) and the new one when this process
        starts the tests of another stage."""
        self._items: dict[str, tuple[pytest.Item, Stage | None]] = {}
        self._gated: set[str] = set()
        self._stage: Stage | None = None
        self._marker: str | None = None
        self.swept: list[orphans.Swept] = []
        """Killed runs whose leftovers this run stopped at its start (owning process)."""
        self.owner_pid = os.getpid()
        """The run's owning process (the xdist controller's pid in a worker)."""
        self.end_problems: list[str] = []
        """What failed at the end of the run itself: the run fails (exit status 1)."""
        self.term = TermAsInterrupt()
        """SIGTERM as Ctrl-C while the run lasts (installed by :meth:`start`)."""

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def start(cls, pytest_config: pytest.Config) -> PipelineRun:
        """Resolve the settings, create or join the run folder and register the run."""
        options = PipelineSettings.from_config(pytest_config)
        workerinput: dict[str, Any] | None = getattr(pytest_config, "workerinput", None)
        owner_pid = os.getpid()
        if workerinput is not None and WORKERINPUT_DIR in workerinput:
            run_id = str(workerinput[WORKERINPUT_ID])
            run_dir = Path(workerinput[WORKERINPUT_DIR])
            role = "worker"
            owner_pid = int(workerinput.get(WORKERINPUT_OWNER, owner_pid))
        else:
            run_id = new_run_id()
            run_dir = _make_run_dir(options.rootdir, run_id)
            dist = pytest_config.getoption("dist", default="no")
            role = "controller" if dist not in (None, "no") else "single"
        run = cls(pytest_config, options, run_id=run_id, run_dir=run_dir, role=role)
        run.owner_pid = owner_pid
        if run.owns_run:
            run._marker = orphans.claim(run_dir, run_id)
            run.swept = orphans.sweep(options.rootdir / RUNS_DIR, run_id)
        pytest_config.stash[RUN_KEY] = run
        pytest_config.pluginmanager.register(run, PLUGIN_NAME)
        run.term.install()
        return run

    @property
    def owns_run(self) -> bool:
        """True in the process that tears down (single process or xdist controller)."""
        return self.role != "worker"

    @property
    def worker_id(self) -> str:
        """``gw0``... in an xdist worker, ``controller`` or ``main`` otherwise."""
        workerinput = getattr(self.pytest_config, "workerinput", None)
        if workerinput is not None:
            return str(workerinput.get("workerid", "worker"))
        return "controller" if self.role == "controller" else "main"

    # -- records shared across processes --------------------------------------------------------

    def _record_path(self, kind: str) -> Path:
        if not _KIND.fullmatch(kind):
            raise ValueError(f"record kind {kind!r} must match {_KIND.pattern}")
        return self.run_dir / "records" / f"{kind}.json"

    def record(self, kind: str, data: dict[str, Any]) -> None:
        """Persist ``data`` (JSON) as the run's ``kind`` record, readable by every process;
        redacted like every other file the run writes (no record needs a secret back)."""
        from pytest_pipeline.reporting.redact import redact_data

        data = redact_data(data)
        path = self._record_path(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
        os.replace(tmp, path)

    def recorded(self, kind: str) -> dict[str, Any] | None:
        """The ``kind`` record written by any process of this run, or None."""
        path = self._record_path(kind)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def release(self) -> None:
        """The process is done with the run (also after ``--help``, which has no session
        end): nothing of it is left for the next run to sweep."""
        if self.owns_run:
            orphans.finished(self.run_dir, self._marker)

    @property
    def environment_key(self) -> str:
        """What one run at a time may use: the environment and its stack."""
        return f"{self.options.env}-{self.options.stack_name}"

    def hold_environment(self) -> str | None:
        """Hold this run's environment until the run ends (every process of the run may
        call it); a note when a killed run's lock was taken over. Raises
        ``envlock.EnvironmentBusy`` naming the live run that holds it."""
        holder = envlock.owner(self.run_id, self.owner_pid, self.environment_key)
        return envlock.acquire(self.lock_dir, self.environment_key, holder)

    @property
    def lock_dir(self) -> Path:
        """Where the environments' locks of this checkout live."""
        return self.options.rootdir / ".pipeline" / "locks"

    def once(
        self,
        name: str,
        create: Callable[[], dict[str, Any]],
        destroy_ref: str,
        *,
        honour_teardown: bool = True,
    ) -> dict[str, Any]:
        """:func:`runonce.once_per_run` in this run's folder."""
        return runonce.once_per_run(
            self.run_dir,
            name,
            create,
            destroy_ref,
            honour_teardown=honour_teardown,
            timeout=self.options.gate_timeout,
        )

    def add_finalizer(self, fn: Callable[[], object], phase: int = PHASE_REPORT) -> None:
        """Call ``fn()`` once at the end of the run: by ``phase`` (``PHASE_ROLLBACK``, then
        ``PHASE_REPORT``, then ``PHASE_NOTIFY``), last added first within a phase.

        In the owning process (single or xdist controller) this is after every worker has
        finished and before once-per-run resources are torn down; in an xdist worker it is
        at the end of that worker. Use :meth:`once` for resources shared by workers.
        """
        self._finalizers.append((phase, len(self._finalizers), fn))

    # -- test results ---------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Hook: the gate skips a test of a stage after a failed stage."""
        try:
            halt = self.begin_test(item)
        except TimeoutError as error:
            pytest.fail(str(error), pytrace=False)
        if halt is not None:
            item.add_marker(pytest.mark.skip(reason=halt.reason()))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Hook, the one per-report step of the plugin.

        First, so that the terminal, JUnit, pytest-html and xdist's hand-over to the
        controller all see the labelled, redacted report: label it with the test's stage
        (and, when it failed, the test's markers: the rollback policy matches them), pass it
        to the report handlers, let a failure reach the gate, and keep the report. Results
        are worked out from the kept reports in batches (:attr:`results`): per report this
        stays a few dictionary operations.
        """
        nodeid = report.nodeid
        entry = self._items.get(nodeid)
        item: pytest.Item | None
        if entry is not None:  # this process ran the test: label the report
            item, stage = entry
            gated = nodeid in self._gated
            if stage is not None:
                report.pipeline_stage = stage.value  # type: ignore[attr-defined]
                if gated:
                    report.pipeline_gated = True  # type: ignore[attr-defined]
        else:  # an xdist controller: the worker labelled it
            item = None
            labels = report.__dict__
            stage = _STAGES.get(labels.get("pipeline_stage", ""))
            gated = bool(labels.get("pipeline_gated", False))
        if report.outcome == "failed" and item is not None:
            names = sorted({mark.name for mark in item.iter_markers()})
            report.pipeline_markers = names  # type: ignore[attr-defined]
        for handler in self.report_handlers:
            handler(report, item)
        self._keep(report, stage, gated)

    def _keep(self, report: pytest.TestReport, stage: Stage | None, gated: bool) -> None:
        nodeid = report.nodeid
        if report.outcome == "failed":
            self.markers[nodeid] = tuple(report.__dict__.get("pipeline_markers", ()))
            if stage is not None:
                self.gate.record_failure(stage, nodeid, error_line(report))
        test = self._open.get(nodeid)
        if test is None:
            test = self._open[nodeid] = _Open(nodeid, stage, gated)
        test.reports.append(report)
        if report.when == "teardown":
            self._done.append(self._open.pop(nodeid))
            if len(self._done) >= SETTLE_EVERY:
                self._settle()

    def begin_test(self, item: pytest.Item) -> Halt | None:
        """Before a test runs: the gate's halt for it (None: it runs). Under xdist this
        waits for the earlier stages; a :class:`TimeoutError` says it waited too long."""
        entry = self._items.get(item.nodeid)
        stage = entry[1] if entry is not None else item.stash.get(STAGE_KEY, None)
        if stage is None:
            return None
        if stage is not self._stage:
            previous, self._stage = self._stage, stage
            for handler in self.stage_handlers:
                handler(previous, stage)
        halt = self.stage_gate(stage)
        if halt is not None:
            item.stash[GATED_KEY] = True
            self._gated.add(item.nodeid)
        return halt

    def selection(self, items: list[pytest.Item]) -> None:
        """Note the selected tests and their stages (after collection, in stage order)."""
        staged = [(item.nodeid, item.stash.get(STAGE_KEY, None)) for item in items]
        self._items = {
            nodeid: (item, stage) for item, (nodeid, stage) in zip(items, staged, strict=True)
        }
        self.selected = {}
        for _, stage in staged:
            if stage is not None:
                self.selected[stage] = self.selected.get(stage, 0) + 1
        if self.worker_gate is not None:
            self.worker_gate.prepare(staged)

    def header_lines(self, verbose: bool = False) -> list[str]:
        """The report header: one line (environment, AWS backend, deploy target, run folder);
        ``verbose`` (pytest ``-v``) adds every setting with its source."""
        options = self.options
        line = (
            f"pipeline: env {options.env}, aws-backend {options.aws_backend}, "
            f"deploy-target {options.deploy_target}, run {self.run_id} ({self.role}) "
            f"in {self.run_dir}"
        )
        swept = [f"pipeline: {swept.describe()}" for swept in self.swept]
        if not verbose:
            return [line + " (-v: every setting)", *swept]
        lines = [line, *swept]
        explained = options.explain()
        width = max(len(name) for name, _, _ in explained)
        for name, value, source in explained:
            if isinstance(value, tuple):
                shown = ", ".join(value) if value else "(none)"
            else:
                shown = "(none)" if value is None else str(value)
            lines.append(f"  {name:<{width}} = {shown}  [{source}]")
        return lines

    @property
    def results(self) -> list[TestResult]:
        """The result of every finished test so far, in the order they finished."""
        if self._done:
            self._settle()
        return self._results

    def _settle(self) -> None:
        """Turn the finished tests' reports into results and stage counts."""
        for test in self._done:
            self._results.append(self._result_of(test))
        self._done.clear()

    def _result_of(self, test: _Open) -> TestResult:
        outcome = TestOutcome.PASSED
        message = ""
        duration = 0.0
        for report in test.reports:
            duration += report.duration
            if report.outcome != "passed" or report.when == "call":
                this = _outcome_of(report)
                if not (outcome.is_failure and not this.is_failure):
                    outcome = this
                if report.outcome != "passed" and not message:
                    message = error_line(report)
        first, last = test.reports[0], test.reports[-1]
        start: float | None = first.__dict__.get("start")
        stop: float = (last.__dict__.get("stop") or 0.0) if last.when == "teardown" else 0.0
        properties: dict[str, PropertyValue] = {}
        for name, value in last.user_properties:
            if isinstance(value, str | int | float | bool):
                properties[str(name)] = value
        stage = test.stage
        if stage is not None:
            self._count(stage, outcome, test.gated, start, stop)
        return TestResult(
            nodeid=test.nodeid,
            outcome=outcome,
            stage=stage.value if stage is not None else None,
            duration=duration,
            message=message,
            properties=properties,
            started_at=datetime.fromtimestamp(start, UTC) if start is not None else None,
        )

    def _count(
        self, stage: Stage, outcome: TestOutcome, gated: bool, start: float | None, stop: float
    ) -> None:
        summary = self._summary.get(stage)
        if summary is None:
            summary = self._summary[stage] = StageSummary(stage)
        counter = _COUNTER[outcome]
        setattr(summary, counter, getattr(summary, counter) + 1)
        if gated and outcome is TestOutcome.SKIPPED:
            summary.gated += 1
        if start is not None and (summary.start is None or start < summary.start):
            summary.start = start
        if stop and (summary.stop is None or stop > summary.stop):
            summary.stop = stop

    def flush(self) -> None:
        """Turn tests whose teardown report never came (a crashed worker) into results; in
        an interrupted run a test that had not failed before the interruption has no verdict
        and is left out (it must not count as passed)."""
        unfinished = list(self._open.values())
        if self.exitstatus == pytest.ExitCode.INTERRUPTED:
            unfinished = [t for t in unfinished if any(r.failed for r in t.reports)]
        self._done.extend(unfinished)
        self._open.clear()
        self._settle()

    # -- stages ---------------------------------------------------------------------------------

    @property
    def halted_stage(self) -> Stage | None:
        """The stage whose failure halted the later stages (None without a halt)."""
        halt = self.gate.halted
        return halt.stage if halt is not None and self.gate.enabled else None

    def stage_summary(self) -> list[StageSummary]:
        """One summary per stage that had tests, in pipeline order."""
        if self._done:
            self._settle()
        summaries = []
        for stage in Stage:
            summary = self._summary.get(stage)
            if summary is None:
                continue
            summary.halt = self.gate.failure(stage)
            summaries.append(summary)
        return summaries

    @property
    def interrupted_in(self) -> str | None:
        """The stage this process was in when the run was interrupted (Ctrl-C, SIGTERM;
        ``-`` before any stage), or None when the run was not interrupted."""
        if self.exitstatus != pytest.ExitCode.INTERRUPTED:
            return None
        return self._stage.value if self._stage is not None else "-"

    @property
    def interrupted_by(self) -> str | None:
        """``SIGTERM`` or ``Ctrl-C`` for an interrupted run, else None."""
        if self.exitstatus != pytest.ExitCode.INTERRUPTED:
            return None
        return self.term.received or "Ctrl-C"

    def summary_lines(self) -> list[str]:
        """The terminal summary: one line per stage, then what halted the pipeline."""
        summaries = self.stage_summary()
        interrupted = self.interrupted_in
        if interrupted is not None:
            note = [
                f"pipeline interrupted by {self.interrupted_by} in stage {interrupted}: the "
                "run did not finish and proves nothing; run it again"
            ]
        else:
            note = []
        note += [f"pipeline failed: {problem}" for problem in self.end_problems]
        if not summaries:
            return note
        width = max(len(stage.value) for stage in Stage)
        lines = [
            f"{s.stage.value:<{width}}  {s.outcome:<7}  {s.counts()}  in {s.duration:.2f}s"
            for s in summaries
        ]
        halt = self.gate.halted
        if halt is not None and self.gate.enabled:
            lines.append(halt.reason())
        elif halt is not None:
            failed = ", ".join(stage.value for stage in self.gate.failed_stages())
            lines.append(f"pipeline failed: {failed} (gate off: later stages ran)")
        return lines + note

    def should_destroy(self, name: str) -> bool:
        """The ``teardown`` policy for once-per-run resource ``name``."""
        policy = self.options.teardown
        if policy == "always":
            return True
        if policy == "never":
            return False
        return self.exitstatus == 0 and not self.gate.failed_stages()

    def finish(self, exitstatus: int) -> list[str]:
        """Run the finalizers and, in the owning process, tear down once-per-run resources.

        Returns one line per problem (the plugin turns them into ``PytestWarning``s).
        """
        self.exitstatus = int(exitstatus)
        self.flush()
        problems: list[str] = []
        while self._finalizers:
            entry = min(self._finalizers, key=lambda item: (item[0], -item[1]))
            self._finalizers.remove(entry)
            fn = entry[2]
            try:
                fn()
            except Exception as error:
                name = getattr(fn, "__qualname__", repr(fn))
                problems.append(
                    f"pipeline finalizer {name} failed: {type(error).__name__}: {error}"
                )
        if self.owns_run:
            self.teardown_failures = runonce.teardown_all(self.run_dir, self.should_destroy)
            problems.extend(failure.describe() for failure in self.teardown_failures)
            envlock.release(self.lock_dir, self.environment_key, self.run_id)
            orphans.finished(self.run_dir, self._marker)
        return problems


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random hex."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def _make_run_dir(rootdir: Path, run_id: str) -> Path:
    """``<rootdir>/.pipeline/runs/<run_id>`` (a temp folder when rootdir is read-only)."""
    runs = rootdir / RUNS_DIR
    try:
        run_dir = runs / run_id
        run_dir.mkdir(parents=True)
    except OSError:
        return Path(tempfile.mkdtemp(prefix=f"pytest-pipeline-{run_id}-"))
    old = sorted(path for path in runs.iterdir() if path.is_dir())[:-KEEP_RUNS]
    # A run that touched its folder within the hour may still be going (another pytest in
    # the same checkout): only older folders go.
    cutoff = time.time() - PRUNE_AFTER_S
    for path in old:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
    return run_dir
