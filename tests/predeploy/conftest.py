"""Helpers of the predeploy tests: planted secrets built at run time (so that the repository
itself holds none), the OSV snapshot, and small planted projects for pytester runs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "suites" / "predeploy"
SNAPSHOT = REPO.parent / "shared" / "advisory-db"

# Pieces are joined at run time: the scanners must not find secrets in this file.
AWS_PREFIX = "AK" + "IA"


def aws_key(body: str = "Q7ZR4TJX2M5WLBNE") -> str:
    """An AWS access key id shaped value (prefix + 16 upper-case letters or digits)."""
    return AWS_PREFIX + body


@pytest.fixture
def osv_snapshot() -> Path:
    """The shared OSV snapshot of PyPI advisories (skips when this checkout has none)."""
    if not (SNAPSHOT / "vulns" / "pillow").is_dir():
        pytest.skip(f"the OSV snapshot is not at {SNAPSHOT}")
    return SNAPSHOT


def git_init(root: Path) -> None:
    """Make ``root`` a git repository with every file staged (what `git ls-files` lists)."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, env=env)


@pytest.fixture
def planted(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Lay out a small repository with the predeploy suite files named, run `git add`.

    ``files`` maps repository paths to contents; ``suites`` names the suite modules to copy
    (``test_secrets.py``...). The PIPELINE_* environment of the outer run is cleared.
    """
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)

    def make(files: dict[str, str], suites: tuple[str, ...]) -> Path:
        root = pytester.path
        base = {
            "pyproject.toml": '[project]\nname = "planted"\nrequires-python = ">=3.11"\n'
            '[tool.pytest.ini_options]\ntestpaths = ["suites"]\n',
            "app/requirements.txt": "six==1.17.0\n",
            "app/application.py": "def application(environ, start_response):\n"
            "    start_response('200 OK', [])\n    return [b'ok']\n",
        }
        base.update(files)
        for name, text in base.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        (root / "suites" / "predeploy").mkdir(parents=True, exist_ok=True)
        for suite in suites:
            shutil.copy(SUITE / suite, root / "suites" / "predeploy" / suite)
        git_init(root)
        return root

    return make
