"""Every status CloudFormation can return is modelled and handled by provisioning.

A failed CREATE change set leaves a stack in REVIEW_IN_PROGRESS, and an update that just
finished can still be in UPDATE_COMPLETE_CLEANUP_IN_PROGRESS: provisioning met either with a
ValueError. The status list comes from botocore's service model (the API's own), the
scenarios from a moto server and from Stubber scripts of the documented answers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context
from pytest_pipeline.models import StackStatus

from .helpers import unique, write

TINY: dict[str, Any] = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
}


def test_every_status_of_the_api_is_modelled() -> None:
    model = botocore.session.get_session().get_service_model("cloudformation")
    api = set(model.shape_for("StackStatus").enum)
    assert api == {status.value for status in StackStatus}
    for status in StackStatus:  # each has exactly one meaning for provisioning
        kinds = [status.is_ready, status.is_failed, status.in_progress]
        assert sum(kinds) <= 1, status
    assert StackStatus.UPDATE_COMPLETE_CLEANUP_IN_PROGRESS.is_ready
    assert StackStatus.REVIEW_IN_PROGRESS.awaits_creation


def test_a_stack_left_in_review_in_progress_is_created(ctx: AwsContext, tmp_path: Path) -> None:
    """What a CREATE change set that was never executed (or failed) leaves behind."""
    name = unique("review")
    body = json.dumps(TINY)
    client = ctx.client("cloudformation")
    client.create_change_set(
        StackName=name, ChangeSetName="left", TemplateBody=body, ChangeSetType="CREATE"
    )
    assert client.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == (
        "REVIEW_IN_PROGRESS"
    )
    state = stacks.provision(ctx, write(tmp_path / "tiny.json", TINY), name, {}, {}, 30)
    assert state.status is StackStatus.CREATE_COMPLETE
    assert state.outputs["TopicArn"].startswith("arn:aws:sns:")
    stacks.delete(ctx, name, 30)


def _stack(status: str) -> dict[str, Any]:
    return {
        "StackName": "s",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
        "CreationTime": datetime.now(UTC),
        "StackStatus": status,
    }


def test_an_update_still_cleaning_up_is_waited_for_not_a_crash(moto_server: MotoServer) -> None:
    """UPDATE_COMPLETE_CLEANUP_IN_PROGRESS settles into UPDATE_COMPLETE: wait, then go on."""
    ctx = resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
    client = ctx.client("cloudformation")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_stacks", {"Stacks": [_stack("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")]}
        )
        stub.add_response("describe_stack_events", {"StackEvents": []})
        stub.add_response(
            "describe_stacks", {"Stacks": [_stack("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")]}
        )
        stub.add_response("describe_stack_events", {"StackEvents": []})
        stub.add_response("describe_stacks", {"Stacks": [_stack("UPDATE_COMPLETE")]})
        settled = stacks.settle_existing(ctx, "s", 30)
        stub.assert_no_pending_responses()
    assert settled is not None and settled["StackStatus"] == "UPDATE_COMPLETE"


@pytest.mark.parametrize(
    ("status", "remedy"),
    [
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("DELETE_FAILED", "delete-stack"),
        ("IMPORT_ROLLBACK_FAILED", "continue-update-rollback"),
    ],
)
def test_a_stack_that_needs_a_person_stops_provisioning_with_the_command(
    moto_server: MotoServer, status: str, remedy: str
) -> None:
    ctx = resolve_context("moto", start_moto=lambda: moto_server.endpoint_url)
    with Stubber(ctx.client("cloudformation")) as stub:
        stub.add_response("describe_stacks", {"Stacks": [_stack(status)]})
        with pytest.raises(stacks.StackError, match=rf"is {status}.*aws cloudformation {remedy}"):
            stacks.settle_existing(ctx, "s", 30)
