"""What would go wrong on the first real deploy, as scenarios on the emulated Elastic
Beanstalk (issue 18): the rollback drill must not touch the serving environment, the swap
must keep the stack's environment the one that serves and leave nothing behind, and the
drill's broken versions must not push real versions out of retention."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
import tinystack

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.bundles import Bundle, apply_retention, build_bundle, upload
from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context
from pytest_pipeline.deploy.base import DeployError
from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget, drill_label
from pytest_pipeline.models import DeploymentStatus
from pytest_pipeline.retry import Backoff

from .test_emulated_eb import Poller

BUCKET = "scenario-bundles"
BROKEN_PROCFILE = "web: python -c 'raise SystemExit(7)'\n"
pytestmark = pytest.mark.slow

# A tiny stack that owns an Elastic Beanstalk application and environment, with no
# deployment policy: AllAtOnce, Elastic Beanstalk's default (an outage on every update).
TEMPLATE = tinystack.template()


@pytest.fixture(scope="module")
def ctx() -> Iterator[AwsContext]:
    """The embedded server, with a bucket for bundles."""
    with MotoServer() as server:
        ctx = resolve_context("endpoint", server.endpoint_url)
        ctx.client("s3").create_bucket(Bucket=BUCKET)
        yield ctx


@pytest.fixture
def stack(ctx: AwsContext, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A stack of TEMPLATE named after the test; deleted afterwards."""
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    name = request.node.name.replace("_", "-")[5:25].strip("-")
    stacks.provision(ctx, path, name, timeout=120, lint=False)
    yield name
    stacks.delete(ctx, name, 120, raise_on_leftovers=False)


@pytest.fixture
def publish(
    ctx: AwsContext, make_bundle: Callable[..., Bundle], tiny_app: Path, tmp_path: Path
) -> Callable[..., Bundle]:
    """Build and upload a bundle of the tiny app (``broken``: its Procfile exits at once)."""

    def make(label: str, broken: bool = False) -> Bundle:
        if not broken:
            return upload(ctx, make_bundle(label), BUCKET)
        app = tmp_path / "broken-app"
        if not app.exists():
            import shutil

            shutil.copytree(tiny_app, app)
            (app / "Procfile").write_text(BROKEN_PROCFILE)
        return upload(ctx, build_bundle(app, tmp_path / "broken", label), BUCKET)

    return make


def target(ctx: AwsContext, stack: str, strategy: str = "update") -> ElasticBeanstalkTarget:
    return ElasticBeanstalkTarget(
        ctx, f"{stack}-app", f"{stack}-env", strategy, 60, backoff=Backoff(0.1, 0.5)
    )


def assert_gone(url: str, label: str) -> None:
    """Nothing of the environment answers at ``url`` any more: the connection is refused (or,
    on a machine shared with other test runs, the freed port now belongs to something else
    that does not serve this application's version)."""
    try:
        answer = requests.get(f"{url}/health", timeout=5)
    except requests.ConnectionError:
        return
    served = (
        answer.json().get("version") if "json" in answer.headers.get("Content-Type", "") else None
    )
    assert served != label, f"{url} still serves {label}"


def version_at(url: str) -> str:
    return str(requests.get(f"{url}/health", timeout=5).json()["version"])


