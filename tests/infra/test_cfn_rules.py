"""The pipeline's cfn-lint rules (pytest_pipeline/predeploy/cfnrules): a secure Elastic Beanstalk
stack gets no finding; each flaw injected alone gets exactly its own rule, naming the
resource, the line and the fix; the cfn-lint command line reports what the pipeline does."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from pytest_pipeline.findings import Finding
from pytest_pipeline.predeploy.templates import (
    COMMAND,
    RULES_SCANNER,
    rule_catalogue,
    scan_template,
)

from .conftest import ROOT

SECURE = Path(__file__).parent / "templates" / "secure_stack.yaml"
ENV = "AppEnvironment"

Template = dict[str, Any]
Mutation = Callable[[Template], None]


def _res(t: Template, logical_id: str) -> dict[str, Any]:
    return t["Resources"][logical_id]  # type: ignore[no-any-return]


def _props(t: Template, logical_id: str) -> dict[str, Any]:
    return _res(t, logical_id)["Properties"]  # type: ignore[no-any-return]


def _options(t: Template) -> list[Any]:
    return _props(t, ENV)["OptionSettings"]  # type: ignore[no-any-return]


def _option(t: Template, namespace: str, name: str) -> dict[str, Any]:
    for item in _options(t):
        if item.get("Namespace") == namespace and item.get("OptionName") == name:
            return item  # type: ignore[no-any-return]
    raise KeyError((namespace, name))


def _set(namespace: str, name: str, value: str) -> Mutation:
    return lambda t: _option(t, namespace, name).update(Value=value)


def _drop(namespace: str, name: str) -> Mutation:
    return lambda t: _options(t).remove(_option(t, namespace, name))


def _add_option(namespace: str, name: str, value: Any) -> Mutation:
    return lambda t: _options(t).append(
        {"Namespace": namespace, "OptionName": name, "Value": value}
    )


def _conditional(t: Template, name: str) -> dict[str, Any]:
    """The setting ``name`` added under a condition (``!If [Cond, {...}, NoValue]``)."""
    return next(
        o["Fn::If"][1] for o in _options(t) if o.get("Fn::If", [0, {}])[1].get("OptionName") == name
    )


def _drop_https(t: Template) -> None:
    """Only the TLS policy of the conditional HTTPS listener is left."""
    _props(t, ENV)["OptionSettings"] = [
        o
        for o in _options(t)
        if o.get("Fn::If", [0, {}])[1].get("OptionName") in (None, "SSLPolicy")
    ]


def _ingress(rule: dict[str, Any]) -> Mutation:
    return lambda t: _props(t, "WebSecurityGroup")["SecurityGroupIngress"].append(rule)


def _statement(statement: dict[str, Any]) -> Mutation:
    def mutate(t: Template) -> None:
        policy = _props(t, "InstanceRole")["Policies"][0]["PolicyDocument"]
        policy["Statement"].append({"Effect": "Allow", **statement})

    return mutate


LOGS = "aws:elasticbeanstalk:cloudwatch:logs"
APP = "aws:elasticbeanstalk:application:environment"
LAUNCH = "aws:autoscaling:launchconfiguration"
ANY = "0.0.0.0/0"

# flaw -> (rule that must fire, resource it names, the flaw)
FLAWS: dict[str, tuple[str, str, Mutation]] = {
    # the fourteen flaws of the issue
    "enhanced-health-off": (
        "E9101",
        ENV,
        _set("aws:elasticbeanstalk:healthreporting:system", "SystemType", "basic"),
    ),
    "imdsv1-allowed": ("E9102", ENV, _set(LAUNCH, "DisableIMDSv1", "false")),
    "http-only-listener": ("E9103", ENV, _drop_https),
    "all-at-once": (
        "E9105",
        ENV,
        _set("aws:elasticbeanstalk:command", "DeploymentPolicy", "AllAtOnce"),
    ),
    "log-streaming-off": ("E9106", ENV, _set(LOGS, "StreamLogs", "false")),
    "managed-updates-off": (
        "E9108",
        ENV,
        _set("aws:elasticbeanstalk:managedactions", "ManagedActionsEnabled", "false"),
    ),
    "plaintext-secret-option": ("E9109", ENV, _add_option(APP, "DB_PASSWORD", "hunter2-hunter2")),
    "ssh-open-to-world": (
        "E9201",
        "WebSecurityGroup",
        _ingress({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": ANY}),
    ),
    "table-deleted-with-stack": (
        "E9401",
        "Table",
        lambda t: _res(t, "Table").update(DeletionPolicy="Delete"),
    ),
    "bucket-deleted-with-stack": (
        "E9401",
        "Bucket",
        lambda t: [_res(t, "Bucket").pop(k) for k in ("DeletionPolicy", "UpdateReplacePolicy")],
    ),
    "unencrypted-topic": ("E9507", "Topic", lambda t: _props(t, "Topic").pop("KmsMasterKeyId")),
    "kms-rotation-off": (
        "E9509",
        "DataKey",
        lambda t: _props(t, "DataKey").update(EnableKeyRotation=False),
    ),
    "passrole-on-any-role": (
        "E9603",
        "InstanceRole",
        _statement({"Action": "iam:PassRole", "Resource": "*"}),
    ),
    "password-parameter-with-default": (
        "E9301",
        "DbPassword",
        lambda t: t["Parameters"].update(
            DbPassword={"Type": "String", "NoEcho": True, "Default": "changeme-please"}
        ),
    ),
    # the other rules, and the other ways to break them
    "weak-tls-policy": (
        "E9104",
        ENV,
        lambda t: _conditional(t, "SSLPolicy").update(Value="ELBSecurityPolicy-2016-08"),
    ),
    "streamed-log-retention-unset": ("W9107", ENV, _drop(LOGS, "RetentionInDays")),
    "ssh-through-eb-key-pair": ("E9201", ENV, _add_option(LAUNCH, "EC2KeyName", "ops")),
    "rdp-open-to-world-ipv6": (
        "E9201",
        "WebSecurityGroup",
        _ingress({"IpProtocol": "-1", "CidrIpv6": "::/0"}),
    ),
    "secret-parameter-echoed": (
        "E9301",
        "ApiToken",
        lambda t: t["Parameters"]["ApiToken"].pop("NoEcho"),
    ),
    "secret-literal-in-function-environment": (
        "E9302",
        "Function",
        lambda t: _props(t, "Function")["Environment"]["Variables"].update(API_TOKEN="tok-123456"),
    ),
    "conditional-policy-without-transform": ("E9401", "Table", lambda t: t.pop("Transform")),
    "conditional-policy-deleting-in-production": (
        "E9401",
        "Table",
        lambda t: _res(t, "Table").update(
            DeletionPolicy={"Fn::If": ["IsProduction", "Delete", "Retain"]}
        ),
    ),
    "scratch-table-kept-in-production": (
        "E9401",
        "ScratchTable",
        lambda t: t["Conditions"].update(
            IsDevelopment={"Fn::Equals": [{"Ref": "Environment"}, "prod"]}
        ),
    ),
    "bucket-unencrypted": (
        "E9501",
        "Bucket",
        lambda t: _props(t, "Bucket").pop("BucketEncryption"),
    ),
    "bucket-public": (
        "E9502",
        "Bucket",
        lambda t: _props(t, "Bucket")["PublicAccessBlockConfiguration"].update(
            RestrictPublicBuckets=False
        ),
    ),
    "bucket-unversioned": (
        "W9503",
        "Bucket",
        lambda t: _props(t, "Bucket").update(VersioningConfiguration={"Status": "Suspended"}),
    ),
    "bucket-plain-http": ("E9504", "Bucket", lambda t: t["Resources"].pop("BucketPolicy")),
    "table-without-kms": (
        "E9505",
        "Table",
        lambda t: _props(t, "Table").update(SSESpecification={"SSEEnabled": False}),
    ),
    "table-without-pitr": (
        "W9506",
        "Table",
        lambda t: _props(t, "Table").pop("PointInTimeRecoverySpecification"),
    ),
    "unencrypted-queue": (
        "E9508",
        "Queue",
        lambda t: _props(t, "Queue").update(SqsManagedSseEnabled=False),
    ),
    "wildcard-data-action": (
        "E9601",
        "InstanceRole",
        _statement({"Action": "dynamodb:*", "Resource": {"Fn::GetAtt": ["Table", "Arn"]}}),
    ),
    "data-action-on-any-resource": (
        "E9602",
        "InstanceRole",
        _statement({"Action": "s3:GetObject", "Resource": "*"}),
    ),
    "log-group-kept-forever": (
        "W9701",
        "LogGroup",
        lambda t: _props(t, "LogGroup").pop("RetentionInDays"),
    ),
    "no-latency-alarm": ("E9702", ENV, lambda t: t["Resources"].pop("LatencyAlarm")),
}


def _via_configuration_template(t: Template) -> None:
    """The environment's settings moved into a ConfigurationTemplate it names."""
    settings = _props(t, ENV).pop("OptionSettings")
    t["Resources"]["Config"] = {
        "Type": "AWS::ElasticBeanstalk::ConfigurationTemplate",
        "Properties": {
            "ApplicationName": {"Ref": "Application"},
            "SolutionStackName": _props(t, ENV).pop("SolutionStackName"),
            "OptionSettings": settings,
        },
    }
    _props(t, ENV)["TemplateName"] = {"Ref": "Config"}


