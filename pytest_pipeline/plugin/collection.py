"""Stages at collection time: markers from folders, one stage per test, stage order."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_pipeline.plugin.state import STAGE_KEY
from pytest_pipeline.stages import (
    STAGE_NAMES,
    Stage,
    StageConflictError,
    stage_from_path,
    stage_may_be_selected,
    stage_of_markers,
)

if TYPE_CHECKING:
    from pytest_pipeline.settings import PipelineSettings


SECURITY_MARKER = "security_scan"


def register_markers(config: pytest.Config) -> None:
    """Declare the five stage markers with their one-line descriptions, and the marker of
    the predeploy security tests."""
    for stage in Stage:
        config.addinivalue_line("markers", f"{stage.value}: {stage.description}")
    config.addinivalue_line(
        "markers",
        f"{SECURITY_MARKER}(scanner): parametrize `security_case` with one case per finding of "
        "the named predeploy scanner (a key of pytest_pipeline.predeploy.scanners.SCANNERS)",
    )


def may_select(config: pytest.Config, stage: Stage) -> bool:
    """Whether ``-m`` can select tests of ``stage`` in this session."""
    return stage_may_be_selected(str(config.getoption("markexpr") or ""), stage)


def may_read_waivers(config: pytest.Config, options: PipelineSettings) -> bool:
    """Whether the session may run predeploy security tests (``-m`` can select the stage)
    and the waiver file they read exists."""
    return may_select(config, Stage.PREDEPLOY) and options.waivers.exists()


def assign_stages(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every item its stage (marker, else ``suites/<stage>/`` folder).

    An item with two stage markers is removed and reported as a collection error naming it.
    """
    rootdir = config.rootpath
    by_path: dict[Path, Stage | None] = {}
    inherited: dict[int, list[str]] = {}  # stage markers of each parent node, by id
    marks: dict[Stage, pytest.MarkDecorator] = {}
    keep: list[pytest.Item] = []
    for item in items:
        names = [mark.name for mark in item.own_markers if mark.name in STAGE_NAMES]
        names += _stage_marker_names(item.parent, inherited)
        try:
            stage = stage_of_markers(names) if names else None
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
                if stage not in marks:
                    marks[stage] = getattr(pytest.mark, stage.value)
                item.add_marker(marks[stage])
        item.stash[STAGE_KEY] = stage
        keep.append(item)
    if len(keep) != len(items):
        items[:] = keep


def _stage_marker_names(
    node: pytest.Item | pytest.Collector | None, memo: dict[int, list[str]]
) -> list[str]:
    """The stage markers of ``node`` and its parents (what ``iter_markers`` would yield),
    worked out once per node: the items of a module share their parents."""
    if node is None:
        return []
    found = memo.get(id(node))
    if found is None:
        own = [mark.name for mark in node.own_markers if mark.name in STAGE_NAMES]
        found = memo[id(node)] = own + _stage_marker_names(node.parent, memo)
    return found


def wants_run(items: list[pytest.Item], pipeline_fixtures: frozenset[str]) -> bool:
    """Whether a run must start for ``items``: one of them has a stage or asks for one of
    ``pipeline_fixtures`` (a test without either never reaches the run)."""
    for item in items:
        if item.stash.get(STAGE_KEY, None) is not None:
            return True
        if not pipeline_fixtures.isdisjoint(getattr(item, "fixturenames", ())):
            return True
    return False


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
