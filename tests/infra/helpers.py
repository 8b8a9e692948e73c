"""Templates and account helpers shared by the infra tests."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

from pytest_pipeline.aws import cfn, inventory, stacks
from pytest_pipeline.aws.clients import AwsContext

from .conftest import TEMPLATE

REQUIRED_OUTPUTS = frozenset(stacks.REQUIRED_OUTPUTS)
TAKEN = "taken-by-someone-else"
"""Name of resources that exist in the account outside any stack: a stack resource asking
for the same name fails to create, on moto as on AWS."""

_names = itertools.count()


def unique(prefix: str) -> str:
    """A fresh stack name."""
    return f"{prefix}-{next(_names)}"


def real_template() -> dict[str, Any]:
    """The project's template as plain JSON data."""
    return json.loads(json.dumps(cfn.load_template(TEMPLATE)))  # type: ignore[no-any-return]


FAILING: dict[str, dict[str, Any]] = {
    "table": {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": TAKEN,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        },
    },
    "log group": {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": TAKEN, "RetentionInDays": 1},
    },
    "role": {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": TAKEN,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
        },
    },
}


def take_names(ctx: AwsContext) -> None:
    """Create the resources named ``TAKEN`` outside any stack (idempotent)."""
    tables = inventory.snapshot(ctx, ["tables", "log_groups", "roles"])
    if TAKEN not in tables.items["tables"]:
        ctx.client("dynamodb").create_table(
            TableName=TAKEN,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
    if TAKEN not in tables.items["log_groups"]:
        ctx.client("logs").create_log_group(logGroupName=TAKEN)
    if TAKEN not in tables.items["roles"]:
        ctx.client("iam").create_role(RoleName=TAKEN, AssumeRolePolicyDocument="{}")


def with_failing_resource(
    base: dict[str, Any], kind: str, position: int, logical_id: str = "Broken"
) -> dict[str, Any]:
    """A copy of ``base`` with a resource that fails to create inserted at ``position``."""
    template = copy.deepcopy(base)
    items = list(template["Resources"].items())
    items.insert(position, (logical_id, copy.deepcopy(FAILING[kind])))
    template["Resources"] = dict(items)
    return template


def write(path: Path, template: dict[str, Any]) -> Path:
    """Write a template as JSON and return its path."""
    path.write_text(json.dumps(template, indent=1))
    return path
