"""Secrets in templates: secret-named parameters with a default or shown in clear, and
secret-named environment variables of functions, tasks and builds with a plain value (E93xx)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c


class SecretParameter(c.PipelineRule):
    """A secret parameter has no default and is NoEcho. Control: none in FSBP or CIS
    (CWE-798, hard-coded credentials)."""

    id = "E9301"
    shortdesc = "Secret parameters have no Default and set NoEcho"
    description = (
        "A parameter named like a secret (password, token, API key...) with a Default "
        "ships that secret in the template and in every stack made from it; one without "
        "NoEcho shows its value in the console and DescribeStacks. Control: none in FSBP or "
        "CIS; CWE-798 (hard-coded credentials)."
    )
    control = "none (CWE-798)"
    fix = (
        "remove the Default and set NoEcho: true, or better keep the secret in Secrets "
        "Manager and pass its ARN (or use a {{resolve:secretsmanager:...}} reference)"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per secret-named String parameter with a Default or without NoEcho."""
        for name, spec in c.parameters(cfn).items():
            if not isinstance(spec, Mapping) or not c.secret_name(str(name)):
                continue
            if not str(spec.get("Type", "String")).startswith(("String", "CommaDelimitedList")):
                continue  # AWS::SSM::Parameter::Value<...> and friends hold a name
            problems = []
            if "Default" in spec:
                problems.append("has a Default")
            if not c.is_true(spec.get("NoEcho", False), cfn):
                problems.append("is not NoEcho")
            if problems:
                path: c.Path = (
                    ["Parameters", name, "Default"] if "Default" in spec else ["Parameters", name]
                )
                yield self.report(
                    path, f"parameter {name} looks secret and {' and '.join(problems)}"
                )


def _pairs(node: Any) -> Iterator[tuple[str, Any, str | int]]:
    """(name, value, key) of a variables mapping or a list of {Name, Value} entries."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            yield str(name), value, name
    elif isinstance(node, list):
        for index, entry in enumerate(node):
            if isinstance(entry, Mapping) and "Name" in entry:
                if str(entry.get("Type", "PLAINTEXT")).upper() != "PLAINTEXT":
                    continue  # CodeBuild PARAMETER_STORE / SECRETS_MANAGER: a reference
                yield str(entry["Name"]), entry.get("Value"), index


def environment_settings(cfn: Any) -> Iterator[tuple[str, c.Path, Any]]:
    """(resource, path, variables node) of every environment-variable block the template
    declares on Lambda functions, ECS task definitions, CodeBuild projects and Batch jobs."""
    for logical_id, resource in c.resources(cfn, "AWS::Lambda::Function"):
        base: c.Path = ["Resources", logical_id, "Properties", "Environment", "Variables"]
        yield logical_id, base, c.get(c.properties(resource), "Environment.Variables")[1]
    for logical_id, resource in c.resources(cfn, "AWS::ECS::TaskDefinition"):
        containers = c.properties(resource).get("ContainerDefinitions")
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if isinstance(container, Mapping):
                base = [
                    "Resources",
                    logical_id,
                    "Properties",
                    "ContainerDefinitions",
                    index,
                    "Environment",
                ]
                yield logical_id, base, container.get("Environment")
    for logical_id, resource in c.resources(cfn, "AWS::CodeBuild::Project"):
        base = ["Resources", logical_id, "Properties", "Environment", "EnvironmentVariables"]
        yield logical_id, base, c.get(c.properties(resource), "Environment.EnvironmentVariables")[1]
    for logical_id, resource in c.resources(cfn, "AWS::Batch::JobDefinition"):
        base = ["Resources", logical_id, "Properties", "ContainerProperties", "Environment"]
        yield logical_id, base, c.get(c.properties(resource), "ContainerProperties.Environment")[1]


class PlainEnvironmentSecret(c.PipelineRule):
    """No secret in plain environment variables. Control: AWS FSBP ECS.8, CodeBuild.2."""

    id = "E9302"
    shortdesc = "Environment variables hold no plain-text secret"
    description = (
        "A secret-named environment variable of a Lambda function, ECS container, "
        "CodeBuild project or Batch job whose value is a literal, a parameter or a resolved "
        "dynamic reference is readable by anyone who can describe the resource. (Elastic "
        "Beanstalk option settings: E9109.) Control: AWS FSBP ECS.8, CodeBuild.2."
    )
    control = "FSBP ECS.8, CodeBuild.2"
    fix = (
        "pass a Secrets Manager or SSM reference instead (ECS `Secrets`, CodeBuild Type "
        "SECRETS_MANAGER), or pass the secret's ARN and read it at run time"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per secret-named variable with a plain value."""
        for logical_id, base, node in environment_settings(cfn):
            for name, value, key in _pairs(node):
                if not c.secret_name(name):
                    continue
                why = c.plaintext_secret(value, cfn)
                if why:
                    yield self.report(
                        [*base, key],
                        f"{logical_id}: environment variable {name} holds a secret in plain "
                        f"text ({why})",
                    )
