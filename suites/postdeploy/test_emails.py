"""POST /api/v1/emails/validate: valid, invalid, internationalised and hostile addresses."""

from __future__ import annotations

import uuid

import pytest

from pytest_pipeline.postdeploy.casedata import email_cases
from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.postdeploy.probes import find_email_record, probe_email


@pytest.mark.parametrize(
    ("email", "valid", "normalised"), [pytest.param(*v, id=i) for i, v in email_cases()]
)
def test_email_validation(
    service: ServiceClient, email: str, valid: bool, normalised: str | None
) -> None:
    """The verdict the contract requires, a reason exactly when invalid, nothing leaked."""
    probe = probe_email(service, email, valid, normalised)
    assert probe.ok, probe.explain()


def test_email_is_stored(service: ServiceClient, request: pytest.FixtureRequest) -> None:
    """With a known stack, the validation is recorded in the stack's DynamoDB table."""
    options = request.getfixturevalue("pipeline_settings")
    if options.target_url:
        pytest.skip("no stack known: --target-url was given, so nothing was provisioned")
    stack = request.getfixturevalue("stack")
    aws = request.getfixturevalue("aws")
    email = f"stored-{uuid.uuid4().hex[:12]}@example.com"
    probe = probe_email(service, email, True, None)
    assert probe.ok, probe.explain()
    table = stack.output("TableName")
    record = find_email_record(aws.client("dynamodb"), table, email)
    assert record is not None, f"no item for {email} in DynamoDB table {table} after validation"
