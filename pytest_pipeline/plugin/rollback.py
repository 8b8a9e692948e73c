"""pytest side of rollback: the end-of-run rollback, its report and alert.

:func:`configure` (from :meth:`PipelineRun.start`) registers :class:`RollbackPlugin` in every
process. The end of the run (:func:`pytest_pipeline.plugin.finish.finish_run`, owning process)
calls :meth:`RollbackPlugin.roll_back` first: the policy
(:func:`pytest_pipeline.deploy.rollback.decide`) over every test's result, and when it says
so the rollback through a deploy target rebuilt from the run's records, verified; the run's
``deployment`` record then says ``rolled_back`` / ``rollback_failed`` and why, before the
record is written. After the record, :meth:`RollbackPlugin.notify` sends the alert or
rollback notification.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_pipeline.deploy import rollback
from pytest_pipeline.models import DeploymentMetadata, InfrastructureState
from pytest_pipeline.reporting.redact import redact

if TYPE_CHECKING:
    from pytest_pipeline.deploy.base import DeployTarget
    from pytest_pipeline.plugin.run import PipelineRun


log = logging.getLogger("pytest_pipeline.deploy.rollback")

PLUGIN_NAME = "pipeline-rollback"
RECORD_KIND = "rollback"


class NoEnvironment(Exception):
    """A separate job cannot reach any environment that could serve its tested URL."""


def configure(config: pytest.Config, run: PipelineRun) -> RollbackPlugin:
    """Register the rollback plugin objects for this run."""
    plugin = RollbackPlugin(run)
    config.pluginmanager.register(plugin, PLUGIN_NAME)
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(RollbackHtml(plugin), PLUGIN_NAME + "-html")
    return plugin


def settings_of(run: PipelineRun) -> rollback.RollbackSettings:
    """The policy's settings from the run's resolved settings."""
    options = run.options
    return rollback.RollbackSettings(
        environment=options.env,
        enabled=options.rollback_enabled,
        on_failure=options.rollback_on_failure,
        rollback_on=options.rollback_on,
        alert_only=options.alert_only,
    )


class RollbackPlugin:
    """The end-of-run decision and rollback (owning process), over every test's result and
    markers (``PipelineRun.markers``, carried on the failed reports)."""

    def __init__(self, run: PipelineRun) -> None:
        self.run = run
        self.decision: rollback.Decision | None = None
        self.outcome: rollback.Outcome | None = None
        self.notified: list[str] = []

    @property
    def fails_run(self) -> bool:
        """True after a rollback, or a rollback that failed: the run is never green then."""
        outcome = self.outcome
        if outcome is None:
            return False

        return outcome.status is not rollback.OutcomeStatus.REFUSED

    # -- hooks ----------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """The decision and, after a rollback, what it did (section ``pipeline rollback``)."""
        lines = self.summary_lines()
        if not lines:
            return
        terminalreporter.section("pipeline rollback")
        bad = self.outcome is not None and not self.outcome.ok
        for line in lines:
            terminalreporter.line(redact(line), red=bad, yellow=not bad)

    # -- the end of the run ---------------------------------------------------------------------

    def _tested(self) -> DeploymentMetadata | None:
        """The deploying job's record (``deployment-record``): what a separate job tests.
        Raises ``ValueError`` naming the file when it cannot be used."""
        path = self.run.options.deployment_record
        if not path:
            return None

        env = self.run.options.env
        try:
            record = DeploymentMetadata.from_dict(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:  # ModelError is a ValueError
            raise ValueError(
                f"deployment-record {path} is not a deployment record: "
                f"{type(error).__name__}: {error}"
            ) from error
        # the record names the pipeline's environment or the Elastic Beanstalk one it deployed to
        expected = {env, self.run.options.eb_environment} - {None, ""}
        if record.environment not in expected:
            raise ValueError(
                f"deployment-record {path} is of environment {record.environment}, this run "
                f"tests {' / '.join(sorted(map(str, expected)))}"
            )
        return record

    def roll_back(self) -> None:
        """End of run, first step: decide (``pytest_pipeline_rollback_decided``); roll back
        when decided; record the result in the run's ``deployment`` and ``rollback`` records."""
        if not any(result.outcome.is_failure for result in self.run.results):
            return  # the policy acts on failed tests only: nothing to decide

        deployment = self.run.recorded_as("deployment", DeploymentMetadata.from_dict)
        settings = settings_of(self.run)
        problem: str | None = None
        try:
            tested = None if deployment is not None else self._tested()
        except ValueError as error:
            tested, problem = None, str(error)
        decision = rollback.decide(
            self.run.results, deployment, settings, self.run.markers, tested=tested
        )
        self.decision = decision
        self.run.pytest_config.hook.pytest_pipeline_rollback_decided(
            run=self.run, decision=decision
        )
        if decision.action is rollback.Action.NONE:
            return
        log.warning("%s", decision.summary(), extra={"status": decision.action.value})
        if decision.action is rollback.Action.ALERT:
            self.run.record(RECORD_KIND, {"decision": decision.to_dict()})
            return
        try:
            if problem is not None:
                raise ValueError(problem)
            target = self.target()
        except NoEnvironment as error:
            outcome = rollback.Outcome(
                rollback.OutcomeStatus.REFUSED,
                settings.environment,
                self.run.options.deploy_target,
                str(error),
                remediation="run the job against the AWS that serves the environment "
                "(--aws-backend endpoint --aws-endpoint-url URL, or real AWS)",
            )
        except Exception as error:
            outcome = rollback.Outcome(
                rollback.OutcomeStatus.ROLLBACK_FAILED,
                settings.environment,
                self.run.options.deploy_target,
                f"could not reach the {self.run.options.deploy_target} deploy target to roll "
                f"back: {type(error).__name__}: {error}",
                from_version=decision.from_version,
                to_version=decision.to_version,
                remediation="roll back by hand to the previous version (see the events of the "
                "environment), then fix what prevented the pipeline from reaching it",
            )
        else:
            try:
                outcome = self._other_environment(target, decision) or rollback.execute(
                    decision,
                    target,
                    environment=settings.environment,
                    verify_timeout=self.run.options.health_timeout,
                )
            finally:
                target.close()
        self.outcome = outcome
        level = logging.INFO if outcome.ok else logging.ERROR
        for line in outcome.lines():
            log.log(level, "%s", line, extra={"status": outcome.status.value})
        if deployment is not None or outcome.status is not rollback.OutcomeStatus.REFUSED:
            record = rollback.record_outcome(deployment, decision, outcome)
            self.run.record("deployment", record.to_dict())
        self.run.record(RECORD_KIND, {"decision": decision.to_dict(), "outcome": outcome.to_dict()})

    def _other_environment(
        self, target: Any, decision: rollback.Decision
    ) -> rollback.Outcome | None:
        """A refusal when a separate job tested a URL that its environment does not serve."""
        tested = self.run.options.target_url
        if decision.deployed_this_run or not tested:
            return None
        try:
            own: str | None = target.url
        except Exception:
            own = None
        if own is not None and own.rstrip("/") == tested.rstrip("/"):
            return None
        env = self.run.options.env
        return rollback.Outcome(
            rollback.OutcomeStatus.REFUSED,
            env,
            target.name,
            f"nothing to roll back to: the tested URL {tested} is not served by "
            f"{target.name} environment {env} ({own or 'not running'}); it was left alone",
            remediation="pass the --env whose environment serves that URL, or roll it back "
            "where it was deployed",
        )

    def target(self) -> DeployTarget:
        """A deploy target attached to this run's environment, rebuilt from the run's records
        (the AWS backend and the stack's outputs) or, in a separate job, from the settings.

        Raises :class:`NoEnvironment` for a separate job on a new embedded backend (it starts
        empty: no environment can serve the tested URL there)."""
        # boto3 (aws/): loaded only when the policy decided to roll back
        from pytest_pipeline.aws.clients import recorded_context, resolve_context

        options = self.run.options
        aws = self.run.recorded("aws")
        infra = self.run.recorded_as("infrastructure", InfrastructureState.from_dict)
        outputs = dict(infra.outputs) if infra else {}

        def no_moto() -> str:
            raise NoEnvironment(
                f"nothing to roll back to: the tested URL {options.target_url} is not served by "
                f"{options.deploy_target} environment {options.env} (a new embedded "
                "backend has no environments); it was left alone"
            )

        ctx = (
            recorded_context(aws.get("endpoint_url"), aws.get("region"), source="run record")
            if aws is not None
            else resolve_context(
                options.aws_backend,
                options.aws_endpoint_url,
                options.aws_region,
                source=options.source("aws_backend"),
                start_moto=no_moto,
            )
        )
        return self.run.deploy_target(ctx, outputs, rollback_enabled=False)

    def notify(self) -> None:
        """End of run, after the record: tell the notification channels about the alert or
        the rollback (SNS through the stack's topic, webhook, log)."""
        decision = self.decision
        if decision is None or not decision.acts:
            return
        subject, text = self.message()
        payload: dict[str, Any] = {
            "status": "rollback" if self.outcome else "alert",
            "environment": self.run.options.env,
            "run_id": self.run.run_id,
            "rollback": {
                "decision": decision.to_dict(),
                "outcome": self.outcome.to_dict() if self.outcome else None,
            },
        }
        # boto3 (aws/): loaded only when the policy decided to alert or roll back
        from pytest_pipeline.aws import monitoring

        results = monitoring.notify_about_stack(
            self.run.options.notification_channels,
            subject,
            text,
            infra=self.run.recorded_as("infrastructure", InfrastructureState.from_dict),
            webhook_url=self.run.options.webhook_url,
            payload=payload,
        )
        self.notified = [
            f"{result.channel}: {'sent' if result.ok else 'NOT sent'} ({result.detail})"
            for result in results
        ]

    # -- what to say ----------------------------------------------------------------------------

    def message(self) -> tuple[str, str]:
        """The notification's subject and text."""
        env = self.run.options.env
        decision, outcome = self.decision, self.outcome
        assert decision is not None
        if outcome is None:
            subject = f"pipeline {env}: ALERT, no rollback"
        elif outcome.status is rollback.OutcomeStatus.ROLLED_BACK:
            subject = f"pipeline {env}: rolled back {outcome.from_version} -> {outcome.to_version}"
        elif outcome.status is rollback.OutcomeStatus.REFUSED:
            subject = f"pipeline {env}: rollback refused, nothing to roll back to"
        else:
            subject = f"pipeline {env}: ROLLBACK FAILED, act by hand"
        return subject, "\n".join(self.summary_lines())

    def summary_lines(self) -> list[str]:
        """Terminal summary lines (empty when no failure called for an alert or a rollback)."""
        decision = self.decision
        if decision is None or not decision.acts:
            return []
        lines = [f"decision: {decision.summary()}"]
        lines += [f"  {reason}" for reason in decision.reasons[1:]]
        if self.outcome is not None:
            lines += self.outcome.lines()
        lines += [f"notification {item}" for item in self.notified]
        return lines


