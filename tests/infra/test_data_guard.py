"""No deploy loses data: an update that would replace or delete a stateful resource stops
before its change set executes (unless waived); protected stacks keep their data, ephemeral
ones leave nothing behind."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from pytest_pipeline.aws import dataguard, inventory, stacks
from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.models import StackStatus
from pytest_pipeline.predeploy.waivers import Waiver, WaiverSet

from .helpers import real_template, unique, write

EPHEMERAL = {stacks.TAG_LIFECYCLE: stacks.EPHEMERAL}
PROTECTED = {stacks.TAG_LIFECYCLE: stacks.PROTECTED}
ITEM = {"pk": {"S": "email#a@example.com"}, "sk": {"S": "v1"}}
PSEUDO = {"AWS::StackName": "photos-dev", "AWS::Region": "us-east-1"}


def table_waiver(expires: dt.date | None = None) -> WaiverSet:
    return WaiverSet(
        [
            Waiver(
                "W-DATA",
                dataguard.RULE_ID,
                "ValidationsTable",
                "team-photos",
                "validations are rebuilt from the sign-up log after the rename",
                expires or dt.date.today() + dt.timedelta(days=30),
            )
        ]
    )


def renamed_table(template: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    table = changed["Resources"]["ValidationsTable"]["Properties"]
    table["TableName"] = {"Fn::Sub": "${AWS::StackName}-validations-v2"}
    return changed


def table_names(ctx: AwsContext) -> set[str]:
    return set(ctx.client("dynamodb").list_tables()["TableNames"])


def test_renaming_the_table_stops_the_update_naming_table_and_property(
    ctx: AwsContext, tmp_path: Path
) -> None:
    name = unique("guard")
    template = real_template()
    state = stacks.provision(ctx, write(tmp_path / "v1.json", template), name, {}, EPHEMERAL, 60)
    table = state.outputs["TableName"]
    ctx.client("dynamodb").put_item(TableName=table, Item=ITEM)
    renamed = write(tmp_path / "v2.json", renamed_table(template))
    try:
        with pytest.raises(stacks.DataLossError) as caught:
            stacks.provision(ctx, renamed, name, {}, EPHEMERAL, 60, waivers=WaiverSet())
        message = str(caught.value)
        assert "ValidationsTable (AWS::DynamoDB::Table" in message
        assert "Replacement: True" in message and "because TableName changes" in message
        assert f"rule = {dataguard.RULE_ID!r}" in message
        # nothing executed: same stack, same table, the data still there
        assert (stacks.describe(ctx, name) or {})["StackStatus"] == "CREATE_COMPLETE"
        assert table in table_names(ctx)
        item = ctx.client("dynamodb").get_item(TableName=table, Key=ITEM)
        assert "Item" in item
        cfn = ctx.client("cloudformation")
        assert cfn.list_change_sets(StackName=name)["Summaries"] == []  # the change set went

        # an expired waiver accepts nothing, and says so
        with pytest.raises(stacks.DataLossError, match="waiver W-DATA expired"):
            stacks.provision(
                ctx, renamed, name, {}, EPHEMERAL, 60,
                waivers=table_waiver(dt.date.today() - dt.timedelta(days=1)),
            )  # fmt: skip
        # a waiver accepts it: the change set executes (moto 5.2 then keeps the old table
        # under the old name, where CloudFormation would replace it)
        after = stacks.provision(ctx, renamed, name, {}, EPHEMERAL, 60, waivers=table_waiver())
        assert after.status is StackStatus.UPDATE_COMPLETE
    finally:
        stacks.delete(ctx, name, 60)


def test_an_update_that_keeps_the_data_runs(ctx: AwsContext, tmp_path: Path) -> None:
    """Changing a property that does not replace (log retention) is no data loss."""
    name = unique("keeps")
    template = real_template()
    stacks.provision(ctx, write(tmp_path / "v1.json", template), name, {}, EPHEMERAL, 60)
    try:
        state = stacks.provision(
            ctx,
            write(tmp_path / "v1.json", template),
            name,
            {"LogRetentionDays": "30"},
            EPHEMERAL,
            60,
            waivers=WaiverSet(),
        )
        assert state.status is StackStatus.UPDATE_COMPLETE
    finally:
        stacks.delete(ctx, name, 60)


def test_removing_a_bucket_from_the_template_stops_the_update(
    ctx: AwsContext, tmp_path: Path
) -> None:
    tiny: dict[str, Any] = {
        "Resources": {
            "Photos": {"Type": "AWS::S3::Bucket"},
            "Topic": {"Type": "AWS::SNS::Topic"},
        }
    }
    name = unique("gone")
    stacks.provision(ctx, write(tmp_path / "a.json", tiny), name, {}, EPHEMERAL, 30, lint=False)
    without = {"Resources": {"Topic": tiny["Resources"]["Topic"]}}
    try:
        with pytest.raises(stacks.DataLossError, match=r"Photos \(AWS::S3::Bucket .*deleted"):
            stacks.provision(
                ctx, write(tmp_path / "b.json", without), name, {}, EPHEMERAL, 30, lint=False
            )
    finally:
        stacks.delete(ctx, name, 30)


def _change_set_response(changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ChangeSetName": "pipeline-1",
        "StackName": "photos-prod",
        "Status": "CREATE_COMPLETE",
        "ExecutionStatus": "AVAILABLE",
        "Changes": [{"Type": "Resource", "ResourceChange": change} for change in changes],
    }


def test_cloudformations_own_replacement_answer_is_read(ctx: AwsContext) -> None:
    """On AWS the change set says Replacement and the property (Details[].Target.Name);
    Stubber checks the scripted response against botocore's model of DescribeChangeSet."""
    client = ctx.client("cloudformation")
    table = {
        "Action": "Modify",
        "LogicalResourceId": "ValidationsTable",
        "PhysicalResourceId": "photos-prod-validations",
        "ResourceType": "AWS::DynamoDB::Table",
        "Replacement": "True",
        "Scope": ["Properties"],
        "Details": [
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": "TableName",
                    "RequiresRecreation": "Always",
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            },
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": "BillingMode",
                    "RequiresRecreation": "Never",
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            },
        ],
    }
    bucket = {
        "Action": "Modify",
        "LogicalResourceId": "PhotoBucket",
        "ResourceType": "AWS::S3::Bucket",
        "Replacement": "False",
        "Details": [],
    }
    role = {**table, "LogicalResourceId": "Role", "ResourceType": "AWS::IAM::Role"}
    stub = Stubber(client)
    page1 = {**_change_set_response([table, bucket]), "NextToken": "more"}
    stub.add_response("describe_change_set", page1)
    stub.add_response("describe_change_set", _change_set_response([role]))
    with stub:
        pages = dataguard.describe_all(client, "photos-prod", "pipeline-1")
    template = real_template()
    prod = dataguard.Resolved.of(template, {"Environment": "prod"}, PSEUDO)
    (risk,) = dataguard.risks(dataguard.resource_changes(pages), prod, prod)
    assert (risk.logical_id, risk.replacement, risk.properties) == (
        "ValidationsTable",
        "True",
        ("TableName",),
    )
    assert risk.old_data_kept  # prod's UpdateReplacePolicy keeps the old table, orphaned
    assert "orphaned" in risk.describe()


