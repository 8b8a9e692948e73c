"""Metrics just put are read back with a deadline, not once (CloudWatch documents a delay).

Stubber scripts of ``GetMetricStatistics`` as the real API answers while a new metric is not
yet queryable (no datapoints), then with one; and a metric that never arrives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from pytest_pipeline.aws import monitoring

ENV = [{"Name": "Environment", "Value": "dev"}]
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def _client() -> object:
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    )


def test_a_metric_that_arrives_late_is_waited_for() -> None:
    cloudwatch = _client()
    naps: list[float] = []
    with Stubber(cloudwatch) as stub:  # type: ignore[arg-type]
        stub.add_response("get_metric_statistics", {"Label": "PipelineSucceeded", "Datapoints": []})
        stub.add_client_error("get_metric_statistics", "Throttling", "Rate exceeded", 400)
        stub.add_response("get_metric_statistics", {"Label": "PipelineSucceeded", "Datapoints": []})
        stub.add_response(
            "get_metric_statistics",
            {
                "Label": "PipelineSucceeded",
                "Datapoints": [{"Timestamp": SINCE + timedelta(minutes=1), "Sum": 0.0}],
            },
        )
        value = monitoring.wait_for_metric(
            cloudwatch, "PipelineSucceeded", ENV, since=SINCE, sleep=naps.append
        )
        stub.assert_no_pending_responses()
    assert value == 0.0  # a sum of zero is an answer, not "not yet"
    assert len(naps) == 3


def test_a_metric_that_never_arrives_fails_naming_it() -> None:
    cloudwatch = _client()
    with Stubber(cloudwatch) as stub:  # type: ignore[arg-type]
        for _ in range(50):
            stub.add_response("get_metric_statistics", {"Label": "X", "Datapoints": []})
        with pytest.raises(monitoring.MonitoringError, match=r"PytestPipeline/StageDuration"):
            monitoring.wait_for_metric(
                cloudwatch, "StageDuration", ENV, since=SINCE, deadline_s=0.3
            )
