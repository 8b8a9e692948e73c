"""Load with Locust; one test per k6-style threshold; the server's CPU and memory."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_pipeline.postdeploy.thresholds import Threshold, evaluate
from pytest_pipeline.settings import PipelineSettings

# Under ``-n N --dist loadgroup`` every test here runs on one worker, so the other workers
# keep testing instead of waiting for the shared load run.
pytestmark = pytest.mark.xdist_group("load")


def test_load_summary(load_run: Any, contract_record: Any) -> None:
    """The load ran and recorded requests; figures, percentiles and histogram for review."""
    result = load_run.result
    stats = result.stats()
    rows = [{"endpoint": name, **s.summary()} for name, s in stats.items()]
    contract_record.table("load figures (ms, req/s)", rows)
    contract_record.histogram("latency, all endpoints", result.latencies())
    for name, s in stats.items():
        for key in ("p50", "p95", "p99"):
            contract_record.figure(f"{name}_{key}_ms", round(s.metric(key), 1), "ms")
    overall = stats["overall"]
    contract_record.figure("rps", round(overall.rps, 2), "req/s")
    contract_record.figure("error_rate", round(overall.error_rate, 4))
    if load_run.mean_cpu_percent is not None:
        contract_record.figure("server_cpu_mean_percent", round(load_run.mean_cpu_percent, 1))
    assert overall.count > 0, f"the load run recorded no requests ({result.duration_s:.1f}s)"


def test_threshold(load_run: Any, threshold: Threshold, contract_record: Any) -> None:
    """One configured threshold (setting ``threshold``) against the load run's figures."""
    verdict = evaluate(threshold, load_run.result.stats())
    contract_record.figure(threshold.label, round(verdict.actual, 4), threshold.unit)
    contract_record.slo(threshold.text, round(verdict.actual, 4), threshold.unit)
    assert verdict.passed, verdict.message


def test_memory_ceiling(
    load_run: Any, pipeline_settings: PipelineSettings, contract_record: Any
) -> None:
    """The serving processes' peak resident memory under load stays under the ceiling."""
    if load_run.peak_rss_mb is None:
        pytest.skip(f"server memory not sampled: {load_run.resources_note}")
    ceiling = pipeline_settings.memory_ceiling_mb
    contract_record.figure("server_peak_rss_mb", round(load_run.peak_rss_mb, 1), "MB")
    contract_record.slo(f"peak RSS <= {ceiling} MB", round(load_run.peak_rss_mb, 1), "MB")
    assert load_run.peak_rss_mb <= ceiling, (
        f"serving processes peaked at {load_run.peak_rss_mb:.0f} MB under load, above "
        f"memory-ceiling-mb {ceiling} MB ({load_run.resources_note})"
    )
