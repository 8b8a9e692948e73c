"""The run's metrics as CloudWatch ``MetricData`` entries (built here, published by aws/).

Per stage (dimensions ``Environment`` and ``Stage``): ``StageDuration`` (seconds),
``StagePassed`` / ``StageFailed`` / ``StageHalted`` / ``StageSkipped`` (1 for the stage's outcome,
else 0) and
``TestsFailed`` (count). Per run (dimension ``Environment``): ``PipelineSucceeded`` (1/0) and,
when a performance test recorded one, ``LatencyP95`` (milliseconds, the worst p95 of the run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pytest_pipeline.models import TestResult
from pytest_pipeline.reporting.summary import FAILED, HALTED, PASSED, SKIPPED, RunSummary

NAMESPACE = "PytestPipeline"
P95_PROPERTY = "latency_p95_ms"

_OUTCOME_METRICS = {
    PASSED: "StagePassed",
    FAILED: "StageFailed",
    HALTED: "StageHalted",
    SKIPPED: "StageSkipped",
}


def worst_p95(results: list[TestResult]) -> float | None:
    """The largest ``latency_p95_ms`` property of ``results`` (None when none recorded one)."""
    values = []
    for result in results:
        value = result.properties.get(P95_PROPERTY)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values.append(float(value))
        elif isinstance(value, str):
            try:
                values.append(float(value))
            except ValueError:
                continue
    return max(values) if values else None


def run_metrics(
    summary: RunSummary, results: list[TestResult], timestamp: datetime | None = None
) -> list[dict[str, Any]]:
    """``MetricData`` entries for ``put_metric_data`` describing ``summary``."""
    env = {"Name": "Environment", "Value": summary.environment}
    extra: dict[str, Any] = {} if timestamp is None else {"Timestamp": timestamp}
    data: list[dict[str, Any]] = []
    for stage in summary.stages:
        dims = [env, {"Name": "Stage", "Value": stage.name}]
        data.append(
            {
                "MetricName": "StageDuration",
                "Dimensions": dims,
                "Value": stage.duration,
                "Unit": "Seconds",
            }
        )
        for outcome, name in _OUTCOME_METRICS.items():
            value = 1.0 if stage.outcome == outcome else 0.0
            data.append({"MetricName": name, "Dimensions": dims, "Value": value, "Unit": "Count"})
        failed = stage.counts.get("failed", 0) + stage.counts.get("error", 0)
        data.append(
            {
                "MetricName": "TestsFailed",
                "Dimensions": dims,
                "Value": float(failed),
                "Unit": "Count",
            }
        )
    data.append(
        {
            "MetricName": "PipelineSucceeded",
            "Dimensions": [env],
            "Value": 1.0 if summary.succeeded else 0.0,
            "Unit": "Count",
        }
    )
    p95 = worst_p95(results)
    if p95 is not None:
        data.append(
            {"MetricName": "LatencyP95", "Dimensions": [env], "Value": p95, "Unit": "Milliseconds"}
        )
    return [{**datum, **extra} for datum in data]


def stage_outcome_from_metrics(data: list[dict[str, Any]], stage: str) -> str | None:
    """Read a stage's outcome back from ``run_metrics`` output (None if the stage is absent)."""
    for datum in data:
        dims = {d["Name"]: d["Value"] for d in datum["Dimensions"]}
        if dims.get("Stage") == stage and datum["Value"] == 1.0:
            for outcome, name in _OUTCOME_METRICS.items():
                if datum["MetricName"] == name:
                    return outcome
    present = any(
        {d["Name"]: d["Value"] for d in datum["Dimensions"]}.get("Stage") == stage for datum in data
    )
    return "not run" if present else None
