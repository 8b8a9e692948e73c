"""The distribution: a light core, extras by capability, the lock file, the message a
missing extra gets."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pins import read_pins

from pytest_pipeline import extras

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME = canonicalize_name(PROJECT["name"])
OPTIONAL: dict[str, list[str]] = PROJECT["optional-dependencies"]
APP_ONLY = {"flask", "flask-cors", "gunicorn", "email-validator"}
"""The reference app's own dependencies: app/requirements.txt only."""


def _expand(requirements: list[str]) -> list[Requirement]:
    """Requirements with this distribution's own extras (``name[a,b]``) expanded."""
    out: list[Requirement] = []
    for text in requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == NAME:
            for extra in sorted(req.extras):
                out += _expand(OPTIONAL[extra])
        else:
            out.append(req)
    return out


def _names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def _lock() -> dict[str, str]:
    return read_pins(ROOT / "constraints.txt")


def test_the_name_is_not_the_one_taken_on_the_index() -> None:
    assert NAME == canonicalize_name(extras.DISTRIBUTION) == "pytest-cicd-pipeline"
    assert PROJECT["scripts"]["pytest-pipeline"] == "pytest_pipeline.cli:main"


def test_core_is_light() -> None:
    core = _names(_expand(PROJECT["dependencies"]))
    assert {"pytest", "pytest-html", "boto3", "requests", "filelock", "packaging"} <= core
    heavy = {"moto", "opencv-python-headless", "numpy", "pillow", "locust", "cfn-lint"}
    heavy |= {"bandit", "detect-secrets", "pip-audit", "schemathesis", "hypothesis"}
    assert not core & (heavy | APP_ONLY), f"in the core: {sorted(core & (heavy | APP_ONLY))}"


def test_the_apps_dependencies_are_no_extra() -> None:
    for extra, requirements in OPTIONAL.items():
        names = _names(_expand(requirements))
        assert not names & APP_ONLY, f"extra {extra} holds the app's {sorted(names & APP_ONLY)}"


@pytest.mark.parametrize("extra", sorted(extras.EXTRAS))
def test_each_extra_provides_what_its_checks_import(extra: str) -> None:
    """extras.EXTRAS (what the missing-extra check looks for) and pyproject agree."""
    declared = _names(_expand(OPTIONAL[extra]))
    expected = {canonicalize_name(d) for d in extras.EXTRAS[extra].values()}
    assert expected <= declared, f"[{extra}] lacks {sorted(expected - declared)}"
    assert extra in _expand_names_of_all()


def _expand_names_of_all() -> set[str]:
    return {e for text in OPTIONAL["all"] for e in Requirement(text).extras}


def test_the_lock_file_satisfies_every_requirement() -> None:
    """constraints.txt (``make lock``) is not stale: it pins every requirement of the core,
    every extra and the dev tools at a version the requirement accepts, and the app's pins
    exactly."""
    lock = _lock()
    every = _expand(PROJECT["dependencies"]) + _expand(OPTIONAL["dev"])
    for req in every:
        name = canonicalize_name(req.name)
        assert name in lock, f"{req} is not in constraints.txt: run `make lock`"
        assert req.specifier.contains(Version(lock[name]), prereleases=True), (
            f"constraints.txt pins {name}=={lock[name]}, outside {req}: run `make lock`"
        )
    for name, version in read_pins(ROOT / "app" / "requirements.txt").items():
        assert lock.get(name) == version, f"app pin {name}=={version}, the lock {lock.get(name)}"


def test_problem_names_the_exact_install_command() -> None:
    assert extras.install_command("images") == "pip install 'pytest-cicd-pipeline[images]'"
    with pytest.raises(ValueError, match="unknown extra 'gpu'"):
        extras.missing("gpu")


HIDE_CV2 = """
import sys


class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "cv2" or name.startswith("cv2."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Hide())
sys.modules.pop("cv2", None)
"""


def test_missing_extra_skips_or_fails_with_the_command(project: pytest.Pytester) -> None:
    project.makeconftest(HIDE_CV2)
    project.makepyfile(
        test_photos="""
        from pytest_pipeline.plugin.extras import need_extra

        need_extra("images", "the photo checks")

        def test_never_runs():
            raise AssertionError("the module should have been skipped")
        """,
        test_stage="""
        from pytest_pipeline.plugin.extras import need_extra

        def test_stage_needs_it():
            need_extra("images", "this stage", fail=True)

        def test_present():
            need_extra("parallel", "xdist")
        """,
    )
    result = project.runpytest_subprocess("-rsf", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    out = result.stdout.str()
    command = "pip install 'pytest-cicd-pipeline[images]'"
    for purpose in ("the photo checks", "this stage"):
        line = f"{purpose} needs the 'images' extra (opencv-python-headless not installed)"
        assert f"{line}: {command}" in out, out


def test_a_command_without_its_extra_says_what_to_install() -> None:
    """`pytest-pipeline serve-aws` without moto: the install command, exit 2, no traceback."""
    script = HIDE_CV2.replace('"cv2"', '"moto"').replace("cv2.", "moto.") + (
        "from pytest_pipeline.cli import main\nraise SystemExit(main(['serve-aws']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "pytest-pipeline: pytest-pipeline serve-aws needs the 'embedded' extra (moto not "
        "installed): pip install 'pytest-cicd-pipeline[embedded]'\n"
    )