def test_replacement_computed_from_the_templates_where_the_backend_does_not_say() -> None:
    template = real_template()
    before = dataguard.Resolved.of(template, {"Environment": "dev"}, PSEUDO)
    after = dataguard.Resolved.of(renamed_table(template), {"Environment": "dev"}, PSEUDO)
    changes = [
        {"Action": "Modify", "LogicalResourceId": lid, "ResourceType": rtype}
        for lid, rtype in [
            ("ValidationsTable", "AWS::DynamoDB::Table"),
            ("AppLogGroup", "AWS::Logs::LogGroup"),
            ("InstanceRole", "AWS::IAM::Role"),
        ]
    ]
    (risk,) = dataguard.risks(changes, before, after)
    assert (risk.logical_id, risk.replacement, risk.properties) == (
        "ValidationsTable",
        "True",
        ("TableName",),
    )
    assert not risk.old_data_kept  # dev deletes the old table with its data
    # a parameter that renames (the stack's environment) is a replacement too
    staging = dataguard.Resolved.of(template, {"Environment": "staging"}, PSEUDO)
    moved = dataguard.Resolved.of(
        template, {"Environment": "staging"}, {**PSEUDO, "AWS::StackName": "other"}
    )
    names = {r.logical_id for r in dataguard.risks(changes, staging, moved)}
    assert names == {"ValidationsTable", "AppLogGroup"}


