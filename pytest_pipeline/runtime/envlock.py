"""One environment, one run at a time: a lock file per environment in the checkout.

Two runs in one checkout (a developer's second terminal, a re-run while the first still
tears down) would provision, deploy and tear down the same stack and local environment on
top of each other. The run that provisions first holds ``.pipeline/locks/<key>.json``
(run id, the owning process, since when) until its end; another run is refused with who
holds it. A lock whose owning process is gone (a killed run) is taken over and said so.
Plain library code (the JSON file is created with ``O_EXCL``: no partial lock is ever read).
On real AWS several checkouts are several machines: CI serialises them (the workflow's
concurrency groups); this lock guards one machine.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pytest_pipeline.runtime.processes import create_time


class EnvironmentBusy(RuntimeError):
    """Another live run holds the environment; the message says which and what to do."""


@dataclass(frozen=True)
class Holder:
    """Who holds an environment: the run, its owning process and since when."""

    run_id: str
    pid: int
    started: float
    """The owning process's start time (tells a reused pid from the holder)."""
    since: str
    environment: str

    def alive(self) -> bool:
        """True while the owning process still runs."""
        started = create_time(self.pid)
        return started is not None and abs(started - self.started) < 1.0

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid}) since {self.since}"


def owner(run_id: str, pid: int, environment: str) -> Holder:
    """A holder for run ``run_id`` whose owning process is ``pid`` (a running process)."""
    started = create_time(pid)
    if started is None:
        raise ValueError(f"process {pid} is not running: a lock names the live process holding it")
    return Holder(
        run_id,
        pid,
        started,
        datetime.now(UTC).isoformat(timespec="seconds"),
        environment,
    )


def _path(lock_dir: Path, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    return lock_dir / f"{safe}.json"


def _read(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None  # not a lock this code wrote: treated as stale


def acquire(lock_dir: Path, key: str, holder: Holder) -> str | None:
    """Hold ``key`` for ``holder``'s run. Returns a note when a dead run's lock was taken
    over; raises :class:`EnvironmentBusy` when a live run holds it (the same run holding it
    already is fine: every process of a run calls this)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = _path(lock_dir, key)
    note = None
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            current = _read(path)
            if current is not None and current.run_id == holder.run_id:
                return note
            if current is not None and current.alive():
                raise EnvironmentBusy(
                    f"environment {key} is held by {current.describe()}: wait for that run "
                    "to finish (or stop it), then run again; two runs in one environment "
                    "would deploy over and tear down each other"
                ) from None
            note = (
                f"took over the lock of environment {key} from "
                f"{current.describe() if current else 'an unreadable lock'}, which is gone"
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(asdict(holder), handle)
        return note
    raise EnvironmentBusy(f"environment {key}: could not take its lock {path}; remove it")


def release(lock_dir: Path, key: str, run_id: str) -> bool:
    """Give ``key`` back if ``run_id`` holds it; True when released."""
    path = _path(lock_dir, key)
    current = _read(path)
    if current is None or current.run_id != run_id:
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True
