"""The instance role may write the logs Elastic Beanstalk streams from the instance.

With ``StreamLogs`` on, the instance's agent writes ``/aws/elasticbeanstalk/<environment>/
var/log/...`` groups. The role granted only the app's own group, so on real AWS the streamed
logs never arrived and the monitoring stage looked at a group the app never wrote to. moto
does not evaluate IAM, so the policy is read from the template and its resources matched
against the ARNs the agent writes (IAM's ``*`` matches any characters, as fnmatch's does).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from pytest_pipeline.aws.cfn import load_template

from .conftest import TEMPLATE

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "passport-photo-prod",
}
GROUP = (
    "arn:aws:logs:eu-west-1:123456789012:log-group:"
    "/aws/elasticbeanstalk/passport-photo-prod-env/var/log/web.stdout.log"
)


def _resolve(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [text for item in node for text in _resolve(item)]
    if isinstance(node, dict) and "Fn::Sub" in node:
        text = node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
        return [re.sub(r"\$\{([^}]+)\}", lambda m: PSEUDO.get(m.group(1), "?"), text)]
    return []  # a reference to another resource: not an Elastic Beanstalk log group


def _statements() -> list[dict[str, Any]]:
    """The instance role's inline policies and the policies attached to it."""
    resources = load_template(TEMPLATE)["Resources"]
    documents = [
        p["PolicyDocument"] for p in resources["InstanceRole"]["Properties"].get("Policies", [])
    ]
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": "InstanceRole"} in props.get(
            "Roles", []
        ):
            documents.append(props["PolicyDocument"])
    return [statement for document in documents for statement in document["Statement"]]


def _allowed(action: str, arn: str) -> bool:
    for statement in _statements():
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if statement["Effect"] != "Allow" or not any(
            fnmatch.fnmatchcase(action, a) for a in actions
        ):
            continue
        if any(fnmatch.fnmatchcase(arn, r) for r in _resolve(statement["Resource"])):
            return True
    return False


def test_the_instance_role_writes_the_streamed_logs() -> None:
    stream = f"{GROUP}:log-stream:i-0123456789abcdef0"
    assert _allowed("logs:CreateLogStream", GROUP) or _allowed("logs:CreateLogStream", stream)
    assert _allowed("logs:PutLogEvents", stream)
    assert _allowed("logs:DescribeLogStreams", GROUP) or _allowed("logs:DescribeLogStreams", stream)


def test_and_only_its_own_environments_groups() -> None:
    other = GROUP.replace("passport-photo-prod-env", "someone-else-env")
    assert not _allowed("logs:PutLogEvents", f"{other}:log-stream:i-1")