def _classic_load_balancer(t: Template) -> None:
    """A classic load balancer terminating HTTPS with a TLS 1.2 reference policy."""
    _drop_https(t)
    _option(t, "aws:elasticbeanstalk:environment", "LoadBalancerType").update(Value="classic")
    for name, value in (
        ("ListenerProtocol", "HTTPS"),
        ("InstancePort", "80"),
        ("SSLCertificateId", {"Ref": "CertificateArn"}),
    ):
        _add_option("aws:elb:listener:443", name, value)(t)
    _add_option("aws:elb:policies:tls", "SSLReferencePolicy", "ELBSecurityPolicy-TLS-1-2-2017-01")(
        t
    )
    _add_option("aws:elb:policies:tls", "LoadBalancerPorts", "443")(t)


def _single_instance(t: Template) -> None:
    """No load balancer: no listener to check."""
    _drop_https(t)
    _option(t, "aws:elasticbeanstalk:environment", "EnvironmentType").update(Value="SingleInstance")
    _options(t).remove(_option(t, "aws:elasticbeanstalk:environment", "LoadBalancerType"))


def _retain_always(t: Template) -> None:
    for logical_id in ("Table", "Bucket"):
        _res(t, logical_id).update(DeletionPolicy="Retain", UpdateReplacePolicy="Retain")
    t.pop("Transform")
    t["Conditions"].pop("IsProduction")


