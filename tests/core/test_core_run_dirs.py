"""Run folders under .pipeline/runs: old ones are pruned, a live one never is."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pytest_pipeline.plugin.run import KEEP_RUNS, PRUNE_AFTER_S, RUNS_DIR, _make_run_dir


def test_only_old_folders_beyond_the_kept_number_are_pruned(tmp_path: Path) -> None:
    runs = tmp_path / RUNS_DIR
    stale = time.time() - PRUNE_AFTER_S - 60
    names = [f"20260101T0000{n:02d}Z-aaaaaa" for n in range(KEEP_RUNS + 5)]
    for index, name in enumerate(names):
        folder = runs / name
        folder.mkdir(parents=True)
        if index % 2 == 0:  # every other one is old; the rest may belong to live runs
            os.utime(folder, (stale, stale))
    new = _make_run_dir(tmp_path, "20270101T000000Z-bbbbbb")
    left = sorted(path.name for path in runs.iterdir())
    beyond = names[: len(names) + 1 - KEEP_RUNS]  # the oldest, past the kept number
    assert new.is_dir() and new.name in left
    assert [n for i, n in enumerate(names) if n in beyond and i % 2 == 0 and n in left] == []
    assert all(n in left for i, n in enumerate(names) if i % 2 == 1)
    assert all(n in left for n in names if n not in beyond)
