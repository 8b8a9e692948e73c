"""`pytest -m predeploy` on small planted projects: one failing test per problem, named by
rule and place; waivers; SARIF and JUnit written; secrets never printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import aws_key

RUNNER = (
    "import subprocess\n\n\n"
    "def run(cmd):\n"
    "    return subprocess.run(cmd, shell=True, check=False)\n"
)
WAIVER = (
    '[[waiver]]\nid = "W-1"\nrule = "{rule}"\nscope = "{scope}"\nowner = "team-photos"\n'
    'reason = "reviewed"\nexpires = {expires}\n'
)


def _ids(result: pytest.RunResult, outcome: str) -> list[str]:
    return [
        line.split("::", 1)[1].split(" - ", 1)[0].strip()
        for line in result.outlines
        if line.startswith(f"{outcome} suites/")
    ]


@pytest.mark.slow
def test_planted_secret_and_shell_true_fail_by_name_and_the_value_is_never_written(
    pytester: pytest.Pytester, planted: Callable[..., Path]
) -> None:
    value = aws_key()
    root = planted(
        {"app/settings.py": f'KEY = "{value}"\n', "app/runner.py": RUNNER},
        ("test_secrets.py", "test_code.py"),
    )
    result = pytester.runpytest_subprocess(
        "-m",
        "predeploy",
        "-rA",
        "--junitxml=reports/junit.xml",
        "--html=reports/report.html",
        "--self-contained-html",
        "--bandit-severity=high",
    )
    result.assert_outcomes(failed=2)
    assert sorted(_ids(result, "FAILED")) == [
        "test_no_insecure_code[B602@app/runner.py:5]",
        "test_no_secret[AWSKeyDetector@app/settings.py:1]",
    ]
    result.stdout.fnmatch_lines(["*AWS Access Key AKIA[*][*][*][*] in a tracked file*"])
    sarif = json.loads((root / "reports" / "security.sarif").read_text())
    assert {r["tool"]["driver"]["name"]: len(r["results"]) for r in sarif["runs"]} == {
        "pytest-pipeline secrets": 1,
        "pytest-pipeline code": 1,
    }
    junit = (root / "reports" / "junit.xml").read_text()
    assert 'name="rule" value="B602"' in junit
    assert "Python files scanned by bandit (severity &gt;= high)" in junit
    html = (root / "reports" / "report.html").read_text()
    assert "AKIA****" in html
    written = [result.stdout.str(), result.stderr.str(), junit, json.dumps(sarif), html]
    written += [p.read_text() for p in (root / "reports").glob("*.log")]
    for text in written:
        assert value not in text and value[4:] not in text


@pytest.mark.slow
def test_clean_project_passes_saying_what_was_scanned_and_waivers_skip(
    pytester: pytest.Pytester, planted: Callable[..., Path]
) -> None:
    root = planted(
        {
            "app/runner.py": RUNNER,
            "pipeline-waivers.toml": WAIVER.format(
                rule="B602", scope="app/runner.py", expires="2099-01-01"
            ),
        },
        ("test_secrets.py", "test_code.py", "test_waivers.py"),
    )
    result = pytester.runpytest_subprocess("-m", "predeploy", "-rA")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*secrets: * files scanned by detect-secrets (* not read), 0 findings*",
            "SKIPPED*waived by W-1 (owner team-photos, expires 2099-01-01): reviewed",
        ]
    )
    sarif = json.loads((root / "reports" / "security.sarif").read_text())
    code = next(r for r in sarif["runs"] if r["tool"]["driver"]["name"].endswith("code"))
    assert code["results"][0]["suppressions"][0]["status"] == "accepted"


@pytest.mark.slow
def test_expired_waiver_fails_and_malformed_waivers_stop_the_run(
    pytester: pytest.Pytester, planted: Callable[..., Path]
) -> None:
    root = planted(
        {
            "app/runner.py": RUNNER,
            "pipeline-waivers.toml": WAIVER.format(
                rule="B602", scope="app/*.py", expires="2020-01-01"
            ),
        },
        ("test_code.py", "test_waivers.py"),
    )
    result = pytester.runpytest_subprocess("-m", "predeploy")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*waiver W-1 in pipeline-waivers.toml expired on 2020-01-01 (owner team-photos)*",
            "*B602*(waiver W-1 expired on 2020-01-01)*",
        ]
    )
    (root / "pipeline-waivers.toml").write_text('[[waiver]]\nid = "W-2"\nrule = "B602"\n')
    broken = pytester.runpytest_subprocess("-m", "predeploy")
    assert broken.ret == pytest.ExitCode.USAGE_ERROR
    broken.stderr.fnmatch_lines(
        ["ERROR: waivers: pipeline-waivers.toml: waiver #1 (W-2): missing scope, owner,*"]
    )
    assert "Traceback" not in broken.stderr.str()


@pytest.mark.slow
def test_vulnerable_unpinned_and_unresolvable_requirements_each_fail_by_name(
    pytester: pytest.Pytester,
    planted: Callable[..., Path],
    osv_snapshot: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    planted(
        {"app/requirements.txt": "six==1.17.0\nPillow==9.0.0\nrequests\nflask==99.0\n"},
        ("test_vulnerabilities.py", "test_dependencies.py"),
    )
    monkeypatch.setenv("PIPELINE_VULN_DB", str(osv_snapshot))
    result = pytester.runpytest_subprocess("-m", "predeploy", "-rA")
    failed = _ids(result, "FAILED")
    vulnerable = [i for i in failed if i.startswith("test_no_known_vulnerability[")]
    assert vulnerable and all("(Pillow==9.0.0)]" in i for i in vulnerable)
    assert (
        "test_no_known_vulnerability[PYSEC-2023-227@app/requirements.txt:2 (Pillow==9.0.0)]"
        in failed
    )
    assert "test_requirements[PIPE-DEP-001@app/requirements.txt:3]" in failed
    assert "test_resolution[PIPE-DEP-005@app/requirements.txt:4]" in failed
    # Pillow 9.0.0 also predates Python 3.11 wheels: the compatibility rule and the index say so.
    assert "test_requirements[PIPE-COMPAT-014@app/requirements.txt:2]" in failed
    others = set(failed) - set(vulnerable)
    assert {i.split("@", 1)[1] for i in others} == {
        "app/requirements.txt:2]",
        "app/requirements.txt:3]",
        "app/requirements.txt:4]",
    }
    result.stdout.fnmatch_lines(
        [
            "*flask==99.0 does not exist on the package index*",
            "*Pillow==9.0.0 is vulnerable (also CVE-2023-44271*upgrade Pillow to 10.0.0*",
        ]
    )