class RollbackHtml:
    """pytest-html: the rollback (or alert) above the results."""

    def __init__(self, plugin: RollbackPlugin) -> None:
        self.plugin = plugin

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
    ) -> None:
        """A ``pipeline-rollback`` block: status, versions, reason, what to do by hand."""
        block = rollback_html(self.plugin.decision, self.plugin.outcome)
        if block:
            prefix.append(block)


_COLOURS = {"rolled_back": "#bc4c00", "refused": "#9a6700", "rollback_failed": "#cf222e"}


def rollback_html(decision: rollback.Decision | None, outcome: rollback.Outcome | None) -> str:
    """The HTML block of the report (empty when there was nothing to alert about)."""
    if decision is None or not decision.acts:
        return ""
    status = outcome.status.value if outcome else "alert"
    colour = _COLOURS.get(status, "#9a6700")

    def esc(value: object) -> str:
        return html.escape(redact(str(value)))

    rows = [("Decision", decision.summary())]
    rows += [("Reason", reason) for reason in decision.reasons[1:]]
    if outcome is not None:
        rows += [
            ("Rollback", outcome.message),
            ("From version", outcome.from_version or "-"),
            ("Rollback version", outcome.to_version or "-"),
        ]
        if outcome.health:
            rows.append(("Health after rollback", outcome.health.get("status", "-")))
        if outcome.remediation:
            rows.append(("What to do by hand", outcome.remediation))
    cell = 'style="border:1px solid #d0d7de;padding:4px 10px;text-align:left"'
    body = "".join(f"<tr><th {cell}>{esc(k)}</th><td {cell}>{esc(v)}</td></tr>" for k, v in rows)
    return (
        f'<div id="pipeline-rollback" data-status="{esc(status)}" '
        'style="margin:8px 0 16px;font-family:system-ui,sans-serif">'
        f'<h3 style="margin:4px 0">Rollback: <span style="color:{colour}">'
        f"{esc(status)}</span></h3>"
        f'<table style="border-collapse:collapse">{body}</table></div>'
    )