def test_the_drill_runs_on_a_throwaway_clone_and_the_serving_environment_never_fails(
    ctx: AwsContext, stack: str, publish: Callable[..., Bundle]
) -> None:
    """Issue 18.1: under AllAtOnce, deploying the broken bundle into the serving environment
    is an outage. The drill deploys it to a clone made from the serving environment's
    configuration: 0 failed requests at the serving URL, the clone is rolled back, and after
    the drill (even a failed one) neither the clone nor the broken version is left."""
    eb = target(ctx, stack)
    good = eb.deploy(publish("drill-good"))
    before = eb.inventory()
    assert before == [f"{stack}-env:Ready"]
    broken = publish(drill_label(good.version_label), broken=True)
    poller = Poller(eb.url)
    poller.start()
    with eb.throwaway_clone("drill") as clone:
        assert clone.url != eb.url and version_at(clone.url) == good.version_label
        options = ctx.client("elasticbeanstalk").describe_configuration_settings(
            ApplicationName=eb.application, EnvironmentName=clone.environment
        )["ConfigurationSettings"][0]["OptionSettings"]
        assert {"Namespace": "aws:elasticbeanstalk:application:environment",
                "OptionName": "TABLE_NAME", "Value": "photos"} in options  # fmt: skip
        with pytest.raises(DeployError) as failure:
            clone.deploy(broken)
        assert failure.value.metadata is not None
        assert failure.value.metadata.status is DeploymentStatus.ROLLED_BACK
        assert "ERROR event" in str(failure.value) and failure.value.remediation
    poller.stop()
    assert poller.sent > 0 and poller.failures == 0, f"{poller.failures} failed request(s)"
    assert poller.versions == [good.version_label]
    assert eb.inventory() == before and eb.current_version() == good.version_label
    assert broken.version_label not in eb.versions()
    assert "Contents" not in ctx.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix=str(broken.s3_key)
    ), "the broken bundle was left in S3"

    # a drill that fails half-way still removes its clone
    urls = []
    with pytest.raises(RuntimeError, match="drill interrupted"), eb.throwaway_clone() as clone:
        urls.append(clone.url)
        raise RuntimeError("drill interrupted")
    assert eb.inventory() == before
    assert_gone(urls[0], good.version_label)


def test_swap_keeps_the_stack_environment_serving_and_stack_deletion_leaves_nothing(
    ctx: AwsContext, stack: str, publish: Callable[..., Bundle]
) -> None:
    """Issue 18.3: after a swap the environment CloudFormation owns still serves (now the new
    version) at the same URL, no clone is left, every request was answered, and deleting the
    stack leaves no environment and nothing answering."""
    eb = target(ctx, stack)
    blue = eb.deploy(publish("swap-blue"))
    url, before = eb.url, eb.inventory()
    poller = Poller(url)
    poller.start()
    green = target(ctx, stack, "swap").deploy(publish("swap-green"))
    poller.stop()
    assert poller.failures == 0 and poller.versions == [blue.version_label, "swap-green"]
    assert green.url == url and version_at(url) == "swap-green"
    assert eb.inventory() == before == [f"{stack}-env:Ready"]
    assert eb.current_version() == "swap-green"
    resources = stacks.stack_resources(ctx, stack)
    assert resources["Env"][1] == f"{stack}-env", resources
    # a second swap deploys again the same way (no clone of the previous one is in the way)
    target(ctx, stack, "swap").deploy(publish("swap-next"))
    assert eb.inventory() == before and version_at(url) == "swap-next"

    stacks.delete(ctx, stack, 120)
    left = ctx.client("elasticbeanstalk").describe_environments(IncludeDeleted=False)
    assert [e["EnvironmentName"] for e in left["Environments"] if e["Status"] != "Terminated"] == []
    assert_gone(url, "swap-next")


def test_drill_versions_never_push_real_versions_out_of_retention(
    ctx: AwsContext, stack: str, publish: Callable[..., Bundle]
) -> None:
    """Issue 18.9: a drill's broken versions do not count toward retention: a drill left
    behind is deleted first, and the real versions kept are the newest real ones (the
    serving one and the one a rollback restores, with their bundles)."""
    eb = target(ctx, stack)
    first = eb.deploy(publish("keep-1"))
    second = eb.deploy(publish("keep-2"))
    # a broken version left by a drill that never cleaned up (a killed run)
    leftover = publish(drill_label(second.version_label), broken=True)
    ctx.client("elasticbeanstalk").create_application_version(
        ApplicationName=eb.application,
        VersionLabel=leftover.version_label,
        SourceBundle={"S3Bucket": BUCKET, "S3Key": str(leftover.s3_key)},
    )
    pruned, kept = eb.prune_versions(2)
    apply_retention(ctx, BUCKET, 2, serving_key=second.bundle_key, protect=kept)
    assert pruned == [leftover.version_label]
    assert eb.versions() == [first.version_label, second.version_label]
    listed = ctx.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    keys = {item["Key"] for item in listed}
    assert {first.bundle_key, second.bundle_key} <= keys and leftover.s3_key not in keys
    back = eb.rollback()
    assert back.rollback_version == first.version_label and version_at(eb.url) == "keep-1"