@pytest.mark.parametrize(
    ("environment", "retention", "keeps"),
    [
        ("dev", "Delete", False),
        ("dev", "Retain", True),
        ("staging", "Delete", True),
        ("prod", "Delete", True),
    ],
)
def test_the_template_keeps_the_data_of_protected_environments_only(
    environment: str, retention: str, keeps: bool
) -> None:
    template = real_template()
    resolved = dataguard.Resolved.of(
        template, {"Environment": environment, "DataRetention": retention}, PSEUDO
    )
    stateful = {
        lid
        for lid, spec in template["Resources"].items()
        if spec["Type"] in dataguard.stateful_types()
    }
    assert {"ValidationsTable", "PhotoBucket", "DeploymentBucket", "AppLogGroup"} <= stateful
    for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
        kept = {lid for lid in stateful if resolved.keeps(lid, attribute)}
        assert kept == (stateful if keeps else set()), attribute


def test_provision_marks_the_data_policy_by_the_stacks_lifecycle(
    ctx: AwsContext, tmp_path: Path
) -> None:
    name = unique("policy")
    path = write(tmp_path / "t.json", real_template())
    stacks.provision(ctx, path, name, {}, PROTECTED, 60)
    try:
        described = stacks.describe(ctx, name) or {}
        given = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
        assert given[stacks.DATA_PARAMETER] == "Retain"
    finally:
        stacks.delete(ctx, name, 60)


RETAINING: dict[str, Any] = {
    "Resources": {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": {"Fn::Sub": "${AWS::StackName}-table"},
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            },
        },
        "Bucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
    }
}


def test_teardown_of_an_ephemeral_stack_leaves_nothing_even_what_it_retained(
    ctx: AwsContext, tmp_path: Path
) -> None:
    """An ephemeral stack whose template retains (an older template, a hand edit) still
    leaves no table or bucket behind: the teardown removes them itself."""
    before = inventory.snapshot(ctx)
    name = unique("eph")
    state = stacks.provision(
        ctx, write(tmp_path / "r.json", RETAINING), name, {}, EPHEMERAL, 30, lint=False
    )
    bucket = state.resources["Bucket"]
    ctx.client("s3").put_object(Bucket=bucket, Key="photo.jpg", Body=b"data")
    assert stacks.delete(ctx, name, 30) == []
    assert inventory.snapshot(ctx) == before


def test_teardown_of_a_protected_stack_keeps_what_it_retains(
    ctx: AwsContext, tmp_path: Path
) -> None:
    name = unique("prot")
    state = stacks.provision(
        ctx, write(tmp_path / "r.json", RETAINING), name, {}, PROTECTED, 30, lint=False
    )
    try:
        assert stacks.delete(ctx, name, 30) == []  # kept on purpose: not a leftover
        assert f"{name}-table" in table_names(ctx)
        assert state.resources["Bucket"] in inventory.snapshot(ctx, ["buckets"]).items["buckets"]
    finally:
        inventory.remove(ctx, "AWS::DynamoDB::Table", f"{name}-table")
        inventory.remove(ctx, "AWS::S3::Bucket", state.resources["Bucket"])


def test_a_data_loss_waiver_is_the_infra_stages_not_an_unused_predeploy_one(
    tmp_path: Path,
) -> None:
    from pytest_pipeline.plugin.scancases import SecurityScans
    from pytest_pipeline.predeploy.scanners import SCANNERS, ScanContext, ScanOutcome

    waivers = table_waiver()
    waivers.waivers.append(replace(waivers.waivers[0], id="W-OTHER", rule="B999"))
    scans = SecurityScans(ScanContext.for_repository(tmp_path), waivers, tmp_path / "reports")
    scans.outcomes.update({name: ScanOutcome(name) for name in SCANNERS})
    assert [w.id for w in scans.unused_waivers()] == ["W-OTHER"]
