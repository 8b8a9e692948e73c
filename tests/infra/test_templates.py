"""Template checks: cfn-lint and the data-driven security rules, on infra/ and on templates
that break each rule."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_pipeline.aws import cfn
from pytest_pipeline.aws.stacks import load_parameters
from pytest_pipeline.checks.findings import Severity
from pytest_pipeline.checks.templates import (
    lint_template,
    load_rules,
    security_findings,
    template_files,
)

from .conftest import ROOT, TEMPLATE

Mutation = Callable[[dict[str, Any]], None]


def _props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]  # type: ignore[no-any-return]


def _statement(template: dict[str, Any]) -> dict[str, Any]:
    return _props(template, "InstancePolicy")["PolicyDocument"]["Statement"][0]  # type: ignore[no-any-return]


MUTATIONS: dict[str, tuple[str, Mutation]] = {
    "PIPE-S3-ENCRYPTION": (
        "PhotoBucket",
        lambda t: _props(t, "PhotoBucket").pop("BucketEncryption"),
    ),
    "PIPE-S3-PUBLIC-ACCESS": (
        "PhotoBucket",
        lambda t: _props(t, "PhotoBucket")["PublicAccessBlockConfiguration"].update(
            RestrictPublicBuckets=False
        ),
    ),
    "PIPE-S3-VERSIONING": (
        "DeploymentBucket",
        lambda t: _props(t, "DeploymentBucket").update(
            VersioningConfiguration={"Status": "Suspended"}
        ),
    ),
    "PIPE-S3-TLS-ONLY": ("PhotoBucket", lambda t: t["Resources"].pop("PhotoBucketPolicy")),
    "PIPE-DDB-SSE": (
        "ValidationsTable",
        lambda t: _props(t, "ValidationsTable").update(SSESpecification={"SSEEnabled": False}),
    ),
    "PIPE-DDB-PITR": (
        "ValidationsTable",
        lambda t: _props(t, "ValidationsTable").pop("PointInTimeRecoverySpecification"),
    ),
    "PIPE-IAM-WILDCARD-ACTION": (
        "InstancePolicy",
        lambda t: _statement(t).update(Action=["dynamodb:*"]),
    ),
    "PIPE-IAM-WILDCARD-RESOURCE": ("InstancePolicy", lambda t: _statement(t).update(Resource="*")),
    "PIPE-LOGS-RETENTION": (
        "AppLogGroup",
        lambda t: _props(t, "AppLogGroup").pop("RetentionInDays"),
    ),
    "PIPE-ALARMS-PRESENT": ("AppEnvironment", lambda t: t["Resources"].pop("CpuAlarm")),
}


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    """The real template as plain JSON data."""
    data: dict[str, Any] = json.loads(json.dumps(cfn.load_template(TEMPLATE)))
    return data


def _write(tmp_path: Path, template: dict[str, Any], name: str = "template.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(template, indent=1))
    return path


def test_infra_templates_lint_clean() -> None:
    """cfn-lint finds no error and no warning in any template of infra/."""
    templates = template_files(ROOT / "infra")
    assert TEMPLATE in templates
    for template in templates:
        assert lint_template(template) == []


def test_infra_templates_have_no_security_findings() -> None:
    """Every security rule holds on every template of infra/."""
    for template in template_files(ROOT / "infra"):
        assert security_findings(template) == []


def test_every_rule_has_a_mutation() -> None:
    """Each rule of the rules file is exercised below."""
    assert {rule.id for rule in load_rules()} == set(MUTATIONS)


@pytest.mark.parametrize("rule_id", sorted(MUTATIONS))
def test_rule_catches_its_violation(rule_id: str, base: dict[str, Any], tmp_path: Path) -> None:
    """Breaking one rule gives exactly that finding, naming the resource, line and fix."""
    resource, mutate = MUTATIONS[rule_id]
    template = copy.deepcopy(base)
    mutate(template)
    findings = security_findings(_write(tmp_path, template))
    assert [f.rule_id for f in findings] == [rule_id], [f.describe() for f in findings]
    finding = findings[0]
    assert finding.resource == resource
    assert finding.fix and finding.line is not None and finding.line > 1
    assert resource in finding.describe()


def test_alarm_without_actions_is_caught(base: dict[str, Any], tmp_path: Path) -> None:
    """An alarm that notifies no one does not count."""
    template = copy.deepcopy(base)
    _props(template, "LatencyAlarm").pop("AlarmActions")
    findings = security_findings(_write(tmp_path, template))
    assert [f.rule_id for f in findings] == ["PIPE-ALARMS-PRESENT"]
    assert "ApplicationLatencyP95 has no AlarmActions" in findings[0].message


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


def test_unknown_check_in_rules_file_is_rejected(tmp_path: Path) -> None:
    """A typo in the rules file fails loudly, naming the rule."""
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "X-1"\nresource_type = "*"\ncheck = "nope"\nseverity = "low"\n'
        'message = "m"\nfix = "f"\n'
    )
    with pytest.raises(ValueError, match=r"X-1.*unknown check 'nope'"):
        load_rules(rules)


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
