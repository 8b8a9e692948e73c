"""Each resource is configured as declared: table keys and index, bucket protection, the
instance role's least-privilege policy, alarms, topic, log retention and the app's secret.

A property the backend does not model (moto drops SSE, PITR, versioning, public access
blocks, bucket policies and alarms) is checked statically by test_template.py and skipped
here with that reason, never passed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.models import InfrastructureState

APP_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:DescribeTable",
    "s3:PutObject",
    "s3:GetObject",
    "s3:ListBucket",
    "secretsmanager:GetSecretValue",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",  # the instance's log streaming to Elastic Beanstalk's groups
    "elasticbeanstalk:PutInstanceStatistics",
}
BUCKETS = ("PhotoBucketName", "DeploymentBucketName")


def _unmodelled(stack: InfrastructureState, logical_id: str, words: str = "") -> None:
    for item in stack.not_modelled:
        if item.startswith(f"{logical_id} (") and (not words or words in item):
            pytest.skip(f"the {stack.backend} backend cannot answer this: {item}")


def _not_implemented(aws: AwsContext, what: str, call: Any) -> Any:
    """Run ``call``; skip (with the reason) when the backend does not implement it."""
    try:
        return call()
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        text = str(error)
        if aws.emulated and ("500" in text or "not implemented" in text.lower()):
            pytest.skip(f"the {aws.backend} backend does not implement {what}")
        raise


def test_table_keys_and_index(aws: AwsContext, stack: InfrastructureState) -> None:
    """Validations are keyed by email (pk) and timestamp (sk), with a domain/date index."""
    table = aws.client("dynamodb").describe_table(TableName=stack.output("TableName"))["Table"]
    keys = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
    assert keys == {"pk": "HASH", "sk": "RANGE"}
    indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    assert "by-domain-date" in indexes, f"indexes: {sorted(indexes)}"
    index_keys = {k["AttributeName"]: k["KeyType"] for k in indexes["by-domain-date"]["KeySchema"]}
    assert index_keys == {"domain": "HASH", "date": "RANGE"}
    assert table["TableArn"] == stack.output("TableArn")


def test_table_encryption(aws: AwsContext, stack: InfrastructureState) -> None:
    """Server-side encryption with KMS is on."""
    _unmodelled(stack, "ValidationsTable", "SSESpecification")
    table = aws.client("dynamodb").describe_table(TableName=stack.output("TableName"))["Table"]
    assert table.get("SSEDescription", {}).get("Status") in ("ENABLED", "ENABLING")


def test_table_point_in_time_recovery(aws: AwsContext, stack: InfrastructureState) -> None:
    """Point-in-time recovery is on."""
    _unmodelled(stack, "ValidationsTable", "PointInTimeRecovery")
    backups = aws.client("dynamodb").describe_continuous_backups(
        TableName=stack.output("TableName")
    )["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_table_time_to_live(aws: AwsContext, stack: InfrastructureState) -> None:
    """Old validations expire through the ``expires_at`` attribute."""
    _unmodelled(stack, "ValidationsTable", "TimeToLiveSpecification")
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=stack.output("TableName"))
    description = ttl["TimeToLiveDescription"]
    assert description.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"), description
    assert description.get("AttributeName") == "expires_at"


@pytest.mark.parametrize("output", BUCKETS)
def test_bucket_encryption(aws: AwsContext, stack: InfrastructureState, output: str) -> None:
    """Default server-side encryption is configured."""
    config = aws.client("s3").get_bucket_encryption(Bucket=stack.output(output))
    rules = config["ServerSideEncryptionConfiguration"]["Rules"]
    algorithms = {r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules}
    assert algorithms & {"AES256", "aws:kms", "aws:kms:dsse"}, algorithms


@pytest.mark.parametrize("output", BUCKETS)
def test_bucket_versioning(aws: AwsContext, stack: InfrastructureState, output: str) -> None:
    """Versioning is enabled."""
    logical = "PhotoBucket" if output == "PhotoBucketName" else "DeploymentBucket"
    _unmodelled(stack, logical, "VersioningConfiguration")
    status = aws.client("s3").get_bucket_versioning(Bucket=stack.output(output)).get("Status")
    assert status == "Enabled"


@pytest.mark.parametrize("output", BUCKETS)
def test_bucket_blocks_public_access(
    aws: AwsContext, stack: InfrastructureState, output: str
) -> None:
    """All four public access block flags are on."""
    logical = "PhotoBucket" if output == "PhotoBucketName" else "DeploymentBucket"
    _unmodelled(stack, logical, "PublicAccessBlockConfiguration")
    block = aws.client("s3").get_public_access_block(Bucket=stack.output(output))
    flags = block["PublicAccessBlockConfiguration"]
    assert all(flags.values()) and len(flags) == 4, flags


@pytest.mark.parametrize("output", BUCKETS)
def test_bucket_denies_plain_http(aws: AwsContext, stack: InfrastructureState, output: str) -> None:
    """The bucket policy denies requests without TLS."""
    logical = "PhotoBucketPolicy" if output == "PhotoBucketName" else "DeploymentBucketPolicy"
    _unmodelled(stack, logical)
    policy = json.loads(aws.client("s3").get_bucket_policy(Bucket=stack.output(output))["Policy"])
    denies = [
        s
        for s in policy["Statement"]
        if s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s.get("Condition", {}))
    ]
    assert denies, policy


def test_deployment_bucket_expires_old_bundles(aws: AwsContext, stack: InfrastructureState) -> None:
    """A lifecycle rule expires old source bundles."""
    _unmodelled(stack, "DeploymentBucket", "LifecycleConfiguration")
    rules = aws.client("s3").get_bucket_lifecycle_configuration(
        Bucket=stack.output("DeploymentBucketName")
    )["Rules"]
    assert any(r["Status"] == "Enabled" and r.get("Expiration") for r in rules), rules


def _role_statements(aws: AwsContext, stack: InfrastructureState) -> list[dict[str, Any]]:
    iam = aws.client("iam")
    role = stack.output("InstanceRoleArn").rsplit("/", 1)[-1]
    statements: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(unquote(document))
        found = document["Statement"]
        statements.extend(found if isinstance(found, list) else [found])
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert not attached, f"managed policies widen the instance role: {attached}"
    return statements


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def test_instance_role_grants_only_the_app_actions(
    aws: AwsContext, stack: InfrastructureState
) -> None:
    """The instance role allows exactly the actions the app uses, no wildcard action."""
    statements = _role_statements(aws, stack)
    actions = {a for s in statements if s["Effect"] == "Allow" for a in _as_list(s["Action"])}
    assert actions == APP_ACTIONS


def test_instance_role_is_scoped_to_the_stack(aws: AwsContext, stack: InfrastructureState) -> None:
    """Every data-service grant names this stack's table, bucket, secret or log group."""
    statements = _role_statements(aws, stack)
    own = (
        stack.output("TableArn"),
        f"arn:aws:s3:::{stack.output('PhotoBucketName')}",
        f":secret:{stack.stack_name}/app",
        f":log-group:{stack.output('LogGroupName')}",
        f":application/{stack.output('ApplicationName')}",
        f"/{stack.output('EnvironmentName')}",
    )
    for statement in statements:
        for resource in _as_list(statement["Resource"]):
            assert resource != "*", f"wildcard resource in {statement}"
            assert any(part in resource for part in own), f"{resource} is not this stack's"


