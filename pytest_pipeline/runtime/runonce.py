"""Resources created once per run, whatever the number of processes (xdist workers).

The first caller of :func:`once_per_run` for a name creates the resource under a file lock
in the run's shared folder and records its JSON state; every later caller, in any process,
gets that state. A failed creation is recorded too, so later callers fail with the same
error instead of trying again. At the end of the run the process that owns the run calls
:func:`teardown_all`, which destroys the resources in reverse creation order through the
``"module:function"`` reference each was registered with.

Plain Python: no pytest import (the plugin turns teardown failures into warnings).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ONCE_DIR = "once"
INDEX = "index.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

Destroy = Callable[[dict[str, Any]], object]


class RunOnceError(RuntimeError):
    """A once-per-run resource could not be created (here or in another process)."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(f"once-per-run resource {name!r}: {message}")


@dataclass(frozen=True)
class TeardownFailure:
    """A resource whose destroy function failed: it may still exist."""

    name: str
    destroy_ref: str
    error: str
    state: dict[str, Any]

    def describe(self) -> str:
        """One line for a warning: what was left and why."""
        return (
            f"teardown of {self.name!r} ({self.destroy_ref}) failed, it may be left behind: "
            f"{self.error}"
        )


def resolve_ref(ref: str) -> Destroy:
    """Import ``"package.module:function"`` (raises ``ValueError`` saying what is wrong)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"destroy reference {ref!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"destroy reference {ref!r}: cannot import {module_name}: {error}"
        ) from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"destroy reference {ref!r}: {module_name} has no {attr}") from None
    if not callable(target):
        raise ValueError(f"destroy reference {ref!r} is not callable")
    return target  # type: ignore[no-any-return]  # a callable found by name is Any


def _folder(run_dir: Path) -> Path:
    folder = Path(run_dir) / ONCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data if isinstance(data, dict) else None


def _write(path: Path, data: dict[str, Any]) -> None:
    # Write then rename so a reader never sees half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path, name: str, timeout: float, doing: str) -> Iterator[None]:
    """Hold the file lock ``path``; a :class:`RunOnceError` for ``name`` when another process
    held it for more than ``timeout`` seconds (``doing``: what this process waited to do)."""
    # filelock loads with a run's first once-per-run resource: most sessions create none
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise RunOnceError(
            name, f"another process held the lock for more than {timeout:g}s while {doing}"
        ) from None
    try:
        yield
    finally:
        lock.release()


def _append_index(folder: Path, name: str, timeout: float) -> None:
    with _locked(folder / f"{INDEX}.lock", name, timeout, "adding it to the run's index"):
        index = folder / INDEX
        names: list[str] = json.loads(index.read_text()) if index.exists() else []
        if name not in names:
            names.append(name)
        tmp = index.with_name(f".{INDEX}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(names), encoding="utf-8")
        os.replace(tmp, index)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def once_per_run(
    run_dir: Path,
    name: str,
    create: Callable[[], dict[str, Any]],
    destroy_ref: str,
    *,
    honour_teardown: bool = True,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Create the resource ``name`` once per run and return its JSON state in every caller.

    ``create()`` returns a JSON-serialisable dict; ``destroy_ref`` names the function
    (``"module:function"``) that removes the resource given that dict. With
    ``honour_teardown=False`` the resource is always destroyed at the end (helper processes),
    otherwise the run's ``teardown`` policy decides. ``timeout`` bounds the wait for another
    process that is creating it.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"once-per-run name {name!r} must match {_NAME.pattern}")
    resolve_ref(destroy_ref)  # fail now on a typo, not at the end of the run
    folder = _folder(run_dir)
    path = folder / f"{name}.json"
    with _locked(folder / f"{name}.lock", name, timeout, "creating it"):
        record = _read(path)
        if record is not None:
            if record.get("status") == "failed":
                raise RunOnceError(name, f"creation failed earlier in this run: {record['error']}")
            state = record.get("state")
            assert isinstance(state, dict)
            return state
        try:
            state = create()
            if not isinstance(state, dict):
                raise TypeError(f"create() must return a dict, got {type(state).__name__}")
            json.dumps(state)
        except BaseException as error:
            _write(
                path,
                {
                    "name": name,
                    "status": "failed",
                    "error": f"{type(error).__name__}: {error}",
                    "pid": os.getpid(),
                    "at": _now(),
                },
            )
            raise
        _write(
            path,
            {
                "name": name,
                "status": "created",
                "state": state,
                "destroy_ref": destroy_ref,
                "honour_teardown": honour_teardown,
                "pid": os.getpid(),
                "at": _now(),
            },
        )
        _append_index(folder, name, timeout)
        return state


def resources(run_dir: Path) -> list[dict[str, Any]]:
    """The records of every resource created in this run, in creation order."""
    folder = Path(run_dir) / ONCE_DIR
    index = folder / INDEX
    if not index.exists():
        return []
    records = []
    for name in json.loads(index.read_text()):
        record = _read(folder / f"{name}.json")
        if record is not None:
            records.append(record)
    return records


def teardown_all(
    run_dir: Path, should_destroy: Callable[[str], bool], *, timeout: float = 60.0
) -> list[TeardownFailure]:
    """Destroy every created resource, newest first; return the failures.

    ``should_destroy(name)`` applies the run's teardown policy to resources registered
    with ``honour_teardown=True``; the others are always destroyed. Calling it again does
    nothing for resources already destroyed.
    """
    failures: list[TeardownFailure] = []
    folder = Path(run_dir) / ONCE_DIR
    records = resources(run_dir)
    for record in reversed(records):
        name = str(record["name"])
        if record.get("status") != "created":
            continue
        if record.get("honour_teardown", True) and not should_destroy(name):
            continue
        path = folder / f"{name}.json"
        ref = str(record["destroy_ref"])
        try:
            with _locked(folder / f"{name}.lock", name, timeout, "tearing it down"):
                try:
                    resolve_ref(ref)(dict(record["state"]))
                except Exception as error:
                    lines = traceback.format_exception_only(type(error), error)
                    message = lines[-1].strip() if lines else repr(error)
                    failures.append(TeardownFailure(name, ref, message, dict(record["state"])))
                    _write(path, {**record, "status": "destroy_failed", "error": message})
                else:
                    _write(path, {**record, "status": "destroyed", "destroyed_at": _now()})
        except RunOnceError as error:  # its lock stayed taken: the others are still torn down
            failures.append(TeardownFailure(name, ref, str(error), dict(record["state"])))
    return failures
