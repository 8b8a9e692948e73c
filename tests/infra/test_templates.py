"""Template checks: cfn-lint on infra/, its error messages, the run's templates, and the
parameter files (the pipeline's own rules: test_cfn_rules.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.aws import cfn
from pytest_pipeline.aws.stacks import load_parameters
from pytest_pipeline.findings import Severity
from pytest_pipeline.predeploy.templates import (
    lint_template,
    run_templates,
    scan_template,
    security_findings,
    template_files,
)

from .conftest import ROOT, TEMPLATE


def _props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    """The real template as plain JSON data."""
    data: dict[str, Any] = json.loads(json.dumps(cfn.load_template(TEMPLATE)))
    return data


def _write(tmp_path: Path, template: dict[str, Any], name: str = "template.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(template, indent=1))
    return path


def test_run_templates_are_the_configured_one_and_its_local_nested_stacks(tmp_path: Path) -> None:
    """`--template` decides what is scanned: the template and the local templates of its
    nested stacks, not the folder around it; a missing template is an error naming it."""
    (tmp_path / "child.yaml").write_text("Resources:\n  T: {Type: AWS::SNS::Topic}\n")
    (tmp_path / "other.yaml").write_text("Resources: {}\n")
    parent = tmp_path / "parent.yaml"
    parent.write_text(
        "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n"
        "    Properties: {TemplateURL: child.yaml}\n"
    )
    assert run_templates(parent) == [parent.resolve(), (tmp_path / "child.yaml").resolve()]
    missing = r"nope\.yaml does not exist \(setting `template`\)"
    with pytest.raises(FileNotFoundError, match=missing):
        run_templates(tmp_path / "nope.yaml")


def test_infra_templates_lint_clean() -> None:
    """cfn-lint finds no error and no warning in any template of infra/."""
    templates = template_files(ROOT / "infra")
    assert TEMPLATE in templates
    for template in templates:
        assert lint_template(template) == []


def test_the_rules_run_in_the_same_cfn_lint_run(base: dict[str, Any], tmp_path: Path) -> None:
    """A cfn-lint error and a pipeline rule come out of one scan, each filtered back out by
    lint_template and security_findings."""
    template = copy.deepcopy(base)
    _props(template, "PhotoBucket")["BucketNam"] = "x"
    _props(template, "AppLogGroup").pop("RetentionInDays")
    path = _write(tmp_path, template)
    assert {f.rule_id for f in security_findings(path)} == {"W9701"}
    assert {f.rule_id[:2] for f in lint_template(path)} == {"E3"}
    assert len(scan_template(path)) == len(security_findings(path)) + len(lint_template(path))


def test_invalid_template_gives_the_cfn_lint_message(base: dict[str, Any], tmp_path: Path) -> None:
    """A misspelt property is a cfn-lint error naming the rule, resource and line."""
    template = copy.deepcopy(base)
    _props(template, "PhotoBucket")["BucketNam"] = "x"
    findings = lint_template(_write(tmp_path, template))
    errors = [f for f in findings if f.severity is Severity.HIGH]
    assert errors, findings
    assert errors[0].rule_id.startswith("E3")
    assert errors[0].resource == "PhotoBucket"
    assert "BucketNam" in errors[0].message
    assert errors[0].line is not None


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_parameter_files_fit_the_template(env: str) -> None:
    """Each environment's parameters satisfy the template's constraints."""
    template = cfn.load_template(TEMPLATE)
    params = load_parameters(ROOT / "infra" / "parameters" / f"{env}.json")
    assert params["Environment"] == env
    assert cfn.validate_parameters(template, params) == []


def test_parameter_constraints_are_enforced() -> None:
    """Values outside AllowedValues, patterns, ranges and min > max are reported."""
    template = cfn.load_template(TEMPLATE)
    problems = cfn.validate_parameters(
        template,
        {
            "Environment": "qa",
            "InstanceType": "huge",
            "MinInstances": "5",
            "MaxInstances": "2",
            "MaxUploadMb": "500",
            "Nope": "1",
        },
    )
    text = " | ".join(problems)
    for expected in (
        "Environment='qa'",
        "InstanceType='huge'",
        "MaxUploadMb=500 is above",
        "MinInstances=5 is greater than MaxInstances=2",
        "unknown parameter 'Nope'",
    ):
        assert expected in text
