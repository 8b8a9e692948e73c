"""The second application (examples/notes) gets a working pipeline from `pytest-pipeline init`
alone: no file of the plugin names it, and its whole pipeline is green on the embedded default.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "notes"
CLI = Path(sys.executable).with_name("pytest-pipeline")
NAMES = ("examples/notes", "/api/v1/notes", "Notes service")
"""What would show that the plugin knows this example."""


def init(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pytest-pipeline init`` run in ``project`` as a user runs it."""
    return subprocess.run(
        [str(CLI), "init", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def copy_example(target: Path) -> Path:
    """examples/notes as a project of its own: its files only, in a git repository."""
    shutil.copytree(EXAMPLE, target, dirs_exist_ok=True)
    for command in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *command], cwd=target, check=True, timeout=60)
    subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.com", "commit", "-qm", "notes"],
        cwd=target,
        check=True,
        timeout=60,
    )
    return target


def test_the_plugin_does_not_know_the_example() -> None:
    """Zero changes to the plugin: nothing in the package names the example's service."""
    hits = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "pytest_pipeline").rglob("*")
        if path.is_file()
        and path.suffix in (".py", ".toml")
        and any(name in path.read_text() for name in NAMES)
    ]
    assert not hits, hits


@pytest.mark.slow
def test_init_then_the_whole_pipeline_is_green(pytester: pytest.Pytester) -> None:
    project = copy_example(pytester.path)
    done = init(project, "--name", "notes")
    assert done.returncode == 0, done.stderr
    assert (project / "suites" / "postdeploy" / "test_service.py").is_file()
    assert (project / ".github" / "workflows" / "pipeline.yml").is_file()

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=600)
    result.assert_outcomes(passed=14)
    result.stdout.fnmatch_lines(
        [
            "predeploy   passed*",
            "infra       passed*",
            "deploy      passed*",
            "postdeploy  passed*",
            "monitoring  passed*",
        ]
    )
    record = json.loads((project / "reports" / "deployment.json").read_text())
    assert (record["status"], record["environment"]) == ("deployed", "notes-dev-env"), record