# Other ways to comply: each must give no finding at all.
COMPLIANT: dict[str, Mutation] = {
    "settings-in-a-configuration-template": _via_configuration_template,
    "classic-load-balancer-with-https": _classic_load_balancer,
    "single-instance-environment": _single_instance,
    "literal-retain-without-transform": _retain_always,
    "ssh-key-pair-restricted": lambda t: [
        _add_option(LAUNCH, "EC2KeyName", "ops")(t),
        _add_option(LAUNCH, "SSHSourceRestriction", "tcp, 22, 22, 10.0.0.0/8")(t),
    ],
    "secret-through-environmentsecrets": _add_option(
        "aws:elasticbeanstalk:application:environmentsecrets",
        "DB_PASSWORD",
        {"Ref": "AppSecret"},
    ),
    "secret-reference-in-codebuild": lambda t: t["Resources"].update(
        Build={
            "Type": "AWS::CodeBuild::Project",
            "Properties": {
                "ServiceRole": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                "Artifacts": {"Type": "NO_ARTIFACTS"},
                "Source": {"Type": "NO_SOURCE", "BuildSpec": "version: 0.2"},
                "Environment": {
                    "Type": "LINUX_CONTAINER",
                    "ComputeType": "BUILD_GENERAL1_SMALL",
                    "Image": "aws/codebuild/standard:7.0",
                    "EnvironmentVariables": [
                        {"Name": "API_TOKEN", "Type": "SECRETS_MANAGER", "Value": "app/token"}
                    ],
                },
            },
        }
    ),
}


@pytest.mark.parametrize("variant", sorted(COMPLIANT))
def test_other_ways_to_comply_give_no_finding(
    variant: str, secure: Template, tmp_path: Path
) -> None:
    """Settings in a ConfigurationTemplate, a classic load balancer with HTTPS, a
    single-instance environment, literal Retain, a restricted key pair, secrets passed by
    reference: the rules see them, and nothing fires."""
    template = copy.deepcopy(secure)
    COMPLIANT[variant](template)
    findings = scan_template(_write(tmp_path, template))
    assert findings == [], [f.describe() for f in findings]


