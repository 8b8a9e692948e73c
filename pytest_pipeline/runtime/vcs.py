"""The commit a run is testing: ``GITHUB_SHA`` in GitHub Actions, else the checkout's HEAD."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_commit(root: Path) -> str | None:
    """``GITHUB_SHA``, else ``git rev-parse HEAD`` in ``root``; None outside a git checkout."""
    sha = os.environ.get("GITHUB_SHA")
    if sha:
        return sha
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip()
    return head if done.returncode == 0 and head else None
