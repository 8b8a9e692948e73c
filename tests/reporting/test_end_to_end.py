"""The reports of real pytest runs: HTML summary and extras, JUnit, deployment.json, GitHub."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reportfile import read_report

SECRETS = ("AKIAIOSFODNN7EXAMPLE", "PLANTED-SECRET-VALUE-123")


def _fail_infra(project: pytest.Pytester) -> None:
    text = (project.path / "test_pipeline.py").read_text()
    (project.path / "test_pipeline.py").write_text(text.replace("False is False", "True is False"))


def _all_outputs(root: Path) -> dict[str, str]:
    files = [*sorted((root / "reports").iterdir()), root / "summary.md", root / "out.txt"]
    return {p.name: p.read_text(encoding="utf-8") for p in files if p.is_file()}


@pytest.mark.slow
def test_failed_run_reports_everywhere(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_infra(project)
    monkeypatch.setenv("PIPELINE_SECRET_PASSWORD", "PLANTED-SECRET-VALUE-123")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.path / "summary.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(project.path / "out.txt"))
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*::error file=test_pipeline.py,line=*,"
            "title=test_pipeline.py%3A%3Atest_stack (call)::*stack is broken*",
            "*pipeline failed: Environment=dev*Halted stage=infra*",
            "*deployment record: *deployment.json",
        ]
    )
    outputs = _all_outputs(project.path)
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret} leaked into {name}"

    record = json.loads(outputs["deployment.json"])
    outcomes = {stage: [r["outcome"] for r in rs] for stage, rs in record["stage_results"].items()}
    assert outcomes == {"predeploy": ["passed"], "infra": ["failed"], "deploy": ["skipped"]}
    assert record["stage_results"]["predeploy"][0]["properties"]["latency_p95_ms"] > 0

    junit = ET.fromstring(outputs["junit.xml"])
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["error_rate"] == "0.5" and set(props) >= {"latency_p50_ms", "latency_p99_ms"}
    assert junit.find(".//testcase[@name='test_stack']/failure") is not None

    html = outputs["report.html"]
    assert 'id="pipeline-summary"' in html
    # failures first, with the reason and what to do about an infra failure
    failures = html.split('id="pipeline-failures"', 1)[1].split("</table>", 1)[0]
    assert html.index('id="pipeline-failures"') < html.index('id="pipeline-summary"')
    assert "test_pipeline.py::test_stack" in failures and "stack is broken" in failures
    assert "correct infra/template.yaml or the stack parameters" in failures
    assert 'id="pipeline-halted"' in html
    assert re.search(r'data-stage=\\?"infra\\?" data-outcome=\\?"failed', html)
    assert re.search(r'data-stage=\\?"deploy\\?" data-outcome=\\?"halted', html)

    assert "ready=false" in outputs["out.txt"]
    assert "| infra | ❌ failed |" in outputs["summary.md"]
    log = outputs["pipeline.log"]
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR .*test_stack", log, re.M)
    assert "status=failed" in log and "notification log" in log
    # without -v the execution log goes to the file only
    assert "health wait done" in log
    live = re.compile(r"^\S+Z INFO +pytest_pipeline\.deploy status=ok health wait done", re.M)
    assert not live.search(result.stdout.str())


SECRET_TEST = """
import pytest
from pytest_pipeline.reporting.redact import register_secret

@pytest.mark.predeploy
def test_reads_a_secret():
    value = "SM-" + "value-from-secrets-manager-42"
    register_secret(value)
    print("fetched", value)
    assert value == "expected", f"unexpected secret {value}"
