"""Monitoring library and end-of-run outputs against an embedded moto server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_pipeline.aws import monitoring
from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context
from pytest_pipeline.models import InfrastructureState, StackStatus, TestOutcome, TestResult
from pytest_pipeline.plugin.reporting import notify_failure, publish_run_metrics
from pytest_pipeline.reporting.summary import build_summary
from pytest_pipeline.settings import PipelineSettings


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsContext]:
    """An AwsContext on a moto server of this module."""
    with MotoServer() as server:
        yield resolve_context("endpoint", server.endpoint_url, "us-east-1", source="test")


@pytest.fixture(scope="module")
def infra(aws: AwsContext) -> InfrastructureState:
    """A stack record with a topic (subscribed by an SQS queue) and a log group."""
    topic = aws.client("sns").create_topic(Name="pipeline-alarms")["TopicArn"]
    queue = aws.client("sqs").create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    aws.client("logs").create_log_group(logGroupName="/pipeline/test/app")
    return InfrastructureState(
        stack_name="pipeline-test",
        region="us-east-1",
        status=StackStatus.CREATE_COMPLETE,
        backend="moto",
        endpoint_url=aws.endpoint_url,
        outputs={"NotificationTopicArn": topic, "LogGroupName": "/pipeline/test/app", "Q": queue},
    )


RESULTS = [
    TestResult("suites/predeploy/test_a.py::t", TestOutcome.PASSED, "predeploy", 1.5),
    TestResult(
        "suites/postdeploy/test_b.py::t",
        TestOutcome.FAILED,
        "postdeploy",
        2.0,
        "p95 too slow",
        {"latency_p95_ms": 950.0},
    ),
]


def _run() -> Any:
    options = PipelineSettings.resolve(flags={"notification-channels": ["sns", "log"]})
    assert options.monitoring_enabled and options.webhook_url is None
    return SimpleNamespace(results=RESULTS, options=options)


def test_failure_notification_reaches_the_topic(
    aws: AwsContext, infra: InfrastructureState
) -> None:
    summary = build_summary(RESULTS, environment="staging")
    results = notify_failure(_run(), summary, infra)
    assert [(r.channel, r.ok) for r in results] == [("sns", True), ("log", True)]
    messages = aws.client("sqs").receive_message(
        QueueUrl=infra.outputs["Q"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    )["Messages"]
    body = json.loads(messages[0]["Body"])
    assert body["Subject"] == "pipeline staging failed at postdeploy"
    assert "postdeploy: failed" in body["Message"]


def test_run_metrics_published_and_read_back(aws: AwsContext, infra: InfrastructureState) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    summary = build_summary(RESULTS, environment="staging")
    # per stage: duration, 4 outcome flags, tests failed; per run: succeeded, p95
    assert publish_run_metrics(summary, _run(), infra) == 2 * 6 + 2
    cloudwatch = aws.client("cloudwatch")
    env = [{"Name": "Environment", "Value": "staging"}]
    failed = [*env, {"Name": "Stage", "Value": "postdeploy"}]
    assert monitoring.metric_sum(cloudwatch, "StageFailed", failed, since=since) == 1.0
    assert monitoring.metric_sum(cloudwatch, "PipelineSucceeded", env, since=since) == 0.0
    assert monitoring.metric_sum(cloudwatch, "LatencyP95", env, since=since) == 950.0


def test_log_delivery_probe_then_application_events(
    aws: AwsContext, infra: InfrastructureState
) -> None:
    logs = aws.client("logs")
    since = datetime.now(UTC) - timedelta(minutes=1)
    probe = monitoring.verify_log_delivery(logs, "/pipeline/test/app", since=since, probe_id="r1")
    assert probe.probe_verified and not probe.app_logs_verified
    assert "probe event" in probe.describe()
    logs.create_log_stream(logGroupName="/pipeline/test/app", logStreamName="web-1")
    stamp = int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(
        logGroupName="/pipeline/test/app",
        logStreamName="web-1",
        logEvents=[{"timestamp": stamp, "message": "GET /health 200"}],
    )
    app = monitoring.verify_log_delivery(logs, "/pipeline/test/app", since=since, probe_id="r2")
    assert app.app_logs_verified and app.sample == "GET /health 200"
    with pytest.raises(monitoring.MonitoringError, match="does not exist"):
        monitoring.verify_log_delivery(logs, "/nope", since=since, probe_id="r3")
