"""Virtualenvs of emulated Elastic Beanstalk instances, built from a bundle's requirements.txt.

Elastic Beanstalk's Python platform installs the bundle's ``requirements.txt`` into a fresh
virtualenv: nothing of the developer's environment is there, so a package the app imports but
the file does not name fails the deploy. The emulation does the same, and caches each
virtualenv by the sha256 of the file (and the Python version), so an unchanged file costs
nothing after the first build. The cache folder is ``$PIPELINE_EB_CACHE`` or
``$XDG_CACHE_HOME/pytest-pipeline/eb-venvs`` (``~/.cache/...``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

COMPLETE = ".complete"
PIP_TIMEOUT = 900.0
TAIL = 25


class VenvError(RuntimeError):
    """``pip install -r requirements.txt`` failed; ``tail`` holds the last lines of its output."""

    def __init__(self, message: str, tail: str = "") -> None:
        self.tail = tail
        super().__init__(message if not tail else f"{message}\n{tail}")


@dataclass(frozen=True)
class Venv:
    """A ready virtualenv; ``built_in`` is the seconds it took (0.0 when it came from cache)."""

    path: Path
    key: str
    built_in: float

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"


def cache_root() -> Path:
    """Where virtualenvs are cached (see the module docstring)."""
    explicit = os.environ.get("PIPELINE_EB_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-pipeline" / "eb-venvs"


def requirements_key(requirements: bytes) -> str:
    """The cache key of a requirements file: its sha256 with the Python version."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor}\0".encode())
    digest.update(requirements)
    return digest.hexdigest()[:24]


def ensure_venv(app_dir: Path, root: Path | None = None) -> Venv:
    """The virtualenv for ``app_dir/requirements.txt``: from cache, or built now (locked, so
    two deployments of the same file build it once). Raises ``VenvError`` when pip fails."""
    requirements = app_dir / "requirements.txt"
    content = requirements.read_bytes() if requirements.is_file() else b""
    key = requirements_key(content)
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    path = root / key
    with FileLock(str(root / f"{key}.lock"), timeout=PIP_TIMEOUT + 60):
        if (path / COMPLETE).is_file():
            return Venv(path, key, 0.0)
        shutil.rmtree(path, ignore_errors=True)
        started = time.monotonic()
        _build(path, requirements if content else None)
        (path / COMPLETE).write_text(requirements.name if content else "", encoding="utf-8")
        return Venv(path, key, time.monotonic() - started)


def _build(path: Path, requirements: Path | None) -> None:
    _run([sys.executable, "-m", "venv", "--without-pip", str(path)], "python -m venv", path)
    if requirements is None:
        return
    # This interpreter's pip installs into the new virtualenv (pip --python): no ensurepip.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(path / "bin" / "python"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
        ],
        "pip install -r requirements.txt",
        path,
    )


def _run(argv: list[str], what: str, path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        shutil.rmtree(path, ignore_errors=True)
        raise VenvError(f"{what} did not finish within {PIP_TIMEOUT:.0f}s") from error
    if done.returncode != 0:
        shutil.rmtree(path, ignore_errors=True)
        lines = [
            line
            for line in (done.stdout + done.stderr).splitlines()
            if line.strip() and "is ignored: it is neither a file nor a directory" not in line
        ]
        raise VenvError(f"{what} failed (exit status {done.returncode})", "\n".join(lines[-TAIL:]))
