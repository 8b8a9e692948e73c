"""Reporting hooks: the execution log, end-of-run outputs, and the pytest-html integration.

:func:`configure` (called from :meth:`PipelineRun.start`) registers :class:`ReportingPlugin`
(the run hands it every report first: :meth:`ReportingPlugin.on_report`) and
:class:`HtmlIntegration` only when pytest-html is installed. At the end of the run
(:func:`pytest_pipeline.plugin.finish.finish_run`, owning process: after every worker
finished, after the rollback, before once-per-run resources are torn down so SNS still
answers) it writes ``deployment.json``, the GitHub step summary, job outputs and annotations
and the run's metrics (:meth:`ReportingPlugin.record_run`), then sends the failure
notification (:meth:`ReportingPlugin.notify_failure`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytest_html import extras

from pytest_pipeline.models import DeploymentMetadata, InfrastructureState
from pytest_pipeline.reporting import github, logs, record
from pytest_pipeline.reporting.dashboard import dashboard_html
from pytest_pipeline.reporting.ledger import build_ledger
from pytest_pipeline.reporting.metrics import run_metrics
from pytest_pipeline.reporting.redact import default_redactor, redact, register_secrets
from pytest_pipeline.reporting.summary import (
    RunSummary,
    build_summary,
    summary_markdown,
    summary_text,
)
from pytest_pipeline.runtime.vcs import git_commit
from pytest_pipeline.stages import Stage

if TYPE_CHECKING:
    from pytest_pipeline.aws.monitoring import Notification
    from pytest_pipeline.plugin.run import PipelineRun
    from pytest_pipeline.reporting.ledger import LedgerStep
    from pytest_pipeline.reporting.recorder import DashboardEntry, Recorder
    from pytest_pipeline.reporting.summary import StageSummary
    from pytest_pipeline.settings import PipelineSettings

RECORDER_KEY: pytest.StashKey[Recorder] = pytest.StashKey()
"""``item.stash[RECORDER_KEY]``: the ``pipeline_record`` of a test that asked for it."""
DASHBOARD_ATTR = "pipeline_dashboard"
"""The report attribute that carries a test's dashboard entries from a worker."""

log = logging.getLogger("pytest_pipeline.report")
NO_LOG = "No log output captured."
"""What pytest-html writes in the log block of a test that printed and logged nothing."""


def configure(config: pytest.Config, run: PipelineRun) -> ReportingPlugin | None:
    """Register the reporting plugin objects for this run (not for ``--help`` or
    ``--collect-only``: nothing runs, so no log or record is written: None)."""
    if config.option.help or config.option.collectonly:
        return None
    register_setting_secrets(run.options.webhook_url)
    plugin = ReportingPlugin(config, run)
    config.pluginmanager.register(plugin, "pipeline-reporting")
    if config.pluginmanager.hasplugin("html"):
        plugin.html_extras = True
        config.pluginmanager.register(HtmlIntegration(plugin), "pipeline-html")
    return plugin


def check_reports_dir(options: PipelineSettings) -> None:
    """The reports folder exists (or can be made) and takes files, before the run starts:
    else one line naming the setting, where it came from and what to do (exit 4)."""
    path = options.reports_path
    problem = ""
    if path.exists() and not path.is_dir():
        problem = "is a file, not a folder"
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".pipeline-write-check-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            problem = f"cannot take the run's reports ({error.strerror or error})"
    if problem:
        raise pytest.UsageError(
            f"pipeline setting 'reports-dir' (from {options.source('reports_dir')}): "
            f"{path} {problem}; name a writable folder with --reports-dir=PATH or "
            "PIPELINE_REPORTS_DIR"
        )


def register_setting_secrets(webhook_url: str | None) -> None:
    """A webhook URL is its own credential (Slack, Discord and Teams put the token in the
    path): the whole URL and its last path segment are redacted wherever the run writes."""
    if not webhook_url:
        return
    register_secrets([webhook_url])
    last = webhook_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if len(last) >= 8 and "." not in last:  # a token, not a host name or a file
        register_secrets([last])


