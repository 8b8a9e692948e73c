"""The scanners behind one interface (in-process): templates through the cfn-lint rules, audit
outcomes that could not check, the dependency scanner, and how cases pass, fail and skip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.plugin.scancases import SecurityCase, SecurityScans, cases_for, check_case
from pytest_pipeline.predeploy.scanners import SCANNERS, ScanContext, Scanner, run_scan
from pytest_pipeline.predeploy.waivers import WaiverSet, parse_waivers

from .conftest import REPO

BAD_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  PhotoBucket:
    Type: AWS::S3::Bucket
  AppRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: ec2.amazonaws.com}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: everything
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: "s3:*"
                Resource: "*"
"""


def _repo(tmp_path: Path, requirements: str = "six==1.17.0\n") -> ScanContext:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text(requirements)
    return ScanContext.for_repository(tmp_path, audit_services=("no-such-service",))


def test_the_configured_template_is_scanned_not_the_infra_folder(tmp_path: Path) -> None:
    """Findings of the pipeline's rules on the template the run deploys, named by file;
    a flawed template elsewhere in the repository is not the run's and is not scanned."""
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "template.yaml").write_text(BAD_TEMPLATE)
    (tmp_path / "stack.yaml").write_text(BAD_TEMPLATE)
    ctx = ScanContext(**{**_repo(tmp_path).__dict__, "templates": (tmp_path / "stack.yaml",)})
    outcome = run_scan("templates", ctx)
    assert outcome.error is None, outcome.error
    places = {(f.rule_id, f.resource) for f in outcome.findings}
    assert ("E9502", "PhotoBucket") in places  # public access not blocked
    assert ("E9401", "PhotoBucket") in places  # deleted with the stack
    assert ("E9601", "AppRole") in places  # s3:* on a data service
    assert {f.location for f in outcome.findings} == {"stack.yaml"}
    assert "1 template(s) the run deploys" in outcome.summary and "stack.yaml" in outcome.summary


def test_the_repository_template_passes(tmp_path: Path) -> None:
    ctx = _repo(tmp_path)
    shutil.copytree(REPO / "infra", tmp_path / "infra")
    outcome = run_scan("templates", ctx)
    assert outcome.error is None and outcome.findings == [], [
        f.describe() for f in outcome.findings
    ]
    assert "infra/template.yaml" in outcome.summary


def test_no_template_is_not_checked_rather_than_passed(tmp_path: Path) -> None:
    outcome = run_scan("templates", _repo(tmp_path))
    assert outcome.findings == [] and outcome.error is None
    assert outcome.skipped == (
        "no CloudFormation template to check (setting `template`: infra/template.yaml)"
    )


def test_audit_without_any_source_is_skipped_or_fails_when_strict(tmp_path: Path) -> None:
    ctx = _repo(tmp_path, "pillow==9.0.0\n")
    lenient = run_scan("vulnerabilities", ctx)
    assert lenient.findings == [] and lenient.error is None
    assert lenient.skipped and "no OSV directory is configured" in lenient.skipped
    strict = run_scan("vulnerabilities", ScanContext(**{**ctx.__dict__, "audit_strict": True}))
    assert strict.error and "audit-strict" in strict.error


def test_dependency_scanner_reports_problems_and_missing_requirements(tmp_path: Path) -> None:
    ctx = _repo(tmp_path, "flask\nnumpy==2.0.0\nopencv-python-headless==4.9.0.80\n")
    outcome = run_scan("dependencies", ctx)
    assert {f.rule_id for f in outcome.findings} == {"PIPE-DEP-001", "PIPE-COMPAT-001"}
    assert "for Python 3.11" in outcome.summary
    (tmp_path / "app" / "requirements.txt").unlink()
    missing = run_scan("dependencies", ctx)
    assert missing.error and "app/requirements.txt does not exist" in missing.error
    with pytest.raises(KeyError, match="unknown scanner"):
        run_scan("nope", ctx)
    assert next(iter(SCANNERS)) == "dependencies"


