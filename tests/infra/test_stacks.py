"""Stack lifecycle against a real moto server, and scripted faults through Stubber."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from pytest_pipeline.aws import inventory, quotas, stackops, stacks
from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context
from pytest_pipeline.aws.failures import failing_resource
from pytest_pipeline.models import StackStatus

from .conftest import TEMPLATE
from .helpers import (
    REQUIRED_OUTPUTS,
    real_template,
    take_names,
    unique,
    with_failing_resource,
    write,
)

TINY: dict[str, Any] = {
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"},
    },
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
}


def test_create_noop_update_and_delete_leave_nothing(ctx: AwsContext) -> None:
    """Create streams events and returns every output; an unchanged template is no error;
    delete leaves the account as it was."""
    before = inventory.snapshot(ctx)
    events: list[dict[str, Any]] = []
    name = unique("life")
    state = stacks.provision(
        ctx, TEMPLATE, name, {"Environment": "dev"}, {"k": "v"}, 30, events.append
    )
    assert state.status is StackStatus.CREATE_COMPLETE
    assert set(state.outputs) >= REQUIRED_OUTPUTS
    # The embedded backend creates the Elastic Beanstalk resources (aws.emulated): the
    # environment is Ready behind the URL output, configured from the template.
    url = state.outputs["EnvironmentURL"]
    assert url.startswith("http://127.0.0.1:")
    assert state.resources["AppEnvironment"] == f"{name}-env"
    assert not [n for n in state.not_modelled if "ElasticBeanstalk" in n or "Secret" in n]
    eb = ctx.client("elasticbeanstalk")
    (env,) = eb.describe_environments(EnvironmentNames=[f"{name}-env"])["Environments"]
    assert (env["Status"], f"http://{env['CNAME']}") == ("Ready", url)
    settings = eb.describe_configuration_settings(
        ApplicationName=f"{name}-app", EnvironmentName=f"{name}-env"
    )["ConfigurationSettings"][0]["OptionSettings"]
    app_env = {
        o["OptionName"]: o["Value"]
        for o in settings
        if o["Namespace"] == "aws:elasticbeanstalk:application:environment"
    }
    assert app_env["TABLE_NAME"] == state.outputs["TableName"]
    assert app_env["APP_SECRET_ARN"] == state.outputs["AppSecretArn"]
    assert state.tags == {"k": "v"} and state.backend == "moto"
    assert [e["ResourceStatus"] for e in events][-1] == "CREATE_COMPLETE"
    assert inventory.snapshot(ctx).new_since(before), "the stack created nothing?"

    again: list[dict[str, Any]] = []
    same = stacks.provision(
        ctx, TEMPLATE, name, {"Environment": "dev"}, {"k": "v"}, 30, again.append
    )
    assert same.status is StackStatus.CREATE_COMPLETE and again == []
    assert same.outputs == state.outputs

    assert stacks.delete(ctx, name, 30) == []
    assert stacks.describe(ctx, name) is None
    live = eb.describe_environments(ApplicationName=f"{name}-app", IncludeDeleted=False)
    assert live["Environments"] == []
    after = inventory.snapshot(ctx)
    assert after.new_since(before) == {} and before.new_since(after) == {}


def test_update_applies_changes_and_cleans_up(ctx: AwsContext) -> None:
    """A changed parameter updates the stack; whatever moto forgets is still removed."""
    before = inventory.snapshot(ctx)
    name = unique("upd")
    stacks.provision(ctx, TEMPLATE, name, {}, {}, 30)
    updated = stacks.provision(ctx, TEMPLATE, name, {"LogRetentionDays": "60"}, {}, 30)
    assert updated.status is StackStatus.UPDATE_COMPLETE
    assert stacks.delete(ctx, name, 30) == []
    assert inventory.snapshot(ctx).new_since(before) == {}


def test_failing_resource_names_it_and_leaves_nothing(ctx: AwsContext, tmp_path: Path) -> None:
    """A resource that cannot be created: the error names it and the reason, the partial
    stack is deleted, and tables, buckets, roles and topics are as before."""
    take_names(ctx)
    before = inventory.snapshot(ctx)
    template = with_failing_resource(real_template(), "table", position=3)
    name = unique("fail")
    with pytest.raises(stacks.StackError) as caught:
        stacks.provision(ctx, write(tmp_path / "t.json", template), name, {}, {}, 30)
    error = caught.value
    assert error.failing_resource == "Broken"
    assert "failing resource: Broken (AWS::DynamoDB::Table)" in str(error)
    assert "ResourceInUseException" in str(error)
    assert error.leftovers == [] and "Nothing was left behind" in str(error)
    assert stacks.describe(ctx, name) is None
    after = inventory.snapshot(ctx)
    assert after.new_since(before) == {} and before.new_since(after) == {}


def test_invalid_template_is_the_cfn_lint_message_and_creates_nothing(
    ctx: AwsContext, tmp_path: Path
) -> None:
    """cfn-lint errors stop provisioning before any API call creates something."""
    template = real_template()
    template["Resources"]["PhotoBucket"]["Properties"]["BucketNam"] = "x"
    name = unique("invalid")
    with pytest.raises(stacks.StackError, match=r"is invalid: \[E3\d+\].*BucketNam"):
        stacks.provision(ctx, write(tmp_path / "bad.json", template), name, {}, {}, 30)
    assert stacks.describe(ctx, name) is None


def test_invalid_parameters_create_nothing(ctx: AwsContext) -> None:
    """Parameters outside the template's constraints are rejected up front (moto would not)."""
    name = unique("params")
    with pytest.raises(stacks.StackError, match="MinInstances=3 is greater than MaxInstances=2"):
        stacks.provision(ctx, TEMPLATE, name, {"MinInstances": "3", "MaxInstances": "2"}, {}, 30)
    assert stacks.describe(ctx, name) is None


