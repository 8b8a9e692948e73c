"""Monitoring stage: skipped as a whole when ``monitoring-enabled`` is off."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.run import PipelineRun


@pytest.fixture(autouse=True)
def _monitoring_enabled(pipeline_run: PipelineRun) -> None:
    """Skip the stage when monitoring is turned off for this environment."""
    if not pipeline_run.options.monitoring_enabled:
        source = pipeline_run.options.source("monitoring_enabled")
        pytest.skip(f"monitoring-enabled is off ({source})")
