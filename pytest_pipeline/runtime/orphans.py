"""What a killed run left running is found and stopped by the next run.

A run that ends (normally, Ctrl-C, SIGTERM) stops what it started. One that is killed
(SIGKILL, a lost CI runner, an out-of-memory kill) cannot: its gunicorn masters and
workers, proxies and moto servers keep running and holding ports. So every run writes
``owner.json`` (its owning process) into its run folder and puts its run id into its
environment (``PIPELINE_RUN_ID``), which every process it starts inherits. At start, the
owning process of the next run looks for run folders of this checkout whose owner is gone
without having finished, stops every process that still carries such a run id (terminate,
then kill), and says what it did. Stacks and other cloud resources of the killed run are
named, not deleted: that is the janitor's (``--janitor``) or a person's decision.
Plain library code.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pytest_pipeline.runtime.processes import create_time

MARKER = "PIPELINE_RUN_ID"
OWNER_FILE = "owner.json"


@dataclass(frozen=True)
class Swept:
    """A killed run found by a later one: what was stopped and what may remain."""

    run_id: str
    pid: int
    stopped: list[str]
    resources: list[str]

    def describe(self) -> str:
        stopped = ", ".join(self.stopped) or "no process was left"
        text = f"run {self.run_id} (pid {self.pid}) was killed before its end: stopped {stopped}"
        if self.resources:
            text += (
                f"; its once-per-run resources {', '.join(self.resources)} may remain "
                "(remove them with --janitor or by hand)"
            )
        return text


def _started(pid: int) -> float | None:
    """When process ``pid`` started (to tell it from a later process with its pid), or None
    when there is no such process. Read from /proc where there is one: it spares importing
    psutil in every run."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return float(stat.rsplit(")", 1)[1].split()[19])  # field 22: start time in ticks
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        return create_time(pid)  # where /proc cannot tell (not Linux)


def claim(run_dir: Path, run_id: str) -> str | None:
    """Say that this process owns ``run_id`` and mark every process it starts with it;
    returns the marker it replaced (a run inside a run: pytester), for :func:`finished`."""
    previous = os.environ.get(MARKER)
    pid = os.getpid()
    (run_dir / OWNER_FILE).write_text(
        json.dumps({"run_id": run_id, "pid": pid, "started": _started(pid)}), encoding="utf-8"
    )
    os.environ[MARKER] = run_id
    return previous


def finished(run_dir: Path, previous: str | None = None) -> None:
    """The run ended (whatever its verdict): nothing of it needs sweeping; the process
    gets back the marker it had before the run."""
    with contextlib.suppress(FileNotFoundError):
        (run_dir / OWNER_FILE).unlink()
    if previous is None:
        os.environ.pop(MARKER, None)
    else:
        os.environ[MARKER] = previous


def _owner_alive(pid: int, started: float) -> bool:
    return _started(pid) == started


def _stop_marked(run_id: str, grace_s: float) -> list[str]:
    """Stop (terminate, then kill) every process carrying ``run_id``; their names."""
    # psutil loads only when a killed run was found, not at the start of every run
    import psutil

    procs: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.environ().get(MARKER) == run_id:
                procs.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    names = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            names.append(f"{proc.name()} (pid {proc.pid})")
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace_s)
    return names


def sweep(runs_dir: Path, own_run_id: str, grace_s: float = 5.0) -> list[Swept]:
    """Stop what the killed runs of ``runs_dir`` left running; one :class:`Swept` each."""
    swept: list[Swept] = []
    if not runs_dir.is_dir():
        return swept
    for owner_file in sorted(runs_dir.glob(f"*/{OWNER_FILE}")):
        try:
            owner = json.loads(owner_file.read_text(encoding="utf-8"))
            run_id, pid, started = str(owner["run_id"]), int(owner["pid"]), float(owner["started"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a folder being written right now, or not ours
        if run_id == own_run_id or _owner_alive(pid, started):
            continue
        stopped = _stop_marked(run_id, grace_s)
        resources = sorted(
            path.stem
            for path in (owner_file.parent / "once").glob("*.json")
            if path.name != "index.json"
        )
        with contextlib.suppress(FileNotFoundError):
            owner_file.unlink()
        if stopped or resources:  # a run that started nothing (--help) left nothing to say
            swept.append(Swept(run_id, pid, stopped, resources))
    return swept
