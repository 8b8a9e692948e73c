"""Application logs reach the log group; notifications reach every configured channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pytest_pipeline.aws import monitoring
from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.models import InfrastructureState
from pytest_pipeline.plugin.run import PipelineRun
from pytest_pipeline.reporting.recorder import Recorder


def test_log_group_receives_events(
    aws: AwsContext,
    stack: InfrastructureState,
    pipeline_run: PipelineRun,
    pipeline_record: Recorder,
    request: pytest.FixtureRequest,
) -> None:
    """The application's own log events reach CloudWatch Logs: on the Elastic Beanstalk
    target, the group Elastic Beanstalk streams the serving environment's stdout to; else the
    stack's log group (where only a pipeline probe may be verifiable: then it skips)."""
    since = stack.created_at or datetime.now(UTC) - timedelta(hours=1)
    logs = aws.client("logs")
    options = pipeline_run.options
    if options.deploy_target == "elasticbeanstalk" and not options.target_url:
        target = request.getfixturevalue("deploy_target")
        request.getfixturevalue("deployment")
        environment = str(target.health().get("environment") or "")
        delivery = monitoring.wait_for_app_logs(
            logs, monitoring.eb_log_group(environment), since=since
        )
        pipeline_record.text("Log delivery", delivery.describe())
        assert delivery.app_logs_verified, delivery.describe()
        return
    delivery = monitoring.verify_log_delivery(
        logs,
        stack.output("LogGroupName"),
        since=since,
        probe_id=pipeline_run.run_id,
    )
    pipeline_record.text("Log delivery", delivery.describe())
    if not delivery.app_logs_verified:
        # Only the pipeline's own probe event was verified: say so instead of passing.
        pytest.skip(
            f"{delivery.describe()}; the {options.deploy_target} target "
            "did not forward application logs to CloudWatch"
        )


def test_notification_channels_deliver(
    aws: AwsContext,
    stack: InfrastructureState,
    pipeline_run: PipelineRun,
    pipeline_record: Recorder,
) -> None:
    channels = list(pipeline_run.options.notification_channels)
    results = monitoring.notify(
        channels,
        f"pipeline {pipeline_run.options.env}: monitoring check",
        f"run {pipeline_run.run_id}: notification channels are wired (no action needed)",
        sns_client=aws.client("sns"),
        topic_arn=stack.output("NotificationTopicArn"),
        webhook_url=pipeline_run.options.webhook_url,
        payload={"status": "check", "run_id": pipeline_run.run_id},
    )
    pipeline_record.table(
        "Notifications", [{"channel": r.channel, "ok": r.ok, "detail": r.detail} for r in results]
    )
    failed = [f"{r.channel}: {r.detail}" for r in results if not r.ok]
    assert not failed, "notification channels failed: " + "; ".join(failed)
