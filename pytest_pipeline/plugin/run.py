"""The state of one pipeline run, registered with pytest as the ``pipeline-run`` plugin object.

:func:`get_run` finds it from any ``pytest.Config``. It holds the resolved settings
(:class:`~pytest_pipeline.settings.PipelineSettings`), the run id and the run folder shared by
the xdist controller and its workers, every test's result with its stage, the gate (and, in
an xdist worker, the :class:`~pytest_pipeline.plugin.xdist.WorkerGate` that waits for the
earlier stages), records other areas persist for the controller (``record``/``recorded``)
and the run's reporting and rollback plugins. The end of the run is
:func:`pytest_pipeline.plugin.finish.finish_run`; what other plugins can react to is in
:mod:`pytest_pipeline.plugin.hookspecs`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_pipeline.models import ModelError, PropertyValue, TestOutcome, TestResult
from pytest_pipeline.plugin import reporting, rollback
from pytest_pipeline.plugin.state import GATED_KEY, RUN_KEY, SETTINGS_KEY, STAGE_KEY
from pytest_pipeline.reporting.redact import redact_data
from pytest_pipeline.reporting.summary import StageSummary, build_summary
from pytest_pipeline.runtime import envlock, orphans, runonce
from pytest_pipeline.runtime.signals import TermAsInterrupt
from pytest_pipeline.settings import PipelineSettings
from pytest_pipeline.stages import Gate, Halt, Stage, first_line

if TYPE_CHECKING:
    from pytest_pipeline.aws.clients import AwsContext
    from pytest_pipeline.deploy.base import DeployTarget
    from pytest_pipeline.plugin.reporting import ReportingPlugin
    from pytest_pipeline.plugin.rollback import RollbackPlugin
    from pytest_pipeline.plugin.xdist import WorkerGate

_Model = TypeVar("_Model")
_log = logging.getLogger("pytest_pipeline.run")

PLUGIN_NAME = "pipeline-run"
RUNS_DIR = Path(".pipeline") / "runs"
KEEP_RUNS = 20
PRUNE_AFTER_S = 3600.0
WORKERINPUT_ID = "pipeline_run_id"
WORKERINPUT_DIR = "pipeline_run_dir"
WORKERINPUT_OWNER = "pipeline_run_owner_pid"
_KIND = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def get_run(config: pytest.Config) -> PipelineRun:
    """The run of this pytest session, started now when it had not started yet (available
    from ``pytest_configure`` on; raises a clear error before, or when the settings were
    invalid). The plugin starts it at the end of collection when a selected test has a
    stage or asks for a pipeline fixture (see :mod:`pytest_pipeline.plugin.state`)."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        return run
    if SETTINGS_KEY not in config.stash:
        raise RuntimeError(
            "the pipeline run is not configured yet (get_run() is available from "
            "pytest_configure on, and not when the settings were invalid)"
        )
    return PipelineRun.start(config)


class _Open:
    """A test of this run: its stage, whether the gate skipped it, its reports so far."""

    __slots__ = ("gated", "label", "nodeid", "reports")

    def __init__(self, nodeid: str, label: str | None, gated: bool) -> None:
        self.nodeid = nodeid
        self.label = label
        """The stage's name (None: the test has no stage)."""
        self.gated = gated
        self.reports: list[pytest.TestReport] = []


SETTLE_EVERY = 500
"""Finished tests become results in batches (when read, or every this many tests)."""


_STAGES = {stage.value: stage for stage in Stage}


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


