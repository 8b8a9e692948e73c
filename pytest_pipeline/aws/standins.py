"""Stand-ins for what an emulator's CloudFormation ignores but the app needs.

moto's CloudFormation ignores ``AWS::SecretsManager::Secret``; the app reads its secret at
start-up, so on an emulator the secret is created through the Secrets Manager API (tagged
with the stack's name) and removed with the stack.
"""

from __future__ import annotations

import json
import secrets as secrets_module
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from pytest_pipeline.aws import cfn
from pytest_pipeline.aws.clients import AwsContext

TAG_STAND_IN = "pipeline:stand-in-for-stack"


def create_missing_secrets(
    ctx: AwsContext,
    stack: str,
    declared: Mapping[str, str],
    resources: Mapping[str, tuple[str, str]],
    template: Mapping[str, Any],
) -> dict[str, str]:
    """Create, through the API, the secrets moto's CloudFormation ignores; map outputs."""
    secrets = ctx.client("secretsmanager")
    outputs: dict[str, str] = {}
    for logical_id, rtype in declared.items():
        if rtype != "AWS::SecretsManager::Secret" or logical_id in resources:
            continue
        raw = template["Resources"][logical_id].get("Properties", {}).get("Name")
        text = raw.get("Fn::Sub") if isinstance(raw, dict) else raw
        name = cfn.substitute(str(text), {"AWS::StackName": stack}) if text else None
        if not name:
            continue
        try:
            arn = secrets.describe_secret(SecretId=name)["ARN"]
        except ClientError:
            arn = secrets.create_secret(
                Name=name,
                SecretString=json.dumps({"signing_key": secrets_module.token_urlsafe(36)}),
                Tags=[{"Key": TAG_STAND_IN, "Value": stack}],
            )["ARN"]
        for key, spec in (template.get("Outputs") or {}).items():
            if logical_id in json.dumps(spec.get("Value")):
                outputs[key] = arn
    return outputs


def delete_secrets(ctx: AwsContext, stack: str) -> None:
    """Delete the stand-in secrets of ``stack`` (emulators only)."""
    if not ctx.emulated:
        return
    secrets = ctx.client("secretsmanager")
    for page in secrets.get_paginator("list_secrets").paginate():
        for item in page.get("SecretList", []):
            if {"Key": TAG_STAND_IN, "Value": stack} in item.get("Tags", []):
                secrets.delete_secret(SecretId=item["ARN"], ForceDeleteWithoutRecovery=True)
