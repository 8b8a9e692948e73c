"""Network checks of the pins against PyPI (reachable here and in CI): existence, runtime
Python, resolution, and the per-requirement-set cache."""

from __future__ import annotations

from pathlib import Path

from packaging.version import Version

from pytest_pipeline.predeploy import dependencies as deps
from pytest_pipeline.predeploy import resolve

PY311 = Version("3.11")


def _check(tmp_path: Path, text: str, cache: Path | None = None) -> resolve.ResolutionCheck:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    parsed = deps.parse_file(path, root=tmp_path)
    return resolve.check_resolution(parsed.entries, path, PY311, cache_dir=cache)


def test_target_tags_accept_manylinux2014_and_abi3_wheels() -> None:
    wanted = resolve.target_tags(PY311)
    assert "cp311-cp311-manylinux_2_17_x86_64" in wanted
    assert "cp37-abi3-manylinux2014_x86_64" in wanted
    assert "py3-none-any" in wanted
    assert "cp312-cp312-manylinux_2_17_x86_64" not in wanted


def test_unresolvable_pins_are_named(tmp_path: Path) -> None:
    result = _check(tmp_path, "six==1.17.0\npillow==99.0\nrembg==2.0.40\n")
    by_line = {f.line: f for f in result.findings}
    assert (
        by_line[2].rule_id == "PIPE-DEP-005" and "pillow==99.0 does not exist" in by_line[2].message
    )
    assert by_line[3].rule_id == "PIPE-DEP-004" and "runtime is Python 3.11" in by_line[3].message
    assert 1 not in by_line


def test_conflicting_pins_do_not_resolve(tmp_path: Path) -> None:
    result = _check(tmp_path, "flask==3.1.3\nwerkzeug==2.0.0\n")
    assert [f.rule_id for f in result.findings] == ["PIPE-DEP-006"]
    assert "werkzeug" in result.findings[0].message.lower()


def test_clean_set_resolves_and_is_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _check(tmp_path, "six==1.17.0\nidna==3.10\n", cache)
    assert first.findings == [] and first.resolved == 2 and not first.cached
    second = _check(tmp_path, "six==1.17.0\nidna==3.10\n", cache)
    assert second.cached and second.findings == [] and "(cached)" in second.summary
    assert len(list(cache.iterdir())) == 1


def _project(*files: dict[str, object]) -> dict[str, object]:
    return {"versions": ["1.0", "2.0"], "files": list(files)}


def _verdict(project: dict[str, object] | None, pin: str = "demo==1.0") -> str | None:
    entry = deps.parse_text(pin + "\n", "requirements.txt").entries[0]
    assert entry.pinned_version is not None
    wanted = resolve.target_tags(PY311)
    found = resolve._pin_finding(entry, entry.pinned_version, project, PY311, wanted)
    return None if found is None else found.rule_id


def test_index_verdicts_on_synthetic_projects() -> None:
    wheel = {"filename": "demo-1.0-py3-none-any.whl", "requires-python": ">=3.8"}
    assert _verdict(_project(wheel)) is None
    assert _verdict(None) == "PIPE-DEP-005"
    assert _verdict(_project(wheel), "demo==3.0") == "PIPE-DEP-005"
    assert _verdict(_project({**wheel, "yanked": "broken"})) == "PIPE-DEP-009"
    old = {"filename": "demo-1.0-py3-none-any.whl", "requires-python": "<3.10"}
    assert _verdict(_project(old)) == "PIPE-DEP-004"
    assert _verdict(_project({"filename": "demo-1.0.tar.gz"})) == "PIPE-DEP-008"
    windows = {"filename": "demo-1.0-cp311-cp311-win_amd64.whl"}
    assert _verdict(_project(windows)) == "PIPE-DEP-004"
    assert _verdict(_project({"filename": "unrelated-1.0.tar.gz"})) is None


def test_an_older_pip_resolves_too(tmp_path: Path) -> None:
    """pip before 23.3 refuses --platform without --target (Python 3.11's bundled pip is
    23.2.1): the dry run passes an empty target, so such a venv resolves like a new one."""
    import subprocess
    import sys

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    version = subprocess.run(
        [python, "-m", "pip", "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    if Version(version) >= Version("23.3"):
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "pip==23.2.1"], check=True, timeout=300
        )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\n")
    report = resolve.pip_dry_run(requirements, PY311, interpreter=python)
    assert "error" not in report, report
    assert [item["metadata"]["name"] for item in report["install"]] == ["six"]