"""


@pytest.mark.slow
def test_xdist_keeps_extras_and_masks_worker_secrets(project: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    project.makepyfile(test_secret=SECRET_TEST)
    result = project.runpytest_subprocess("-n", "2", "--no-gate", "-rA")
    result.assert_outcomes(passed=3, failed=1)
    reports = project.path / "reports"
    html = (reports / "report.html").read_text()
    # pictures travel from the worker to the controller's report: the row refers to them,
    # the picture store holds them, the dashboard shows the gallery card and the histogram
    report = read_report(reports / "report.html")
    assert len(report.pictures_of("test_pipeline.py::test_photo", "pipeline-side-by-side")) == 2
    assert report.count('class="pipeline-card"') == 1
    assert report.count('class="pipeline-dashboard-histogram"') == 1
    assert "pipeline-histogram" in html and "pipeline-figures" in html
    record = json.loads((reports / "deployment.json").read_text())
    outcomes = {s: sorted(r["outcome"] for r in rs) for s, rs in record["stage_results"].items()}
    assert outcomes == {
        "predeploy": ["failed", "passed"],
        "infra": ["passed"],
        "deploy": ["passed"],
    }
    assert "finished: failed" in (reports / "pipeline.log").read_text()
    # a secret registered in a worker is masked by the controller in every output
    secret = "SM-value-from-secrets-manager-42"
    assert secret not in result.stdout.str()
    for path in reports.iterdir():
        assert secret not in path.read_text(encoding="utf-8"), f"leaked into {path.name}"
    assert "[REDACTED]" in (reports / "junit.xml").read_text()


@pytest.mark.slow
def test_live_log_with_verbose(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-v")
    result.stdout.fnmatch_lines(["*Z INFO    pytest_pipeline.deploy status=ok health wait done"])


# A chat webhook's URL is its credential: the token is the last path segment.
WEBHOOK_TOKEN = "Zx81kQ7mP2rT9vW4yB6nC3dF"  # pragma: allowlist secret
WEBHOOK_URL = f"http://127.0.0.1:9/services/T0ABCDEF1/B0ABCDEF2/{WEBHOOK_TOKEN}"


@pytest.mark.slow
def test_an_unreachable_webhook_leaks_its_token_nowhere(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_infra(project)
    monkeypatch.setenv("PIPELINE_WEBHOOK_URL", WEBHOOK_URL)
    monkeypatch.setenv("PIPELINE_NOTIFICATION_CHANNELS", "webhook,log")
    result = project.runpytest_subprocess("-v")  # -v: the header lists every setting
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    terminal = result.stdout.str() + result.stderr.str()
    assert "webhook-url" in terminal and "notification webhook" in terminal.lower()
    outputs = {"terminal": terminal, **_all_outputs(project.path)}
    assert "notification webhook" in outputs["pipeline.log"]  # the failure was tried and told
    for name, text in outputs.items():
        assert WEBHOOK_TOKEN not in text, f"the webhook token leaked into {name}"
        assert "127.0.0.1:9/services" not in text or "[REDACTED]" in text, name


INTERRUPTING_TEST = """
import os
import signal
import time

import pytest


@pytest.mark.postdeploy
def test_ctrl_c_arrives():
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in the terminal sends
    time.sleep(5)
"""


@pytest.mark.slow
def test_ctrl_c_is_an_interrupted_run_never_a_pass(project: pytest.Pytester) -> None:
    project.makepyfile(test_zz_interrupt=INTERRUPTING_TEST)
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    out = result.stdout.str()
    assert "pipeline passed" not in out and "Result=passed" not in out
    result.stdout.fnmatch_lines_random(
        [
            "pipeline interrupted by Ctrl-C in stage postdeploy: the run did not finish and proves "
            "nothing; run it again",
            "pipeline interrupted: *Interrupted in=postdeploy, Result=interrupted",
        ]
    )
    assert not re.search(r"^postdeploy +passed", out, re.M), "an unfinished test counted"
    reports = project.path / "reports"
    record = json.loads((reports / "deployment.json").read_text())
    assert (record["run_outcome"], record["interrupted_in"]) == ("interrupted", "postdeploy")
    assert "finished: interrupted" in (reports / "pipeline.log").read_text()
    assert "Pipeline run: <span" in (html := (reports / "report.html").read_text())
    assert "INTERRUPTED</span>" in html


RECORD_BLOCKER = """
from pathlib import Path

import pytest


@pytest.mark.postdeploy
def test_the_record_cannot_be_written():
    # deployment.json becomes a folder: as a full disk or a read-only mount, the write fails
    (Path("reports") / "deployment.json").mkdir(parents=True)
"""


@pytest.mark.slow
def test_a_record_that_cannot_be_written_fails_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(test_zz_record=RECORD_BLOCKER)
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "pipeline failed: the deployment record */reports/deployment.json could not be "
            "written (Is a directory): free space or fix the folder (--reports-dir), then run "
            "again",
        ]
    )
    assert "pipeline passed" not in result.stdout.str()
    assert "finished: failed" in (project.path / "reports" / "pipeline.log").read_text()


@pytest.mark.slow
def test_a_run_in_which_no_test_ran_is_no_pass(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-k", "no_such_test")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["pipeline failed: *Problem=no test ran (exit status 5): *"])
    assert "pipeline passed" not in result.stdout.str()
