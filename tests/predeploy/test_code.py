"""bandit over the app: insecure code found, clean code passes, the floor filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_pipeline.findings import Severity
from pytest_pipeline.predeploy.code import CodeScanError, scan_code


def _app(tmp_path: Path, body: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "handler.py").write_text(body)
    return app


def test_shell_true_is_found(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        "import subprocess\n\n\ndef run(cmd):\n    return subprocess.run(cmd, shell=True)\n",
    )
    scan = scan_code(app, floor=Severity.MEDIUM, relative_to=tmp_path)
    assert [(f.rule_id, f.location, f.line) for f in scan.findings] == [
        ("B602", "app/handler.py", 5)
    ]
    assert scan.findings[0].severity is Severity.HIGH
    assert "bandit.readthedocs.io" in scan.findings[0].fix


def test_clean_code_passes_and_the_floor_filters(tmp_path: Path) -> None:
    app = _app(tmp_path, "import subprocess\n\n\ndef run():\n    return subprocess.run(['ls'])\n")
    low = scan_code(app, floor=Severity.LOW, relative_to=tmp_path)
    assert {f.rule_id for f in low.findings} >= {"B404", "B603"}
    high = scan_code(app, floor=Severity.HIGH, relative_to=tmp_path)
    assert high.findings == [] and high.files_scanned == 1
    assert "1 Python files scanned" in high.summary


def test_unparsable_file_is_a_finding(tmp_path: Path) -> None:
    app = _app(tmp_path, "def broken(:\n")
    scan = scan_code(app, relative_to=tmp_path)
    assert [f.rule_id for f in scan.findings] == ["PIPE-CODE-001"]


def test_missing_app_dir_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(CodeScanError, match="app-dir"):
        scan_code(tmp_path / "nope")
