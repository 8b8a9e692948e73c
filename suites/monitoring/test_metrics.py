"""The run's metrics (stage durations, outcomes, p95 latency) are published to CloudWatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytest_pipeline.aws import monitoring
from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.models import InfrastructureState
from pytest_pipeline.plugin.run import PipelineRun
from pytest_pipeline.reporting.metrics import run_metrics
from pytest_pipeline.reporting.recorder import Recorder
from pytest_pipeline.reporting.summary import build_summary


def test_run_metrics_published_and_readable(
    aws: AwsContext,
    stack: InfrastructureState,
    pipeline_run: PipelineRun,
    pipeline_record: Recorder,
) -> None:
    # The stages before this one, as this process saw them (all of them without xdist).
    results = [r for r in pipeline_run.results if r.stage != "monitoring"]
    summary = build_summary(results, environment=pipeline_run.options.env, stack=stack.stack_name)
    data = run_metrics(summary, results)
    since = datetime.now(UTC) - timedelta(minutes=1)
    cloudwatch = aws.client("cloudwatch")
    assert monitoring.publish_metrics(cloudwatch, data) == len(data)
    env = [{"Name": "Environment", "Value": summary.environment}]
    # CloudWatch may take a couple of minutes before new datapoints can be read: poll
    monitoring.wait_for_metric(cloudwatch, "PipelineSucceeded", env, since=since)
    rows = []
    for stage in summary.stages:
        dims = [*env, {"Name": "Stage", "Value": stage.name}]
        back = monitoring.wait_for_metric(cloudwatch, "StageDuration", dims, since=since)
        rows.append({"stage": stage.name, "outcome": stage.outcome, "duration_s": back})
    pipeline_record.table("Metrics published to CloudWatch", rows or [{"stage": "(none yet)"}])
    pipeline_record.figure("metrics_published", len(data))
