"""The stack exists, is complete, and is what the template declares."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("aws", "the stack checks")

from pytest_pipeline.aws import cfn  # noqa: E402
from pytest_pipeline.aws.clients import AwsContext  # noqa: E402
from pytest_pipeline.aws.stacks import (  # noqa: E402
    MANAGED_BY,
    REQUIRED_OUTPUTS,
    TAG_ENV,
    TAG_EXPIRES,
    TAG_MANAGED,
    TAG_RUN,
)
from pytest_pipeline.models import InfrastructureState  # noqa: E402
from pytest_pipeline.settings import PipelineSettings  # noqa: E402


def test_stack_is_ready(stack: InfrastructureState) -> None:
    """The stack finished creating or updating."""
    assert stack.status.is_ready, f"stack {stack.stack_name} is {stack.status}"


@pytest.mark.parametrize("name", REQUIRED_OUTPUTS)
def test_stack_output_present(stack: InfrastructureState, name: str) -> None:
    """Every output later stages need exists and is not empty."""
    assert stack.output(name).strip()


def test_environment_url_output(stack: InfrastructureState, aws: AwsContext) -> None:
    """The Elastic Beanstalk environment's URL is an output (on AWS and on the embedded
    backend, which runs Elastic Beanstalk; not on an endpoint that only stubs it)."""
    if not aws.serves_elasticbeanstalk():
        pytest.skip(f"the {aws.backend} endpoint does not run Elastic Beanstalk environments")
    assert stack.output("EnvironmentURL").startswith("http")


def test_every_declared_resource_exists_or_is_reported(
    stack: InfrastructureState, pipeline_settings: PipelineSettings
) -> None:
    """Each resource of the template was created, or the backend says it did not model it."""
    template = cfn.load_template(pipeline_settings.template)
    unreported = [
        logical_id
        for logical_id in cfn.declared_resources(template)
        if logical_id not in stack.resources
        and not any(item.startswith(f"{logical_id} (") for item in stack.not_modelled)
        and template["Resources"][logical_id].get("Condition") is None
    ]
    assert not unreported, f"missing and not reported: {unreported}"


def test_stack_is_tagged_for_the_janitor(stack: InfrastructureState) -> None:
    """Run id, environment and expiry tags let the janitor find expired stacks."""
    assert stack.tags.get(TAG_MANAGED) == MANAGED_BY
    assert stack.tags.get(TAG_RUN)
    assert stack.tags.get(TAG_ENV)
    assert stack.tags.get(TAG_EXPIRES, "").endswith("Z")