def test_exceeded_quota_fails_early(moto_server: MotoServer, tmp_path: Path) -> None:
    """Service Quotas says only one more bucket fits; the stack needs two: nothing created."""
    ctx = resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
    buckets = inventory.snapshot(ctx, ["buckets"]).count("buckets")
    service_quotas = ctx.client("service-quotas", max_attempts=1)
    with Stubber(service_quotas) as stub:
        for service, code, value in (
            ("cloudformation", "L-0485CB21", 2000),
            ("s3", "L-DC2B2D3D", buckets + 1),
            ("dynamodb", "L-F98FE922", 2500),
            ("sns", "L-61103206", 100000),
        ):
            stub.add_response(
                "get_service_quota",
                {"Quota": {"ServiceCode": service, "QuotaCode": code, "Value": value}},
                {"ServiceCode": service, "QuotaCode": code},
            )
        name = unique("quota")
        with pytest.raises(quotas.QuotaError) as caught:
            stacks.provision(ctx, TEMPLATE, name, {}, {}, 30)
        stub.assert_no_pending_responses()
    message = str(caught.value)
    assert f"S3 buckets: {buckets} used + 2 needed > limit {buckets + 1}" in message
    assert "Service Quotas console" in message
    assert stacks.describe(ctx, name) is None


def test_quotas_moto_cannot_answer_are_unknown_not_passed(ctx: AwsContext) -> None:
    """On moto the CloudFormation stack quota cannot be read: it is reported unknown."""
    checks = quotas.check_quotas(ctx, {"T": "AWS::DynamoDB::Table", "R": "AWS::IAM::Role"})
    by_name = {check.name: check for check in checks}
    assert by_name["CloudFormation stacks"].status == "unknown"
    assert "unavailable" in by_name["CloudFormation stacks"].source
    assert by_name["IAM roles"].status == "ok" and by_name["IAM roles"].limit
    buckets = quotas.check_quotas(ctx, {"B": "AWS::S3::Bucket"})[1]
    assert buckets.name == "S3 buckets" and buckets.status == "ok"
    assert buckets.limit == 100 and "assumed AWS default 100" in buckets.source


