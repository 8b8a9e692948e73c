"""What exists in the account: tables, buckets, roles, instance profiles, topics, log groups,
secrets. Used to prove that a failed or deleted stack left nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class _Context(Protocol):
    def client(self, service: str) -> Any: ...


# CloudFormation resource type → inventory kind (how its physical id is listed).
KIND_OF_TYPE = {
    "AWS::DynamoDB::Table": "tables",
    "AWS::S3::Bucket": "buckets",
    "AWS::IAM::Role": "roles",
    "AWS::IAM::InstanceProfile": "instance_profiles",
    "AWS::SNS::Topic": "topics",
    "AWS::Logs::LogGroup": "log_groups",
    "AWS::SecretsManager::Secret": "secrets",
}
KINDS = tuple(dict.fromkeys(KIND_OF_TYPE.values()))


def _pages(client: Any, operation: str, key: str, field: str | None, **kwargs: Any) -> set[str]:
    names: set[str] = set()
    for page in client.get_paginator(operation).paginate(**kwargs):
        for item in page.get(key, []):
            names.add(str(item if field is None else item[field]))
    return names


def _list(ctx: _Context, kind: str) -> set[str]:
    if kind == "tables":
        return _pages(ctx.client("dynamodb"), "list_tables", "TableNames", None)
    if kind == "buckets":
        return {b["Name"] for b in ctx.client("s3").list_buckets().get("Buckets", [])}
    if kind == "roles":
        return _pages(ctx.client("iam"), "list_roles", "Roles", "RoleName")
    if kind == "instance_profiles":
        iam = ctx.client("iam")
        return _pages(iam, "list_instance_profiles", "InstanceProfiles", "InstanceProfileName")
    if kind == "topics":
        return _pages(ctx.client("sns"), "list_topics", "Topics", "TopicArn")
    if kind == "log_groups":
        return _pages(ctx.client("logs"), "describe_log_groups", "logGroups", "logGroupName")
    if kind == "secrets":
        secrets = ctx.client("secretsmanager")
        found: set[str] = set()
        for page in secrets.get_paginator("list_secrets").paginate():
            for item in page.get("SecretList", []):
                found.update((item["ARN"], item["Name"]))
        return found
    raise ValueError(f"unknown inventory kind {kind!r}; known: {', '.join(KINDS)}")


@dataclass(frozen=True)
class Inventory:
    """Names (ARNs for topics) of what exists, per kind."""

    items: Mapping[str, frozenset[str]]

    def new_since(self, before: Inventory) -> dict[str, list[str]]:
        """What exists now and did not in ``before``, per kind (kinds with none omitted)."""
        added = {
            kind: sorted(self.items.get(kind, frozenset()) - before.items.get(kind, frozenset()))
            for kind in self.items
        }
        return {kind: names for kind, names in added.items() if names}

    def count(self, kind: str) -> int:
        return len(self.items.get(kind, frozenset()))


def snapshot(ctx: _Context, kinds: Iterable[str] = KINDS) -> Inventory:
    """List every kind of resource the pipeline's stacks create."""
    return Inventory({kind: frozenset(_list(ctx, kind)) for kind in kinds})


def leftovers(ctx: _Context, resources: Mapping[str, tuple[str, str]]) -> list[str]:
    """Which of ``resources`` (logical id → (type, physical id)) still exist.

    Types the inventory does not list (inline policies, bucket policies) go with their
    parent and are not checked on their own.
    """
    wanted = {KIND_OF_TYPE[t] for t, _ in resources.values() if t in KIND_OF_TYPE}
    now = snapshot(ctx, sorted(wanted))
    left = []
    for logical_id, (rtype, physical) in sorted(resources.items()):
        kind = KIND_OF_TYPE.get(rtype)
        if kind and physical and physical in now.items[kind]:
            left.append(f"{logical_id} ({rtype} {physical})")
    return left


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})


def _remove_role(iam: Any, role: str) -> None:
    for name in iam.list_role_policies(RoleName=role).get("PolicyNames", []):
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    for attached in iam.list_attached_role_policies(RoleName=role).get("AttachedPolicies", []):
        iam.detach_role_policy(RoleName=role, PolicyArn=attached["PolicyArn"])
    for profile in iam.list_instance_profiles_for_role(RoleName=role).get("InstanceProfiles", []):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=role
        )
    iam.delete_role(RoleName=role)


def remove(ctx: _Context, rtype: str, physical: str) -> None:
    """Delete one resource directly: what a stack left behind on an emulator, or what an
    ephemeral stack retained (an older template of it said Retain)."""
    kind = KIND_OF_TYPE.get(rtype)
    if kind == "tables":
        ctx.client("dynamodb").delete_table(TableName=physical)
    elif kind == "buckets":
        _empty_bucket(ctx.client("s3"), physical)
        ctx.client("s3").delete_bucket(Bucket=physical)
    elif kind == "roles":
        _remove_role(ctx.client("iam"), physical)
    elif kind == "instance_profiles":
        iam = ctx.client("iam")
        profile = iam.get_instance_profile(InstanceProfileName=physical)["InstanceProfile"]
        for role in profile.get("Roles", []):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=physical, RoleName=role["RoleName"]
            )
        iam.delete_instance_profile(InstanceProfileName=physical)
    elif kind == "topics":
        ctx.client("sns").delete_topic(TopicArn=physical)
    elif kind == "log_groups":
        ctx.client("logs").delete_log_group(logGroupName=physical)
    elif kind == "secrets":
        ctx.client("secretsmanager").delete_secret(
            SecretId=physical, ForceDeleteWithoutRecovery=True
        )
    else:
        raise ValueError(f"cannot remove {rtype} {physical}: not an inventory kind")
