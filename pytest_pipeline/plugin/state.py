"""What the plugin keeps on pytest's objects, and what holds before a run starts.

The plugin is loaded in every pytest session of a project that installs it, pipeline or
not. At ``pytest_configure`` it only registers its markers and resolves the settings
(:data:`SETTINGS_KEY`, read with :func:`get_settings`; bad settings stop pytest there).
The run itself (:class:`~pytest_pipeline.plugin.run.PipelineRun`, under :data:`RUN_KEY`)
starts when collection selected a test with a stage or one that asks for a pipeline
fixture, or when ``-m``/``-k`` left no test of a collection that had one (the run's verdict:
no test ran); under xdist at ``pytest_configure``, since the controller hands the run to its
workers before anything is collected. Any other session never creates a run folder, a log
or ``deployment.json``.

This module imports nothing of the run, so the entry point stays cheap to load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_pipeline.plugin.run import PipelineRun
    from pytest_pipeline.settings import PipelineSettings
    from pytest_pipeline.stages import Stage

SETTINGS_KEY: pytest.StashKey[PipelineSettings] = pytest.StashKey()
"""``config.stash[SETTINGS_KEY]``: the resolved settings (use :func:`get_settings`)."""
RUN_KEY: pytest.StashKey[PipelineRun] = pytest.StashKey()
"""``config.stash[RUN_KEY]`` is the run, once it started (use ``run.get_run``)."""
STAGE_KEY: pytest.StashKey[Stage | None] = pytest.StashKey()
"""``item.stash[STAGE_KEY]``: the stage of a collected test (None for unstaged tests)."""
PIPELINE_COLLECTED_KEY: pytest.StashKey[bool] = pytest.StashKey()
"""``config.stash[PIPELINE_COLLECTED_KEY]``: the collection (before ``-m``/``-k``) had a test
with a stage or one asking for a pipeline fixture."""
GATED_KEY: pytest.StashKey[bool] = pytest.StashKey()
"""``item.stash[GATED_KEY]`` is True when the gate skipped the test."""


def get_settings(config: pytest.Config) -> PipelineSettings:
    """The settings of this session (from ``pytest_configure`` on; they do not need a run)."""
    try:
        return config.stash[SETTINGS_KEY]
    except KeyError:
        raise RuntimeError(
            "the pipeline settings are not resolved yet (get_settings() is available from "
            "pytest_configure on, and not when the settings were invalid)"
        ) from None


def current_run(config: pytest.Config) -> PipelineRun | None:
    """The run when it started, else None (never starts one)."""
    return config.stash.get(RUN_KEY, None)


def header_lines(options: PipelineSettings, run: PipelineRun | None, verbose: bool) -> list[str]:
    """The report header: one line (environment, AWS backend, deploy target, and the run
    when it started already); ``verbose`` (pytest ``-v``) adds every setting with its source."""
    line = (
        f"pipeline: env {options.env}, aws-backend {options.aws_backend}, "
        f"deploy-target {options.deploy_target}"
    )
    if run is not None:
        line += f", {run.describe()}"
    swept = run.swept_lines() if run is not None else []
    if not verbose:
        return [line + " (-v: every setting)", *swept]
    lines = [line, *swept]
    explained = options.explain()
    width = max(len(name) for name, _, _ in explained)
    for name, value, source in explained:
        if isinstance(value, tuple):
            shown = ", ".join(value) if value else "(none)"
        else:
            shown = "(none)" if value is None else str(value)
        lines.append(f"  {name:<{width}} = {shown}  [{source}]")
    return lines