def test_throttling_backs_off_then_succeeds(moto_server: MotoServer) -> None:
    """Throttled describe calls are retried with backoff until the stack answers."""
    ctx = resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
    client = ctx.client("cloudformation")
    event = {
        "StackId": "id",
        "EventId": "e1",
        "StackName": "s",
        "LogicalResourceId": "s",
        "ResourceType": "AWS::CloudFormation::Stack",
        "Timestamp": datetime.now(UTC),
        "ResourceStatus": "CREATE_COMPLETE",
    }
    stack = {
        "StackName": "s",
        "StackId": "id",
        "CreationTime": datetime.now(UTC),
        "StackStatus": "CREATE_COMPLETE",
    }
    seen: list[dict[str, Any]] = []
    with Stubber(client) as stub:
        stub.add_client_error("describe_stack_events", "Throttling", "Rate exceeded", 400)
        stub.add_response("describe_stack_events", {"StackEvents": [event]})
        stub.add_client_error("describe_stacks", "ThrottlingException", "Rate exceeded", 400)
        stub.add_client_error("describe_stacks", "Throttling", "Rate exceeded", 400)
        stub.add_response("describe_stacks", {"Stacks": [stack]})
        events = stackops.EventStream(ctx, "s", seen.append)
        final = stackops.wait_settled(ctx, "s", events, 30, "stack s")
        stub.assert_no_pending_responses()
    assert final is not None and final["StackStatus"] == "CREATE_COMPLETE"
    assert [e["EventId"] for e in seen] == ["e1"]


def test_other_errors_are_not_retried(moto_server: MotoServer) -> None:
    """Only throttling is retried: an access error surfaces at once."""
    ctx = resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
    with Stubber(ctx.client("cloudformation")) as stub:
        stub.add_client_error("describe_stacks", "AccessDenied", "not allowed", 403)
        with pytest.raises(Exception, match="AccessDenied"):
            stackops.describe(ctx, "s")


