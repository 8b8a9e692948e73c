"""Encryption of messages and key rotation: SNS topics, SQS queues, KMS keys (E95xx)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c


class TopicEncryption(c.PropertyRule):
    """SNS topics are encrypted at rest. Control: AWS FSBP SNS.1."""

    id = "E9507"
    shortdesc = "SNS topics are encrypted with KMS"
    description = (
        "KmsMasterKeyId encrypts messages at rest. CloudWatch alarms publish to an "
        "encrypted topic only with a customer managed key whose policy lets "
        "cloudwatch.amazonaws.com use it (not alias/aws/sns). Control: AWS FSBP SNS.1."
    )
    control = "FSBP SNS.1"
    resource_type = "AWS::SNS::Topic"
    paths = ("KmsMasterKeyId",)
    what = "SNS topic is not encrypted at rest"
    fix = (
        "set KmsMasterKeyId to a customer managed key (its policy allowing the publishers, "
        "e.g. cloudwatch.amazonaws.com)"
    )


class QueueEncryption(c.PipelineRule):
    """SQS queues are encrypted at rest. Control: AWS FSBP SQS.1."""

    id = "E9508"
    shortdesc = "SQS queues are encrypted at rest"
    description = (
        "KmsMasterKeyId (SSE-KMS) or SqsManagedSseEnabled true (SSE-SQS). Control: AWS FSBP SQS.1."
    )
    control = "FSBP SQS.1"
    fix = "set SqsManagedSseEnabled: true, or KmsMasterKeyId to a KMS key"

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per queue with neither SSE-KMS nor SSE-SQS."""
        for logical_id, resource in c.resources(cfn, "AWS::SQS::Queue"):
            props = c.properties(resource)
            if props.get("KmsMasterKeyId") or c.is_true(
                props.get("SqsManagedSseEnabled", False), cfn
            ):
                continue
            where = c.at(logical_id, props, "SqsManagedSseEnabled")
            yield self.report(where, f"{logical_id}: SQS queue is not encrypted at rest")


class KeyRotation(c.PipelineRule):
    """Symmetric KMS keys rotate. Control: AWS FSBP KMS.4; CIS AWS Foundations v1.4 3.8."""

    id = "E9509"
    shortdesc = "KMS keys rotate their key material"
    description = (
        "EnableKeyRotation true on every symmetric encryption key (asymmetric and HMAC "
        "keys cannot rotate and are not checked). Control: AWS FSBP KMS.4; CIS AWS "
        "Foundations v1.4 3.8."
    )
    control = "FSBP KMS.4; CIS v1.4 3.8"
    fix = "set EnableKeyRotation: true"

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per symmetric key without rotation."""
        for logical_id, resource in c.resources(cfn, "AWS::KMS::Key"):
            props = c.properties(resource)
            if str(props.get("KeySpec", "SYMMETRIC_DEFAULT")) != "SYMMETRIC_DEFAULT":
                continue
            if c.is_true(props.get("EnableKeyRotation", False), cfn):
                continue
            where = c.at(logical_id, props, "EnableKeyRotation")
            yield self.report(where, f"{logical_id}: KMS key rotation is off")