def test_registry_names_each_scanner_once_with_a_function_and_a_sarif_tool() -> None:
    """Every entry resolves to its module's function; a runner that cannot be imported is
    an error naming the scanner, never a clean scan."""
    assert list(SCANNERS) == [
        "dependencies", "resolution", "vulnerabilities", "secrets", "code", "templates",
    ]  # fmt: skip
    for name, scanner in SCANNERS.items():
        assert scanner.name == name and scanner.checks
        assert scanner.information_uri.startswith("https://")
        assert scanner.sarif_tool == f"pytest-pipeline {name}"
        function = scanner.function()
        assert callable(function) and function.__module__ == scanner.runner.split(":")[0]
    broken = Scanner("broken", "nothing", "pytest_pipeline.predeploy.no_such_module:scan", "")
    with pytest.raises(RuntimeError, match="the broken scanner cannot be imported"):
        broken.function()


def _scans(tmp_path: Path, waivers: WaiverSet) -> SecurityScans:
    return SecurityScans(_repo(tmp_path), waivers, tmp_path / "reports")


def test_cases_fail_per_finding_skip_waived_and_pass_clean(tmp_path: Path) -> None:
    finding = Finding("bandit", "B602", Severity.HIGH, "shell=True", "list argv", "app/x.py", 3)
    waivers = parse_waivers(
        {"waiver": [{"id": "W-1", "rule": "B602", "scope": "app/*", "owner": "o",
                     "reason": "fixed argv", "expires": "2999-01-01"}]}, "w.toml",
    )  # fmt: skip
    scans = _scans(tmp_path, waivers)
    with pytest.raises(pytest.skip.Exception, match=r"waived by W-1 .*fixed argv"):
        check_case(SecurityCase("code", "finding", finding, scans.decision(finding)), scans)
    with pytest.raises(pytest.fail.Exception, match=r"\[B602\] app/x.py:3"):
        check_case(SecurityCase("code", "finding", finding, WaiverSet().decide(finding)), scans)
    assert check_case(SecurityCase("code", "clean", text="2 files"), scans) == "2 files"
    with pytest.raises(pytest.fail.Exception, match="boom"):
        check_case(SecurityCase("code", "error", text="boom"), scans)
    ids = [c.id for c in cases_for(scans, "dependencies")]
    assert ids == ["clean"]


def test_deferred_case_scans_when_it_runs(tmp_path: Path) -> None:
    scans = _scans(tmp_path, WaiverSet())
    (tmp_path / "app" / "requirements.txt").write_text("flask\n")
    with pytest.raises(pytest.fail.Exception, match="PIPE-DEP-001"):
        check_case(SecurityCase("dependencies", "deferred"), scans)


def test_waiver_checks_expired_fails_unused_warns(tmp_path: Path) -> None:
    from pytest_pipeline.plugin.scancases import UnusedWaiverWarning, WaiverCheck
    from pytest_pipeline.predeploy.scanners import ScanOutcome

    entry = {"rule": "B602", "scope": "app/*", "owner": "o", "reason": "r"}
    waivers = parse_waivers(
        {"waiver": [{"id": "W-old", **entry, "expires": "2000-01-01"},
                    {"id": "W-new", **entry, "rule": "B999", "expires": "2999-01-01"}]},
        "pipeline-waivers.toml",
    )  # fmt: skip
    scans = _scans(tmp_path, waivers)
    old, new = waivers.waivers
    with pytest.raises(pytest.fail.Exception, match=r"W-old in pipeline-waivers\.toml expired"):
        WaiverCheck(old, scans).check()
    WaiverCheck(new, scans).check()  # not every scanner ran: no claim about use
    scans.outcomes.update({name: ScanOutcome(name) for name in SCANNERS})
    with pytest.warns(UnusedWaiverWarning, match=r"W-new .* matched no finding"):
        WaiverCheck(new, scans).check()
    WaiverCheck(None, scans).check()