_FAILURES = frozenset(outcome for outcome in TestOutcome if outcome.is_failure)
"""``TestOutcome.is_failure`` as a set (a lookup per report instead of a property call)."""


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
        self._final_stages: tuple[StageSummary, ...] | None = None
        self._spans: dict[str, tuple[float | None, float | None]] = {}
        """Each stage's wall time (by name): its first test's start, its last test's end."""
        self.worker_gate: WorkerGate | None = None
        """In an xdist worker with the gate on: waits for the earlier stages' tests (run by
        other workers) before the gate decides on a test (made by :meth:`start`)."""
        self.reporting: ReportingPlugin | None = None
        """The reporting plugin of this process (made by :meth:`start`; None for ``--help``
        and ``--collect-only``): it sees every report before anything else does."""
        self.rollback: RollbackPlugin | None = None
        """The rollback plugin of this process (made by :meth:`start`)."""
        self._items: dict[str, tuple[pytest.Item, Stage | None, str | None]] = {}
        """The selected tests of this process by node id: item, stage and the stage's name
        (per report a string, not the enum: an enum member hashes in Python)."""
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
        """Create or join the run folder and register the run with its reporting, rollback
        and (under xdist) gate plugins; the settings were resolved at ``pytest_configure``."""
        options = pytest_config.stash[SETTINGS_KEY]
        runs_tests = not (pytest_config.option.help or pytest_config.option.collectonly)
        workerinput: dict[str, Any] | None = getattr(pytest_config, "workerinput", None)
        owner_pid = os.getpid()
        if workerinput is not None and WORKERINPUT_DIR in workerinput:
            run_id = str(workerinput[WORKERINPUT_ID])
            run_dir = Path(workerinput[WORKERINPUT_DIR])
            role = "worker"
            owner_pid = int(workerinput.get(WORKERINPUT_OWNER, owner_pid))
        else:
            if runs_tests:
                reporting.check_reports_dir(options)  # before anything of the run exists
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
        if role != "single":
            from pytest_pipeline.plugin import xdist  # a cycle: it imports this module

            if role == "controller":
                pytest_config.pluginmanager.register(xdist.XdistController(run), "pipeline-xdist")
            elif run.gate.enabled:
                run.worker_gate = xdist.WorkerGate(run)

        run.reporting = reporting.configure(pytest_config, run)
        run.rollback = rollback.configure(pytest_config, run)
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

    def recorded_as(self, kind: str, model: Callable[[dict[str, Any]], _Model]) -> _Model | None:
        """The ``kind`` record read by ``model`` (a model's ``from_dict``), or None when there
        is none or it does not read (logged: the end of a run goes on without it)."""
        data = self.recorded(kind)
        if data is None:
            return None
        try:
            return model(data)
        except (ModelError, KeyError, TypeError, ValueError) as error:
            _log.warning("ignoring the run's %s record: %s", kind, error)
            return None

    def deploy_target(
        self,
        ctx: AwsContext,
        outputs: dict[str, str],
        *,
        rollback_enabled: bool,
        emulated: bool = False,
    ) -> DeployTarget:
        """The deploy target of the ``deploy-target`` setting, attached to this run's
        environment through ``ctx`` and the stack's ``outputs`` (starts nothing)."""
        # boto3 (through deploy/): only a run that deploys or rolls back makes a target
        from pytest_pipeline.deploy.resources import make_target

        options = self.options
        return make_target(
            options.deploy_target,
            rootdir=options.rootdir,
            environment=options.env,
            ctx=ctx,
            aws_env=ctx.env(),
            outputs=outputs,
            timeout=options.deploy_timeout,
            strategy=options.eb_strategy,
            rollback_enabled=rollback_enabled,
            eb_application=options.eb_application,
            eb_environment=options.eb_environment,
            emulated=emulated,
        )

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
        (and, when it failed, the test's markers: the rollback policy matches them), let
        reporting redact it and attach its extras, let a failure reach the gate, and keep the
        report. Results are worked out from the kept reports in batches (:attr:`results`):
        per report this stays a few dictionary operations.
        """
        nodeid = report.nodeid
        entry = self._items.get(nodeid)
        item: pytest.Item | None
        if entry is not None:  # this process ran the test: label the report
            item, stage, label = entry
            gated = nodeid in self._gated
            if label is not None:
                report.pipeline_stage = label  # type: ignore[attr-defined]
                if gated:
                    report.pipeline_gated = True  # type: ignore[attr-defined]
        else:  # an xdist controller: the worker labelled it
            item = None
            labels = report.__dict__
            stage = _STAGES.get(labels.get("pipeline_stage", ""))
            label = labels["pipeline_stage"] if stage is not None else None
            gated = bool(labels.get("pipeline_gated", False))
        failed = report.outcome == "failed"
        if failed and item is not None:
            names = sorted({mark.name for mark in item.iter_markers()})
            report.pipeline_markers = names  # type: ignore[attr-defined]
        if self.reporting is not None:
            self.reporting.on_report(report, item)
        if failed:  # (redacted by now)
            self.markers[nodeid] = tuple(report.__dict__.get("pipeline_markers", ()))
            if stage is not None:
                self.gate.record_failure(stage, nodeid, error_line(report))
        test = self._open.get(nodeid)
        if test is None:
            test = self._open[nodeid] = _Open(nodeid, label, gated)
        test.reports.append(report)
        if report.when == "teardown":
            del self._open[nodeid]
            self._done.append(test)
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
            self.pytest_config.hook.pytest_pipeline_stage_started(
                run=self, stage=stage, previous=previous
            )
        gate = self.worker_gate or self.gate
        halt = gate.halt_for(stage)
        if halt is not None:
            item.stash[GATED_KEY] = True
            self._gated.add(item.nodeid)
        return halt

    def selection(self, items: list[pytest.Item]) -> None:
        """Note the selected tests and their stages (after collection, in stage order)."""
        staged = [(item.nodeid, item.stash.get(STAGE_KEY, None)) for item in items]
        self._items = {
            nodeid: (item, stage, None if stage is None else stage.value)
            for item, (nodeid, stage) in zip(items, staged, strict=True)
        }
        self.selected = {}
        for _, stage in staged:
            if stage is not None:
                self.selected[stage] = self.selected.get(stage, 0) + 1
        if self.worker_gate is not None:
            self.worker_gate.prepare(staged)

    def describe(self) -> str:
        """``run <id> (<role>) in <folder>``."""
        return f"run {self.run_id} ({self.role}) in {self.run_dir}"

    def swept_lines(self) -> list[str]:
        """One line per killed run whose leftovers this run stopped at its start."""
        return [f"pipeline: {swept.describe()}" for swept in self.swept]

    @property
    def results(self) -> list[TestResult]:
        """The result of every finished test so far, in the order they finished."""
        if self._done:
            self._settle()
        return self._results

    def _settle(self) -> None:
        """Turn the finished tests' reports into results (given to
        ``pytest_pipeline_test_result`` in the owning process, when a plugin implements it)."""
        done, self._done = self._done, []
        fresh = [self._result_of(test) for test in done]
        self._results.extend(fresh)
        hook = self.pytest_config.hook.pytest_pipeline_test_result
        if self.owns_run and hook.get_hookimpls():
            for result in fresh:
                hook(run=self, result=result)

    def _result_of(self, test: _Open) -> TestResult:
        reports = test.reports
        first, last = reports[0], reports[-1]
        outcome = TestOutcome.PASSED
        message = ""
        duration = 0.0
        for report in reports:
            duration += report.duration
            if report.outcome == "passed" and report.when != "call":
                continue  # a passed setup or teardown leaves the outcome as it is
            this = _outcome_of(report)
            if this in _FAILURES or outcome not in _FAILURES:
                outcome = this
            if report.outcome != "passed" and not message:
                message = error_line(report)
        start: float | None = first.__dict__.get("start")
        stop: float = (last.__dict__.get("stop") or 0.0) if last.when == "teardown" else 0.0
        properties: dict[str, PropertyValue] = {}
        for name, value in last.user_properties:
            if isinstance(value, str | int | float | bool):
                properties[str(name)] = value
        label = test.label
        if label is not None:
            self._span(label, start, stop)
        return TestResult(
            nodeid=test.nodeid,
            outcome=outcome,
            stage=label,
            duration=duration,
            message=message,
            properties=properties,
            started_at=datetime.fromtimestamp(start, UTC) if start is not None else None,
            gated=test.gated and outcome is TestOutcome.SKIPPED,
        )

    def _span(self, label: str, start: float | None, stop: float) -> None:
        first, last = self._spans.get(label, (None, None))
        if start is not None and (first is None or start < first):
            first = start
        if stop and (last is None or stop > last):
            last = stop
        self._spans[label] = (first, last)

    def stage_durations(self) -> dict[str, float]:
        """Each stage's wall time in seconds, from its first test's start to its last test's
        end (across workers: the stage's tests ran side by side)."""
        if self._done:
            self._settle()
        return {
            label: max(0.0, last - first)
            for label, (first, last) in self._spans.items()
            if first is not None and last is not None
        }

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
        """One summary per stage that had tests, in pipeline order (tests without a stage
        are left out), with the stages' wall times (worked out once when the run ended: the
        end of the run, the terminal and the report all read it)."""
        if self._final_stages is not None:
            return list(self._final_stages)
        durations = self.stage_durations()
        staged = [result for result in self.results if result.stage is not None]
        summary = build_summary(staged, environment=self.options.env, durations=durations)
        if self.exitstatus is not None and not self._open:  # every result is in
            self._final_stages = summary.stages
        return list(summary.stages)

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
            f"{s.name:<{width}}  {s.outcome:<7}  {s.tally()}  in {s.duration:.2f}s"
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

    def end(self, exitstatus: int) -> None:
        """The session ended with ``exitstatus``: every test left gets its result (see
        :meth:`flush`)."""
        self.exitstatus = int(exitstatus)
        self.flush()

    def teardown(self) -> list[str]:
        """In the owning process: tear down once-per-run resources (by the ``teardown``
        policy), release the environment's lock and the run's owner mark. One line per
        resource that could not be torn down."""
        if not self.owns_run:
            return []
        self.teardown_failures = runonce.teardown_all(self.run_dir, self.should_destroy)
        envlock.release(self.lock_dir, self.environment_key, self.run_id)
        orphans.finished(self.run_dir, self._marker)
        return [failure.describe() for failure in self.teardown_failures]


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