def attach_extras(item: pytest.Item, report: pytest.TestReport) -> list[DashboardEntry]:
    """Attach what ``pipeline_record`` collected to ``report.extras`` (xdist carries it) and
    return the test's new dashboard entries (gallery cards, histograms)."""
    recorder = item.stash.get(RECORDER_KEY, None)
    if recorder is None:
        return []

    blocks = recorder.take_html()
    if blocks:
        current = list(getattr(report, "extras", []))
        report.extras = current + [extras.html(block) for block in blocks]  # type: ignore[attr-defined]
    return recorder.take_dashboard()


_EXIT_PROBLEMS: dict[int, str] = {
    pytest.ExitCode.INTERNAL_ERROR: "pytest ended with an internal error (exit status 3): "
    "the traceback above says where",
    pytest.ExitCode.USAGE_ERROR: "pytest was used wrongly (exit status 4): the error above "
    "says which option",
    pytest.ExitCode.NO_TESTS_COLLECTED: "no test ran (exit status 5): check the selection "
    "(-m, -k, paths) and, under xdist, whether the workers crashed",
}


def exit_problems(exitstatus: int | None) -> tuple[str, ...]:
    """What pytest's own exit status says went wrong with the run (none for 0, 1 and 2:
    failed tests and interruptions have their own verdicts)."""
    problem = _EXIT_PROBLEMS.get(int(exitstatus)) if exitstatus is not None else None
    return (problem,) if problem else ()


def record_of(
    results: list[Any],
    deployment: DeploymentMetadata | None,
    summary: RunSummary,
    infra: InfrastructureState | None,
) -> DeploymentMetadata:
    """The run's ``deployment.json`` record (without its ledger)."""
    return record.build_record(
        results,
        deployment=deployment,
        environment=summary.environment,
        url=summary.url,
        commit=summary.commit,
        stack_name=summary.stack,
        aws_backend=infra.backend if infra else None,
    )


def redact_report(report: pytest.TestReport) -> None:
    """Mask secrets in a report's error text and captured sections (terminal, JUnit, HTML)."""
    if report.longrepr is not None:
        text = report.longreprtext
        masked = redact(text)
        if masked != text:  # keep the structured longrepr (file, line) unless it leaks
            report.longrepr = masked
    report.sections = [(title, redact(content)) for title, content in report.sections]


def publish_run_metrics(summary: RunSummary, run: PipelineRun, infra: InfrastructureState) -> int:
    """Publish the whole run's metrics (every stage, pass/fail, p95) at the end of the run,
    also when a failure halted the monitoring stage. Returns how many; 0 when it failed."""
    # boto3 (aws/): loaded at the end of a run that reached AWS, never in one that did not
    from pytest_pipeline.aws import monitoring
    from pytest_pipeline.aws.clients import recorded_context

    try:
        data = run_metrics(summary, run.results)
        ctx = recorded_context(infra.endpoint_url, infra.region, source="stack record")
        return monitoring.publish_metrics(ctx.client("cloudwatch"), data)
    except Exception as error:  # reporting must not break the end of the run
        log.warning(
            "run metrics not published to CloudWatch: %s", error, extra={"status": "failed"}
        )
        return 0


def notify_failure(
    run: PipelineRun, summary: RunSummary, infra: InfrastructureState | None
) -> list[Notification]:
    """Tell the configured channels that the pipeline failed, with the summary (SNS through
    the topic of the stack ``infra``)."""
    # boto3 (aws/): loaded only when a run failed and is to notify, never in a passing one
    from pytest_pipeline.aws import monitoring

    subject = f"pipeline {summary.environment} failed" + (
        f" at {summary.halted_stage}" if summary.halted_stage else ""
    )
    return monitoring.notify_about_stack(
        run.options.notification_channels,
        subject,
        summary_text(summary) + "\n\n" + summary_markdown(summary),
        infra=infra,
        webhook_url=run.options.webhook_url,
        payload={
            "status": summary.outcome,
            "environment": summary.environment,
            "run_id": summary.run_id,
            "halted_stage": summary.halted_stage,
            "stages": {s.name: s.outcome for s in summary.stages},
        },
    )


