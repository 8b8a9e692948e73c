"""S3 buckets and DynamoDB tables: encryption, public access, versioning, TLS only,
point-in-time recovery (E95xx / W95xx; formerly the PIPE-S3-* and PIPE-DDB-* rules)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c


class BucketEncryption(c.PropertyRule):
    """Default encryption. Control: AWS FSBP S3.4; CIS AWS Foundations v1.4 2.1.1."""

    id = "E9501"
    shortdesc = "S3 buckets declare default server-side encryption"
    description = (
        "The bucket declares BucketEncryption (SSE-S3 or SSE-KMS), so the stack says what "
        "protects the objects. Formerly PIPE-S3-ENCRYPTION. Control: AWS FSBP S3.4; CIS AWS "
        "Foundations v1.4 2.1.1."
    )
    control = "FSBP S3.4; CIS v1.4 2.1.1"
    resource_type = "AWS::S3::Bucket"
    paths = ("BucketEncryption.ServerSideEncryptionConfiguration",)
    what = "S3 bucket has no default server-side encryption"
    fix = (
        "add BucketEncryption.ServerSideEncryptionConfiguration with SSEAlgorithm AES256 or aws:kms"
    )


class BucketPublicAccess(c.PropertyRule):
    """Public access block. Control: AWS FSBP S3.8; CIS AWS Foundations v1.4 2.1.5."""

    id = "E9502"
    shortdesc = "S3 buckets block public access"
    description = (
        "All four PublicAccessBlockConfiguration flags are true. Formerly "
        "PIPE-S3-PUBLIC-ACCESS. Control: AWS FSBP S3.8; CIS AWS Foundations v1.4 2.1.5."
    )
    control = "FSBP S3.8; CIS v1.4 2.1.5"
    resource_type = "AWS::S3::Bucket"
    paths = tuple(
        f"PublicAccessBlockConfiguration.{flag}"
        for flag in (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
    )
    equals = "true"
    what = "S3 bucket does not block public access"
    fix = "set all four PublicAccessBlockConfiguration flags to true"


class BucketVersioning(c.PropertyRule):
    """Versioning. Control: AWS FSBP S3.14."""

    id = "W9503"
    shortdesc = "S3 buckets are versioned"
    description = (
        "Versioning keeps overwritten and deleted objects recoverable. Formerly "
        "PIPE-S3-VERSIONING. Control: AWS FSBP S3.14."
    )
    control = "FSBP S3.14"
    resource_type = "AWS::S3::Bucket"
    paths = ("VersioningConfiguration.Status",)
    equals = "enabled"
    what = "S3 bucket versioning is not enabled"
    fix = (
        "set VersioningConfiguration.Status to Enabled (and expire noncurrent versions in a "
        "lifecycle rule)"
    )


def _denies_plain_http(policy: Mapping[str, Any]) -> bool:
    document = c.properties(policy).get("PolicyDocument")
    statements = c.as_list(document.get("Statement", [])) if isinstance(document, Mapping) else []
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        condition = statement.get("Condition")
        bool_condition = condition.get("Bool") if isinstance(condition, Mapping) else None
        if isinstance(bool_condition, Mapping):
            secure = bool_condition.get("aws:SecureTransport")
            if str(secure).lower() == "false":
                return True
    return False


class BucketTlsOnly(c.PipelineRule):
    """TLS-only bucket policy. Control: AWS FSBP S3.5; CIS AWS Foundations v1.4 2.1.2."""

    id = "E9504"
    shortdesc = "S3 buckets deny requests over plain HTTP"
    description = (
        "A bucket policy on the bucket denies requests whose aws:SecureTransport is false. "
        "Formerly PIPE-S3-TLS-ONLY. Control: AWS FSBP S3.5; CIS AWS Foundations v1.4 2.1.2."
    )
    control = "FSBP S3.5; CIS v1.4 2.1.2"
    fix = (
        "add an AWS::S3::BucketPolicy denying s3:* when aws:SecureTransport is false, on the "
        "bucket and its objects"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per bucket no policy of the template restricts to TLS."""
        policies = [p for _, p in c.resources(cfn, "AWS::S3::BucketPolicy")]
        for logical_id, _ in c.resources(cfn, "AWS::S3::Bucket"):
            mine = [p for p in policies if c.refers_to(c.properties(p).get("Bucket"), logical_id)]
            if not any(_denies_plain_http(p) for p in mine):
                yield self.report(
                    ["Resources", logical_id],
                    f"{logical_id}: S3 bucket accepts requests over plain HTTP",
                )


class TableEncryption(c.PropertyRule):
    """KMS encryption of DynamoDB tables. Control: none in FSBP (tables are always
    encrypted; this asks for a KMS key the account controls and audits)."""

    id = "E9505"
    shortdesc = "DynamoDB tables are encrypted with a KMS key"
    description = (
        "SSESpecification.SSEEnabled true encrypts with a KMS key (aws/dynamodb or your "
        "own), whose use CloudTrail records. Formerly PIPE-DDB-SSE. Control: none in FSBP "
        "or CIS (tables are always encrypted at rest, with an AWS owned key by default)."
    )
    control = "none (KMS audit trail)"
    resource_type = "AWS::DynamoDB::Table"
    paths = ("SSESpecification.SSEEnabled",)
    equals = "true"
    what = "DynamoDB table does not enable server-side encryption with a KMS key"
    fix = "set SSESpecification.SSEEnabled to true"


class TablePointInTimeRecovery(c.PropertyRule):
    """Point-in-time recovery. Control: AWS FSBP DynamoDB.2."""

    id = "W9506"
    shortdesc = "DynamoDB tables have point-in-time recovery"
    description = (
        "PITR restores the table to any second of the last 35 days. Formerly PIPE-DDB-PITR. "
        "Control: AWS FSBP DynamoDB.2."
    )
    control = "FSBP DynamoDB.2"
    resource_type = "AWS::DynamoDB::Table"
    paths = ("PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled",)
    equals = "true"
    what = "DynamoDB table has no point-in-time recovery"
    fix = "set PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled to true"
