"""Hypothesis properties of provisioning, against the module's moto server."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_pipeline.aws import cfn, inventory, stacks
from pytest_pipeline.aws.clients import AwsContext

from .conftest import TEMPLATE
from .helpers import FAILING, REQUIRED_OUTPUTS, real_template, take_names, unique, write

RETENTION = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]
HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,10}\.(com|org|example)(:[1-9][0-9]{2,3})?", fullmatch=True)
ORIGINS = st.lists(
    st.tuples(st.sampled_from(["https", "http"]), HOSTS).map(lambda p: f"{p[0]}://{p[1]}"),
    min_size=1,
    max_size=3,
).map(",".join)
INSTANCE_TYPES = st.sampled_from(["t3.micro", "t3.small", "t3.medium", "m5.large", "c6g.xlarge"])


@st.composite
def parameter_sets(draw: st.DrawFn) -> dict[str, str]:
    """Parameter sets the template accepts (AllowedValues, patterns, ranges, min <= max)."""
    low = draw(st.integers(1, 20))
    return {
        "Environment": draw(st.sampled_from(["dev", "staging", "prod"])),
        "InstanceType": draw(INSTANCE_TYPES),
        "MinInstances": str(low),
        "MaxInstances": str(draw(st.integers(low, 20))),
        "AllowedOrigins": draw(ORIGINS),
        "MaxUploadMb": str(draw(st.integers(1, 50))),
        "NotificationEmail": draw(st.sampled_from(["", "ops@example.com", "a.b@team.example"])),
        "LogRetentionDays": str(draw(st.sampled_from(RETENTION))),
        "BundleRetentionDays": str(draw(st.integers(1, 3650))),
        "PhotoRetentionDays": str(draw(st.integers(1, 3650))),
        "ErrorRateThresholdPercent": str(draw(st.integers(0, 100))),
        "CpuThresholdPercent": str(draw(st.integers(1, 100))),
    }


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The real template, parsed once."""
    return cfn.load_template(TEMPLATE)


# Feature: ci-cd-pipeline, Property 1: for generated valid parameter sets the stack is
# created with every declared resource and every output
@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(params=parameter_sets())
def test_valid_parameters_give_a_complete_stack(
    ctx: AwsContext, template: dict[str, Any], params: dict[str, str]
) -> None:
    """Every declared resource is created or reported as not modelled; every output is
    there, with the values the parameters asked for; deleting leaves nothing."""
    assert cfn.validate_parameters(template, params) == []
    name = unique("prop1")
    state = stacks.provision(ctx, TEMPLATE, name, params, {}, 30)
    try:
        conditions = cfn.evaluate_conditions(
            template, cfn.parameter_values(template, params), {"AWS::StackName": name}
        )
        declared = cfn.declared_resources(template, conditions)
        reported = {item.split(" ", 1)[0] for item in state.not_modelled}
        assert set(declared) <= set(state.resources) | reported
        for logical_id, rtype in declared.items():
            if rtype in inventory.KIND_OF_TYPE and rtype != "AWS::SecretsManager::Secret":
                assert logical_id in state.resources, f"{logical_id} ({rtype}) not created"
        assert ("NotificationEmailSubscription" in declared) == bool(params["NotificationEmail"])
        assert set(state.outputs) >= REQUIRED_OUTPUTS
        assert state.outputs["AllowedOrigins"] == params["AllowedOrigins"]
        assert state.outputs["MaxUploadMb"] == params["MaxUploadMb"]
        assert state.outputs["TableName"] == f"{name}-validations"
    finally:
        assert stacks.delete(ctx, name, 30) == []


@pytest.fixture(scope="module")
def small_base() -> dict[str, Any]:
    """The real template without what moto ignores (small, fast to create)."""
    base = real_template()
    ignored = {
        "AWS::ElasticBeanstalk::Application",
        "AWS::ElasticBeanstalk::Environment",
        "AWS::CloudWatch::Alarm",
        "AWS::SecretsManager::Secret",
        "AWS::S3::BucketPolicy",
    }
    base["Resources"] = {k: v for k, v in base["Resources"].items() if v["Type"] not in ignored}
    base["Outputs"] = {
        k: v for k, v in base["Outputs"].items() if k in ("TableName", "PhotoBucketName")
    }
    return base


@pytest.fixture(scope="module")
def baseline(ctx: AwsContext) -> inventory.Inventory:
    """The account before the failure examples, names already taken included."""
    take_names(ctx)
    return inventory.snapshot(ctx)


@pytest.fixture(scope="module")
def workdir() -> Any:
    """A folder for generated templates, shared by the examples."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


# Feature: ci-cd-pipeline, Property 6: for generated failure points the account ends with
# nothing leaked and the error names the failing resource
@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_failure_anywhere_leaks_nothing_and_names_the_resource(
    ctx: AwsContext,
    small_base: dict[str, Any],
    baseline: inventory.Inventory,
    workdir: Path,
    data: st.DataObject,
) -> None:
    """A resource that cannot be created, inserted anywhere in the template: the error
    names it and its reason, and tables, buckets, roles, profiles, topics, log groups and
    secrets are exactly as before."""
    kind = data.draw(st.sampled_from(sorted(FAILING)), label="kind")
    position = data.draw(st.integers(0, len(small_base["Resources"])), label="position")
    logical_id = data.draw(st.sampled_from(["Broken", "ZFails", "AaaBad"]), label="logical id")
    items = list(small_base["Resources"].items())
    items.insert(position, (logical_id, FAILING[kind]))
    template = {**small_base, "Resources": dict(items)}
    path = write(workdir / f"{unique('t')}.json", template)
    name = unique("prop6")
    with pytest.raises(stacks.StackError) as caught:
        stacks.provision(ctx, path, name, {}, {}, 30, lint=False)
    error = caught.value
    assert error.failing_resource == logical_id, str(error)
    assert f"failing resource: {logical_id} ({FAILING[kind]['Type']})" in str(error)
    assert "already exist" in str(error).lower() or "in use" in str(error).lower(), str(error)
    assert error.leftovers == []
    assert stacks.describe(ctx, name) is None
    after = inventory.snapshot(ctx)  # nothing gained or lost, example after example
    assert after.new_since(baseline) == {} and baseline.new_since(after) == {}