class _LiveHandler(logging.Handler):
    """Shows pipeline log lines on the terminal while tests run (``-v`` without log_cli)."""

    def __init__(self, config: pytest.Config) -> None:
        super().__init__(logging.INFO)
        self.pluginmanager = config.pluginmanager
        self.setFormatter(logs.UtcFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        # Looked up at each record: the terminal reporter registers after the pipeline.
        reporter: Any = self.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capman: Any = self.pluginmanager.get_plugin("capturemanager")
        try:
            line = self.format(record)
            quiet = (
                capman.global_and_fixture_disabled()
                if capman is not None
                else contextlib.nullcontext()
            )
            with quiet:
                reporter.ensure_newline()
                reporter.write_line(line)
        except Exception:
            self.handleError(record)


class ReportingPlugin:
    """Execution log and end-of-run outputs of one process of the run."""

    def __init__(self, config: pytest.Config, run: PipelineRun) -> None:
        self.config = config
        self.run = run
        self.reports_dir = run.options.reports_path
        self.annotations: list[github.Annotation] = []
        self.written: list[str] = []
        self.record_path: Path | None = None
        self._secrets_mark = 0
        self.html_extras = False  # pytest-html present: pipeline_record extras go on reports
        self.final_summary: RunSummary | None = None
        """The summary written at the end of the run (the terminal summary shows it)."""
        self.dashboard_entries: list[tuple[str, DashboardEntry]] = []
        """``(nodeid, entry)`` the tests recorded for the dashboard (owning process)."""
        self.pictures: dict[str, str] = {}
        """The report's picture store, ``key -> data: URI`` (owning process); a worker keeps
        the keys it already sent, so each distinct picture crosses once."""
        worker = run.worker_id if run.role == "worker" else None
        log_path = self.reports_dir / logs.LOG_NAME
        if run.owns_run:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("", encoding="utf-8")  # one log per run; workers append later
        self.file_handler = logs.open_log_file(log_path, worker)
        self.live_handler: logging.Handler | None = None
        log_cli = bool(config.getini("log_cli")) or config.getoption("log_cli_level", None)
        if run.owns_run and config.option.verbose > 0 and not log_cli:
            self.live_handler = _LiveHandler(config)
            logs.pipeline_logger().addHandler(self.live_handler)
        if run.owns_run:
            log.info("run %s started (%s)", run.run_id, run.role, extra={"status": "started"})

    # -- what is known about the run ------------------------------------------------------------

    def deployment(self) -> DeploymentMetadata | None:
        """The run's deployment record (written by the deploy stage), if any."""
        return self.run.recorded_as("deployment", DeploymentMetadata.from_dict)

    def ledger(self, record: DeploymentMetadata | None = None) -> list[LedgerStep]:
        """The deployment ledger of the run (of ``record`` when given)."""
        infra = self.infrastructure()
        if record is None:
            summary = self.final_summary or self.summary()
            record = record_of(self.run.results, self.deployment(), summary, infra)
        return build_ledger(record, infra)

    def infrastructure(self) -> InfrastructureState | None:
        """The run's stack record (written by the infra stage), if any."""
        return self.run.recorded_as("infrastructure", InfrastructureState.from_dict)

    def summary(self) -> RunSummary:
        """The summary of the run so far (complete at the end of the run)."""
        options = self.run.options
        deployment, infra = self.deployment(), self.infrastructure()
        backend = infra.backend if infra else f"{options.aws_backend} (not used)"
        if infra and infra.endpoint_url:
            backend += f" at {infra.endpoint_url}"
        halted = self.run.halted_stage
        durations = self.run.stage_durations()
        return build_summary(
            self.run.results,
            environment=options.env,
            commit=(deployment.commit if deployment else None) or git_commit(options.rootdir),
            aws_backend=backend,
            stack=infra.stack_name if infra else options.stack_name,
            version_label=deployment.version_label if deployment else None,
            url=(deployment.url if deployment else None) or options.target_url,
            halted_stage=halted.value if halted else None,
            run_id=self.run.run_id,
            durations=durations,
            interrupted_in=self.run.interrupted_in,
            problems=exit_problems(self.run.exitstatus),
        )

    # -- hooks ----------------------------------------------------------------------------------

    def pytest_pipeline_stage_started(self, stage: Stage, previous: Stage | None) -> None:
        """Log when this process starts the tests of a new stage."""
        if previous is not None:
            log.info("stage %s: last test done", previous.value, extra={"status": "done"})
        log.info("stage %s started", stage.value, extra={"status": "started"})

    def pytest_pipeline_stage_finished(self, summary: StageSummary) -> None:
        """Log how each stage ended (owning process, at the end of the run)."""
        log.info(
            "stage %s %s in %.2fs",
            summary.name,
            summary.outcome,
            summary.duration,
            extra={"status": summary.outcome},
        )

    def on_report(self, report: pytest.TestReport, item: pytest.Item | None) -> None:
        """Called by the run with every report first: mask secrets in the report and attach
        ``pipeline_record`` extras (where the test ran); hand newly registered secrets over
        with a worker's report and take them off it in the controller; keep every failure as
        a log line and a GitHub annotation (owning process)."""
        if report.longrepr is not None or report.sections:
            redact_report(report)
        entries: list[DashboardEntry] = []
        if self.html_extras and item is not None and RECORDER_KEY in item.stash:
            # whichever way the test asked for a recorder (argument, getfixturevalue, a
            # fixture that wraps it), the recorder sits in the item's stash
            entries = self._new(attach_extras(item, report))
        role = self.run.role
        if role == "worker":
            new, self._secrets_mark = default_redactor().registered_since(self._secrets_mark)
            if new:
                report.pipeline_secrets = new  # type: ignore[attr-defined]
            if entries:
                setattr(report, DASHBOARD_ATTR, entries)
            return
        if role == "controller":
            secrets = report.__dict__.pop("pipeline_secrets", None)
            if secrets:
                register_secrets(str(value) for value in secrets)
            entries = self._new(report.__dict__.pop(DASHBOARD_ATTR, None) or [])
        if entries:
            self.dashboard_entries.extend(
                (report.nodeid, entry) for entry in entries if entry.get("kind") != "picture"
            )
        if report.outcome == "failed":
            self._annotate(report)

    def _new(self, entries: list[DashboardEntry]) -> list[DashboardEntry]:
        """``entries`` less the pictures this process already has in its store."""
        fresh = []
        for entry in entries:
            if entry.get("kind") == "picture":
                if entry["key"] in self.pictures:
                    continue
                self.pictures[entry["key"]] = entry["uri"]
            fresh.append(entry)
        return fresh

    def _annotate(self, report: pytest.TestReport) -> None:
        crash: Any = getattr(report.longrepr, "reprcrash", None)
        path = str(getattr(crash, "path", "") or report.location[0])
        with contextlib.suppress(ValueError):
            path = os.path.relpath(path, self.run.options.rootdir) if os.path.isabs(path) else path
        line = getattr(crash, "lineno", None)
        message = str(getattr(crash, "message", "") or report.longreprtext[-2000:])
        title = f"{report.nodeid} ({report.when})"
        self.annotations.append(github.Annotation(message, path, line, title))
        log.error("%s failed: %s", title, message.splitlines()[0] if message else "")

    def record_run(self) -> RunSummary:
        """End of run, after the rollback: the run's record ``deployment.json`` (with its
        ledger), the GitHub step summary, outputs and annotations, the run's metrics; then
        ``pytest_pipeline_run_recorded``. A record that cannot be written fails the run."""
        summary = self.final_summary = self.summary()
        infra = self.infrastructure()
        rec = record_of(self.run.results, self.deployment(), summary, infra)

        try:
            self.record_path = record.write_record(
                self.reports_dir,
                rec,
                build_ledger(rec, infra),
                {
                    "run_outcome": summary.outcome,
                    "interrupted_in": summary.interrupted_in,
                    "interrupted_by": self.run.interrupted_by,
                },
            )
            self.written.append(f"deployment record: {self.record_path}")
        except OSError as error:
            # The record of a deploy is what later jobs and people rely on: losing it fails
            # the run, whatever its tests said.
            problem = (
                f"the deployment record {self.reports_dir / record.RECORD_NAME} could not be "
                f"written ({error.strerror or error}): free space or fix the folder "
                "(--reports-dir), then run again"
            )
            log.error("%s", problem, extra={"status": "failed"})
            self.run.end_problems.append(problem)
            summary = self.final_summary = replace(summary, problems=(*summary.problems, problem))
        if github.in_github_actions():
            self._github(summary, self.ready, rec, infra)
        if infra is not None and self.run.options.monitoring_enabled:
            publish_run_metrics(summary, self.run, infra)
        self.config.hook.pytest_pipeline_run_recorded(
            run=self.run, record=rec, path=self.record_path, summary=summary
        )
        return summary

    @property
    def ready(self) -> bool:
        """The run succeeded and pytest ended with exit status 0 (after :meth:`record_run`)."""
        summary = self.final_summary
        return summary is not None and summary.succeeded and (self.run.exitstatus or 0) == 0

    def notify_failure(self) -> None:
        """End of run, after the record: the failure notification when the run is not ready."""
        if not self.ready:
            notify_failure(self.run, self.final_summary or self.summary(), self.infrastructure())

    def log_finished(self) -> None:
        """The execution log's last line: how the run ended."""
        summary = self.final_summary or self.summary()
        log.info(
            "run %s finished: %s",
            self.run.run_id,
            summary.outcome,
            extra={"status": summary.outcome},
        )

    def _github(
        self,
        summary: RunSummary,
        ready: bool,
        rec: DeploymentMetadata,
        infra: InfrastructureState | None,
    ) -> None:
        path = github.append_step_summary(summary_markdown(summary))
        if path:
            self.written.append(f"GitHub step summary: {path}")
        # Later jobs (post-deployment, monitoring) roll back through these identities.
        stack_outputs = infra.outputs if infra is not None else {}
        options = self.run.options
        outputs = {
            "ready": "true" if ready else "false",
            "url": rec.url or "",
            "version": rec.version_label if rec.version_label != "not-deployed" else "",
            "eb-application": str(
                options.eb_application or stack_outputs.get("ApplicationName") or ""
            ),
            "eb-environment": str(
                options.eb_environment or stack_outputs.get("EnvironmentName") or ""
            ),
        }
        if github.write_outputs(outputs):
            self.written.append(
                "GitHub outputs: " + ", ".join(f"{k}={v}" for k, v in outputs.items())
            )
        reporter: Any = self.config.pluginmanager.get_plugin("terminalreporter")
        for annotation in self.annotations[:50]:  # GitHub shows at most 10 per step anyway
            if reporter is not None:
                reporter.write_line(annotation.command())

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """Where the reports went, and the summary's header."""
        if not self.run.owns_run:
            return
        terminalreporter.section("pipeline reports")
        summary = self.final_summary or self.summary()
        terminalreporter.line(redact(summary_text(summary).splitlines()[0]))
        for line in self.written:
            terminalreporter.line(redact(line))
        terminalreporter.line(f"execution log: {self.reports_dir / logs.LOG_NAME}")

    def pytest_unconfigure(self) -> None:
        """Close the log handlers."""
        logs.close_log_file(self.file_handler)
        if self.live_handler is not None:
            logs.pipeline_logger().removeHandler(self.live_handler)


class HtmlIntegration:
    """pytest-html hooks: the run summary on top, each test's pictures and figures."""

    def __init__(self, reporting: ReportingPlugin) -> None:
        self.reporting = reporting

    def pytest_html_report_title(self, report: Any) -> None:
        """``Pipeline report: <env>``."""
        report.title = f"Pipeline report: {self.reporting.run.options.env}"

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        """The dashboard above pytest-html's own counts."""
        reporting = self.reporting
        prefix.append(
            dashboard_html(
                reporting.final_summary or reporting.summary(),
                reporting.ledger(),
                reporting.run.results,
                reporting.dashboard_entries,
                reporting.pictures,
            )
        )

    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """No "No log output captured." block under every quiet test."""
        if data == [NO_LOG]:
            data.clear()
