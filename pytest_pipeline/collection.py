"""Stages at collection time: markers from folders, one stage per test, stage order."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_pipeline.session import STAGE_KEY
from pytest_pipeline.stages import (
    STAGE_NAMES,
    Stage,
    StageConflictError,
    stage_from_path,
    stage_of_markers,
)


def register_markers(config: pytest.Config) -> None:
    """Declare the five stage markers with their one-line descriptions."""
    for stage in Stage:
        config.addinivalue_line("markers", f"{stage.value}: {stage.description}")


def assign_stages(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every item its stage (marker, else ``suites/<stage>/`` folder).

    An item with two stage markers is removed and reported as a collection error naming it.
    """
    rootdir = config.rootpath
    by_path: dict[Path, Stage | None] = {}
    keep: list[pytest.Item] = []
    for item in items:
        try:
            stage = stage_of_markers(
                mark.name for mark in item.iter_markers() if mark.name in STAGE_NAMES
            )
        except StageConflictError as error:
            report = pytest.CollectReport(
                item.nodeid, "failed", f"{item.nodeid}: {error}", result=[]
            )
            config.hook.pytest_collectreport(report=report)
            continue
        if stage is None:
            path = item.path
            if path not in by_path:
                try:
                    relative: Path = path.relative_to(rootdir)
                except ValueError:
                    relative = path
                by_path[path] = stage_from_path(relative)
            stage = by_path[path]
            if stage is not None:
                item.add_marker(stage.value)
        item.stash[STAGE_KEY] = stage
        keep.append(item)
    if len(keep) != len(items):
        items[:] = keep


def sort_by_stage(items: list[pytest.Item]) -> None:
    """Put the staged items in stage order (stable) in the slots staged items occupy;
    unstaged items stay exactly where they are (they are never gated)."""
    slots = [i for i, item in enumerate(items) if item.stash.get(STAGE_KEY, None) is not None]
    staged = sorted((items[i] for i in slots), key=_order_key)
    for slot, item in zip(slots, staged, strict=True):
        items[slot] = item


def _order_key(item: pytest.Item) -> int:
    stage = item.stash.get(STAGE_KEY, None)
    return 0 if stage is None else stage.order