@pytest.fixture(scope="module")
def secure() -> Template:
    """The secure stack as plain JSON data."""
    template, errors = decode_str(SECURE.read_text(encoding="utf-8"))
    assert not errors and template is not None
    data: Template = json.loads(json.dumps(template))
    return data


def _write(folder: Path, template: Template, name: str = "flawed.yaml") -> Path:
    path = folder / name
    path.write_text(json.dumps(template, indent=1), encoding="utf-8")  # JSON is YAML
    return path


def _flawed(secure: Template, *flaws: str) -> Template:
    template = copy.deepcopy(secure)
    for flaw in flaws:
        FLAWS[flaw][2](template)
    return template


def test_the_secure_stack_and_the_repository_template_get_no_finding() -> None:
    """Zero findings, cfn-lint's own included, on the secure stack and infra/template.yaml."""
    for template in (SECURE, ROOT / "infra" / "template.yaml"):
        findings = scan_template(template)
        assert findings == [], [f.describe() for f in findings]


def test_every_rule_is_exercised_by_a_flaw() -> None:
    """Each rule of the rules directory fires on at least one flaw below."""
    assert {r.id for r in rule_catalogue()} == {rule for rule, _, _ in FLAWS.values()}


def test_each_rule_names_its_control_and_the_readme_lists_it() -> None:
    """Every rule's description names the FSBP/CIS control (or why none); the README's
    template checks give the rule table and the exact command line."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert COMMAND.format(template="infra/template.yaml") in readme
    for rule in rule_catalogue():
        assert rule.id[0] in "EW" and rule.id[1] == "9" and len(rule.id) == 5
        assert "Control:" in rule.description and rule.control and rule.fix
        assert f"| `{rule.id}` | {rule.shortdesc} | {rule.control} | " in readme, rule.id


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_each_flaw_alone_fires_its_own_rule(flaw: str, secure: Template, tmp_path: Path) -> None:
    """The flaw gives findings of its rule only, naming the resource, the line and the fix."""
    rule, resource, _ = FLAWS[flaw]
    findings = scan_template(_write(tmp_path, _flawed(secure, flaw)))
    assert {f.rule_id for f in findings} == {rule}, [f.describe() for f in findings]
    assert resource in {f.resource for f in findings}
    for finding in findings:
        assert finding.scanner == RULES_SCANNER
        assert finding.line is not None and finding.line > 1
        assert finding.fix and finding.fix not in finding.message
        assert finding.resource and finding.resource in finding.message


def _cli(template: Path) -> list[tuple[str, int, str]]:
    """What `cfn-lint --append-rules ...` prints (as JSON), run from the repository root."""
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    # the README's words as they stand (no "--" that a reader would not type)
    args = [str(cfn_lint), *COMMAND.format(template=template).split()[1:], "--format", "json"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode % 2 == 0, done.stderr  # odd: cfn-lint itself failed
    return sorted(
        (m["Rule"]["Id"], m["Location"]["Start"]["LineNumber"], m["Message"])
        for m in json.loads(done.stdout)
    )


def _pipeline(findings: list[Finding]) -> list[tuple[str, int, str]]:
    return sorted(
        (
            f.rule_id,
            f.line or 0,
            f"{f.message}. Fix: {f.fix}" if f.scanner == RULES_SCANNER else f.message,
        )
        for f in findings
    )


def test_the_command_line_reports_what_the_pipeline_reports(
    secure: Template, tmp_path: Path
) -> None:
    """The README's `cfn-lint --append-rules pytest_pipeline/predeploy/cfnrules` on a template
    with several flaws (and a cfn-lint error) gives exactly the pipeline's findings."""
    flawed = _flawed(
        secure,
        "enhanced-health-off",
        "ssh-open-to-world",
        "bucket-deleted-with-stack",
        "unencrypted-topic",
    )
    _props(flawed, "Queue")["VisibilityTimeout"] = "soon"  # a cfn-lint error (E3012)
    path = _write(tmp_path, flawed)
    findings = scan_template(path)
    assert {"E9101", "E9201", "E9401", "E9507", "E3012"} <= {f.rule_id for f in findings}
    assert _cli(path) == _pipeline(findings)
    # and the README's own command line, on the repository's template: nothing either way
    assert (
        _cli(Path("infra/template.yaml"))
        == _pipeline(scan_template(ROOT / "infra" / "template.yaml"))
        == []
    )
