"""The light core, proven in a fresh virtualenv: installing the plugin alone and running
`pytest -m postdeploy --target-url URL` against a running service works, and pulls no Flask,
OpenCV, moto or any other extra's package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_notes_pipeline import EXAMPLE, ROOT

EXTRAS_ONLY = ("flask", "opencv-python-headless", "moto", "numpy", "pillow", "locust", "cfn-lint")
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "pytest_pipeline")


def _run(argv: list[str], cwd: Path, timeout: float = 300) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"{argv[:3]}... failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel of this checkout and nothing else (its dependencies
    at the lock file's versions, so pip's cache serves them)."""
    work = tmp_path_factory.mktemp("core")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", "dist", "."], source)
    wheel = next((source / "dist").glob("pytest_cicd_pipeline-*.whl"))
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], work)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    _run([*pip, "-c", str(ROOT / "constraints.txt"), str(wheel)], work)
    return venv


@pytest.mark.slow
def test_postdeploy_against_a_running_service_on_the_core_alone(
    core_venv: Path, notes_service: str, tmp_path: Path
) -> None:
    listed = _run([str(core_venv / "bin" / "python"), "-m", "pip", "list"], tmp_path).lower()
    installed = {line.split()[0] for line in listed.splitlines()[2:] if line.strip()}
    assert "pytest-cicd-pipeline" in installed
    pulled = sorted(installed & set(EXTRAS_ONLY))
    assert not pulled, f"the core pulled {pulled}"

    project = tmp_path / "notes"
    shutil.copytree(EXAMPLE, project)
    _run([str(core_venv / "bin" / "pytest-pipeline"), "init"], project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "AWS_"))}
    pytest_argv = [str(core_venv / "bin" / "pytest"), "-m", "postdeploy", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*pytest_argv, "--target-url", notes_service],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "postdeploy  passed   2 passed" in done.stdout, done.stdout[-3000:]
    assert "deselected" in done.stdout  # the other stages: not selected, nothing provisioned