def test_instance_role_policy_simulation(aws: AwsContext, stack: InfrastructureState) -> None:
    """IAM's policy simulator: allowed on this stack's table, denied on another table."""
    iam = aws.client("iam")
    table = stack.output("TableArn")
    other = table.rsplit("/", 1)[0] + "/some-other-table"

    def simulate(action: str, resource: str) -> str:
        result = iam.simulate_principal_policy(
            PolicySourceArn=stack.output("InstanceRoleArn"),
            ActionNames=[action],
            ResourceArns=[resource],
        )
        return str(result["EvaluationResults"][0]["EvalDecision"])

    decision = _not_implemented(
        aws, "iam:SimulatePrincipalPolicy", lambda: simulate("dynamodb:PutItem", table)
    )
    assert decision == "allowed"
    assert simulate("dynamodb:PutItem", other) != "allowed"
    assert simulate("dynamodb:DeleteTable", table) != "allowed"


def test_instance_profile_carries_the_role(aws: AwsContext, stack: InfrastructureState) -> None:
    """The instance profile exists and holds the instance role."""
    profile = aws.client("iam").get_instance_profile(
        InstanceProfileName=stack.output("InstanceProfileName")
    )["InstanceProfile"]
    assert [r["Arn"] for r in profile["Roles"]] == [stack.output("InstanceRoleArn")]


def test_notification_topic_exists(aws: AwsContext, stack: InfrastructureState) -> None:
    """The alarm topic exists."""
    attributes = aws.client("sns").get_topic_attributes(
        TopicArn=stack.output("NotificationTopicArn")
    )["Attributes"]
    assert attributes["TopicArn"] == stack.output("NotificationTopicArn")


def test_alarms_exist_and_notify(aws: AwsContext, stack: InfrastructureState) -> None:
    """The 5xx-rate, p95-latency and CPU alarms exist and notify the topic."""
    for logical_id in ("ErrorRateAlarm", "LatencyAlarm", "CpuAlarm"):
        _unmodelled(stack, logical_id)
    names = stack.output("AlarmNames").split(",")
    alarms = aws.client("cloudwatch").describe_alarms(AlarmNames=names)["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(names)
    for alarm in alarms:
        assert stack.output("NotificationTopicArn") in alarm["AlarmActions"], alarm["AlarmName"]


def test_log_group_has_retention(aws: AwsContext, stack: InfrastructureState) -> None:
    """The application log group keeps logs for a bounded time."""
    name = stack.output("LogGroupName")
    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    group = next(g for g in groups if g["logGroupName"] == name)
    assert group.get("retentionInDays"), group


def test_app_secret_exists(aws: AwsContext, stack: InfrastructureState) -> None:
    """The app's secret exists under the ARN the app is given."""
    secret = aws.client("secretsmanager").describe_secret(SecretId=stack.output("AppSecretArn"))
    assert secret["ARN"] == stack.output("AppSecretArn")
