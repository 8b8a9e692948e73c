"""Which resource made a stack fail, when the backend does not say.

CloudFormation's failed events name the resource and the reason. moto has no resource
events, and cannot even list a stack whose creation raised; there the failing resource is
the first one, in creation order, that was not created: what the account gained since just
before the attempt says which resources exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from pytest_pipeline.aws import cfn, inventory
from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.aws.stackops import stack_resources

AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
WAITING_TYPES = ("AWS::CloudFormation::CustomResource", "AWS::CloudFormation::WaitCondition")
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SecretsManager::Secret": "Name",
}


def kinds_of(declared: Mapping[str, str]) -> list[str]:
    """Inventory kinds the declared resources fall into."""
    kinds = {inventory.KIND_OF_TYPE[t] for t in declared.values() if t in inventory.KIND_OF_TYPE}
    return sorted(kinds)


def _waits(rtype: str) -> bool:
    return rtype.startswith("Custom::") or rtype in WAITING_TYPES


def name_matcher(
    stack: str, logical_id: str, spec: Mapping[str, Any], region: str
) -> tuple[str | None, str | None]:
    """(exact name, generated-name prefix) the resource gets, or (None, None) if unknowable."""
    rtype = str(spec.get("Type"))
    raw = (spec.get("Properties") or {}).get(NAME_PROPERTY.get(rtype, ""), None)
    if raw is None:
        prefix = f"{stack}-{logical_id}-"
        return None, prefix.lower() if rtype == "AWS::S3::Bucket" else prefix
    text = raw.get("Fn::Sub") if isinstance(raw, dict) else raw
    if not isinstance(text, str):
        return None, None
    return cfn.substitute(text, {"AWS::StackName": stack, "AWS::Region": region}), None


def _exists(names: Iterable[str], exact: str | None, prefix: str | None, topic: bool) -> str | None:
    for name in names:
        short = name.rsplit(":", 1)[-1] if topic else name
        if (exact is not None and short == exact) or (
            prefix is not None and short.startswith(prefix)
        ):
            return name
    return None


def failing_resource(
    ctx: AwsContext,
    stack: str,
    template: Mapping[str, Any],
    declared: Mapping[str, str],
    failed: list[dict[str, Any]],
    *,
    timed_out: bool,
    before: inventory.Inventory | None,
    seen: dict[str, tuple[str, str]],
) -> tuple[str | None, str]:
    """The resource that failed (or hangs) and what the backend said about it.

    Resources found to exist are added to ``seen`` (logical id → (type, physical id)), so
    the cleanup can prove they are gone.
    """
    for event in failed:
        if event.get("LogicalResourceId") and event.get("LogicalResourceId") != stack:
            return str(event["LogicalResourceId"]), str(event.get("ResourceStatusReason", ""))
    order = [lid for lid in cfn.creation_order(template) if lid in declared]
    try:
        listed: dict[str, tuple[str, str]] | None = stack_resources(ctx, stack)
    except AWS_ERRORS:
        listed = None  # moto cannot list a stack whose creation raised
    if listed is not None:
        seen.update(listed)
        if timed_out:
            for logical_id in order:
                if logical_id in listed and _waits(declared[logical_id]):
                    return logical_id, "waits for an answer that never came"
        for logical_id in order:
            if declared[logical_id] in inventory.KIND_OF_TYPE and logical_id not in listed:
                return logical_id, ""
        return None, ""
    if before is None:
        return None, ""
    gained = inventory.snapshot(ctx, list(before.items)).new_since(before)
    for logical_id in order:
        rtype = declared[logical_id]
        kind = inventory.KIND_OF_TYPE.get(rtype)
        if kind is None:
            continue
        exact, prefix = name_matcher(
            stack, logical_id, template["Resources"][logical_id], ctx.region
        )
        if exact is None and prefix is None:
            continue
        found = _exists(gained.get(kind, []), exact, prefix, topic=kind == "topics")
        if found is None:
            return logical_id, ""
        seen[logical_id] = (rtype, found)
    return None, ""
