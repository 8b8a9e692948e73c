"""Data loss: stateful resources that a stack deletion or a replacement would delete (E94xx)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cfnlint.helpers import valid_snapshot_types

from pytest_pipeline.predeploy.cfnrules import _common as c

#: Resources that hold data a deletion loses (cfn-lint's StatefulResources list, less
#: those that hold none for long: log groups with retention, queues, keys with a deletion
#: window, secrets with a recovery window, nested stacks).
DATA_TYPES = (
    "AWS::Backup::BackupVault",
    "AWS::Cognito::UserPool",
    "AWS::DocDB::DBCluster",
    "AWS::DynamoDB::GlobalTable",
    "AWS::DynamoDB::Table",
    "AWS::EC2::Volume",
    "AWS::EFS::FileSystem",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::Elasticsearch::Domain",
    "AWS::FSx::FileSystem",
    "AWS::Neptune::DBCluster",
    "AWS::OpenSearchService::Domain",
    "AWS::QLDB::Ledger",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::Redshift::Cluster",
    "AWS::S3::Bucket",
)
TRANSFORM = "AWS::LanguageExtensions"


def _protective(resource_type: str, attribute: str) -> set[str]:
    kept = {"Retain"}
    if attribute == "DeletionPolicy":
        kept.add("RetainExceptOnCreate")
    if resource_type in valid_snapshot_types:
        kept.add("Snapshot")
    return kept


def _has_transform(cfn: Any) -> bool:
    declared = cfn.template.get("Transform")
    return TRANSFORM in (declared if isinstance(declared, list) else [declared])


class DataRetained(c.PipelineRule):
    """Stateful resources survive a stack deletion and a replacement. Control: none in
    FSBP or CIS (closest: RDS.8, DynamoDB.6 deletion protection)."""

    id = "E9401"
    shortdesc = "Stateful resources have DeletionPolicy and UpdateReplacePolicy Retain"
    description = (
        "Without DeletionPolicy and UpdateReplacePolicy Retain (or Snapshot where the type "
        "supports it) deleting the stack, or a change that replaces the resource, deletes "
        "tables, buckets, databases and file systems. Ephemeral stacks may delete: a policy "
        "`!If [Cond, Retain, Delete]` (with Transform AWS::LanguageExtensions) whose "
        "condition retains in production, or a resource whose Condition (keyed on the "
        "environment parameter) excludes production, is compliant. Control: none in FSBP or "
        "CIS (closest: RDS.8 and DynamoDB.6, deletion protection)."
    )
    control = "none (closest FSBP RDS.8, DynamoDB.6)"
    fix = (
        "set DeletionPolicy and UpdateReplacePolicy to Retain (Snapshot for databases); for "
        "ephemeral stacks use `!If [IsProduction, Retain, Delete]` with "
        "Transform: AWS::LanguageExtensions"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per data resource and attribute that may delete the data."""
        for logical_id, resource in c.resources(cfn, *DATA_TYPES):
            if resource.get(
                "Type"
            ) == "AWS::RDS::DBInstance" and "DBClusterIdentifier" in c.properties(resource):
                continue  # an Aurora member: the cluster holds the data
            condition = resource.get("Condition")
            if (
                isinstance(condition, str)
                and c.in_production(cfn, condition)
                and not any(r is not False for r in c.in_production(cfn, condition))
            ):
                continue  # the resource does not exist in production
            for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
                problem = self._problem(cfn, resource, attribute)
                if problem:
                    path: c.Path = ["Resources", logical_id]
                    if attribute in resource:
                        path.append(attribute)
                    yield self.report(
                        path, f"{logical_id} ({resource.get('Type')}): {attribute} {problem}"
                    )

    def _problem(self, cfn: Any, resource: Mapping[str, Any], attribute: str) -> str | None:
        kept = _protective(str(resource.get("Type")), attribute)
        node = resource.get(attribute)
        if node is None:
            return (
                "is not set: the data is deleted with the stack"
                if attribute == "DeletionPolicy"
                else ("is not set: a replacement deletes the data")
            )
        if isinstance(node, str):
            return None if node in kept else f"is {node}: the data is deleted"
        if not _has_transform(cfn):
            return f"uses an intrinsic function without Transform: {TRANSFORM}"
        possible = c.values(node, cfn)
        if not any(v in kept for v in possible):
            return (
                f"never retains (it resolves to {' or '.join(sorted({str(v) for v in possible}))})"
            )
        branches = node.get("Fn::If") if isinstance(node, Mapping) else None
        if isinstance(branches, list) and len(branches) == 3 and isinstance(branches[0], str):
            held = c.in_production(cfn, branches[0])
            chosen = [branches[1] if r else branches[2] for r in held if r is not None]
            if any(v not in kept for b in chosen for v in c.values(b, cfn)):
                return "deletes the data in production (its condition is false there)"
        return None