@pytest.mark.slow
def test_stack_stuck_in_progress_hits_the_deadline_and_is_cleaned_up(
    ctx: AwsContext, tmp_path: Path
) -> None:
    """A custom resource whose function never answers keeps the stack CREATE_IN_PROGRESS:
    the deadline turns it into an error naming the resource, and nothing is left."""
    iam, functions = ctx.client("iam"), ctx.client("lambda")
    role = iam.create_role(RoleName=unique("fn-role"), AssumeRolePolicyDocument="{}")["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    function = functions.create_function(
        FunctionName=unique("never-answers"),
        Runtime="python3.11",
        Role=role["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    kinds = ["tables", "buckets", "roles", "topics"]  # the function itself adds a log group
    before = inventory.snapshot(ctx, kinds)
    template = copy.deepcopy(TINY)
    template["Resources"]["Bucket"] = {"Type": "AWS::S3::Bucket"}
    template["Resources"]["Hang"] = {
        "Type": "Custom::Hang",
        "Properties": {"ServiceToken": function},
    }
    name = unique("stuck")
    with pytest.raises(stacks.StackError) as caught:
        stacks.provision(ctx, write(tmp_path / "stuck.json", template), name, {}, {}, 1.0)
    message = str(caught.value)
    assert "did not finish within the deadline" in message
    assert "failing resource: Hang (Custom::Hang)" in message
    assert "--stack-timeout" in message
    assert stacks.describe(ctx, name) is None
    assert inventory.snapshot(ctx, kinds).new_since(before) == {}


def test_janitor_deletes_only_expired_pipeline_stacks(ctx: AwsContext, tmp_path: Path) -> None:
    """Expired stacks tagged by the pipeline go; fresh ones and foreign ones stay."""
    path = write(tmp_path / "tiny.json", TINY)
    now = datetime.now(UTC)
    expired, fresh, foreign = unique("expired"), unique("fresh"), unique("foreign")
    old = stacks.pipeline_tags("r1", "abc", "dev", timedelta(hours=1), now - timedelta(hours=2))
    stacks.provision(ctx, path, expired, {}, old, 30)
    stacks.provision(
        ctx, path, fresh, {}, stacks.pipeline_tags("r2", None, "dev", timedelta(hours=1), now), 30
    )
    stranger = {k: v for k, v in old.items() if k != stacks.TAG_MANAGED}
    stacks.provision(ctx, path, foreign, {}, stranger, 30)
    try:
        assert stacks.janitor(ctx, now) == [expired]
        assert stacks.describe(ctx, expired) is None
        assert stacks.describe(ctx, fresh) is not None
        assert stacks.describe(ctx, foreign) is not None
    finally:
        for name in (fresh, foreign):
            stacks.delete(ctx, name, 30)


def test_destroy_state_deletes_the_recorded_stack(ctx: AwsContext, tmp_path: Path) -> None:
    """The once-per-run teardown rebuilds the context from the record and deletes."""
    name = unique("recorded")
    state = stacks.provision(ctx, write(tmp_path / "tiny.json", TINY), name, {}, {}, 30)
    record = {
        "infrastructure": json.loads(state.to_json()),
        "dummy_credentials": True,
        "moto_server": True,
        "timeout": 30,
        "known_resources": stacks.known_resources(name),
    }
    stacks.destroy_state(record)
    assert stacks.describe(ctx, name) is None


def test_bucket_count_against_the_default_quota_when_service_quotas_cannot_answer(
    ctx: AwsContext,
) -> None:
    """moto has no Service Quotas: buckets are counted against the default of 100, and a
    stack that needs two more than fit is refused before anything is created."""
    s3 = ctx.client("s3")
    existing = inventory.snapshot(ctx, ["buckets"]).count("buckets")
    extra = [f"filler-{n}" for n in range(quotas.S3_DEFAULT_BUCKETS - 1 - existing)]
    for bucket in extra:
        s3.create_bucket(Bucket=bucket)
    name = unique("full")
    try:
        with pytest.raises(quotas.QuotaError, match=r"S3 buckets: 99 used \+ 2 needed > limit 100"):
            stacks.provision(ctx, TEMPLATE, name, {}, {}, 30)
        assert stacks.describe(ctx, name) is None
    finally:
        for bucket in extra:
            s3.delete_bucket(Bucket=bucket)


def test_real_aws_failure_events_name_the_resource_and_reason(moto_server: MotoServer) -> None:
    """CloudFormation's own failure path, scripted: events stream oldest first, the stack
    settles ROLLBACK_COMPLETE, and the failed event names the resource and the reason."""
    ctx = resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
    now = datetime.now(UTC)

    def event(n: int, logical_id: str, status: str, reason: str = "") -> dict[str, Any]:
        found: dict[str, Any] = {
            "StackId": "id",
            "EventId": f"e{n}",
            "StackName": "s",
            "LogicalResourceId": logical_id,
            "ResourceType": "AWS::S3::Bucket"
            if logical_id != "s"
            else "AWS::CloudFormation::Stack",
            "Timestamp": now + timedelta(seconds=n),
            "ResourceStatus": status,
        }
        if reason:
            found["ResourceStatusReason"] = reason
        return found

    history = [
        event(1, "s", "CREATE_IN_PROGRESS", "User Initiated"),
        event(2, "PhotoBucket", "CREATE_FAILED", "photos already exists"),
        event(3, "s", "ROLLBACK_IN_PROGRESS"),
        event(4, "s", "ROLLBACK_COMPLETE"),
    ]

    def stack(status: str) -> dict[str, Any]:
        return {
            "Stacks": [
                {"StackName": "s", "StackId": "id", "CreationTime": now, "StackStatus": status}
            ]
        }

    seen: list[str] = []
    with Stubber(ctx.client("cloudformation")) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": history[1::-1]})
        stub.add_response("describe_stacks", stack("CREATE_IN_PROGRESS"))
        stub.add_response("describe_stack_events", {"StackEvents": history[::-1]})
        stub.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"))
        events = stackops.EventStream(ctx, "s", lambda e: seen.append(stackops.format_event(e)))
        final = stackops.wait_settled(ctx, "s", events, 30, "stack s")
        stub.assert_no_pending_responses()
    assert final is not None and final["StackStatus"] == "ROLLBACK_COMPLETE"
    assert [line.split(" ", 1)[1] for line in seen] == [
        "s (AWS::CloudFormation::Stack) CREATE_IN_PROGRESS — User Initiated",
        "PhotoBucket (AWS::S3::Bucket) CREATE_FAILED — photos already exists",
        "s (AWS::CloudFormation::Stack) ROLLBACK_IN_PROGRESS",
        "s (AWS::CloudFormation::Stack) ROLLBACK_COMPLETE",
    ]
    culprit = failing_resource(
        ctx,
        "s",
        real_template(),
        {"PhotoBucket": "AWS::S3::Bucket"},
        events.failed(),
        timed_out=False,
        before=None,
        seen={},
    )
    assert culprit == ("PhotoBucket", "photos already exists")
