"""The production Elastic Beanstalk deploy target, end to end against the emulation.

No Stubber: ``ElasticBeanstalkTarget`` talks to the embedded server's Elastic Beanstalk,
whose environments really run the tiny app; requests keep flowing while it deploys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from pytest_pipeline.aws.bundles import Bundle, build_bundle, upload
from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context
from pytest_pipeline.deploy.base import DeployError
from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget
from pytest_pipeline.models import DeploymentStatus
from pytest_pipeline.retry import Backoff

from .test_emulated_eb import Poller

APP, ENV, BUCKET = "target-app", "target-env", "target-bundles"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ctx() -> Iterator[AwsContext]:
    """The embedded server with an application, a bucket and an Immutable environment."""
    with MotoServer() as server:
        ctx = resolve_context("endpoint", server.endpoint_url)
        ctx.client("s3").create_bucket(Bucket=BUCKET)
        eb = ctx.client("elasticbeanstalk")
        eb.create_application(ApplicationName=APP)
        options = {
            ("aws:elasticbeanstalk:command", "DeploymentPolicy"): "Immutable",
            ("aws:elasticbeanstalk:command", "Timeout"): "20",
            ("aws:elasticbeanstalk:application:environment", "TABLE_NAME"): "table",
            ("aws:elasticbeanstalk:application:environment", "BUCKET_NAME"): "photos",
        }
        eb.create_environment(
            ApplicationName=APP,
            EnvironmentName=ENV,
            OptionSettings=[
                {"Namespace": ns, "OptionName": name, "Value": value}
                for (ns, name), value in options.items()
            ],
        )
        yield ctx


@pytest.fixture
def publish(
    ctx: AwsContext, make_bundle: Callable[..., Bundle], tiny_app: Path, tmp_path: Path
) -> Callable[..., Bundle]:
    """Build and upload a bundle of the tiny app (``procfile`` replaces its Procfile)."""

    def make(label: str, procfile: str | None = None) -> Bundle:
        if procfile is not None:
            (tiny_app / "Procfile").write_text(procfile)
            built = build_bundle(tiny_app, tmp_path / "bundles", label)
        else:
            built = make_bundle(label)
        return upload(ctx, built, BUCKET)

    return make


def target(
    ctx: AwsContext, strategy: str = "update", rollback: bool = False, timeout: float = 60
) -> ElasticBeanstalkTarget:
    return ElasticBeanstalkTarget(
        ctx, APP, ENV, strategy, timeout, rollback_enabled=rollback, backoff=Backoff(0.1, 0.5)
    )


def version_at(url: str) -> str:
    return str(requests.get(f"{url}/health", timeout=5).json()["version"])


def test_update_deploys_rolls_back_and_reports_events(
    ctx: AwsContext, publish: Callable[..., Bundle]
) -> None:
    """Deploy two versions in place, then roll back: each serves at the stable URL, and the
    metadata carries Elastic Beanstalk's own events."""
    eb = target(ctx)
    first = eb.deploy(publish("upd-1"))
    assert first.status is DeploymentStatus.DEPLOYED and version_at(eb.url) == "upd-1"
    second = eb.deploy(publish("upd-2"))
    assert (second.previous_version, version_at(eb.url)) == ("upd-1", "upd-2")
    assert any(e.source == "elasticbeanstalk" for e in second.events)
    back = eb.rollback()
    assert back.status is DeploymentStatus.ROLLED_BACK and version_at(eb.url) == "upd-1"
    assert eb.current_version() == "upd-1" and eb.health()["status"] == "ok"


def test_broken_version_fails_with_its_reason_and_the_old_one_serves(
    ctx: AwsContext, publish: Callable[..., Bundle]
) -> None:
    """The rollback drill through the production code: a bundle that cannot start fails the
    deploy with Elastic Beanstalk's ERROR events, and no request fails meanwhile."""
    eb = target(ctx, rollback=True)
    good = eb.deploy(publish("drill-good"))
    broken = publish("drill-broken", procfile="web: python -c 'raise SystemExit(7)'\n")
    poller = Poller(eb.url)
    poller.start()
    with pytest.raises(DeployError) as failure:
        eb.deploy(broken)
    poller.stop()
    assert "ERROR event" in str(failure.value) and failure.value.remediation
    assert failure.value.metadata is not None
    assert failure.value.metadata.status is DeploymentStatus.ROLLED_BACK
    assert poller.sent > 0 and poller.failures == 0
    assert poller.versions == [good.version_label]
    assert eb.current_version() == good.version_label


def test_missing_requirement_fails_the_deploy_with_that_reason(
    ctx: AwsContext, publish: Callable[..., Bundle], tiny_app: Path
) -> None:
    """A requirements.txt without a package the app imports: the deploy fails naming it."""
    eb = target(ctx)
    good = eb.deploy(publish("req-ok"))
    (tiny_app / "requirements.txt").write_text("gunicorn>=22\n")
    with pytest.raises(DeployError, match="No module named 'flask'"):
        eb.deploy(publish("req-missing"))
    assert version_at(eb.url) == good.version_label


def test_green_is_not_enough_the_url_must_serve_the_new_label(
    ctx: AwsContext, publish: Callable[..., Bundle], tiny_app: Path
) -> None:
    """A version that is healthy but reports another version at /health (e.g. a stale build)
    is Ready and Green on its label, yet the deploy fails: the URL does not serve it."""
    eb = target(ctx, timeout=6)
    eb.deploy(publish("http-ok"))
    app = tiny_app / "application.py"
    app.write_text(app.read_text().replace('os.environ.get("APP_VERSION", "unknown")', '"stale"'))
    with pytest.raises(DeployError, match="does not serve http-stale") as failure:
        eb.deploy(publish("http-stale"))
    assert "health check path" in failure.value.remediation
    assert eb.current_version() == "http-stale"


def test_swap_deploys_through_a_clone_without_a_failed_request(
    ctx: AwsContext, publish: Callable[..., Bundle]
) -> None:
    """Blue/green: the clone serves while the environment itself takes the new version, then
    the environment serves it again at the same URL; every request meanwhile is answered and
    only the environment is left (see test_eb_production_scenarios for the stack's view)."""
    eb = target(ctx)
    blue = eb.deploy(publish("swap-blue"))
    url = eb.url
    poller = Poller(url)
    poller.start()
    green = target(ctx, "swap").deploy(publish("swap-green"))
    poller.stop()
    assert green.url == url and version_at(url) == "swap-green"
    assert poller.failures == 0 and poller.versions == [blue.version_label, "swap-green"]
    assert eb.inventory() == [f"{ENV}:Ready"]
    assert any("swapped CNAMEs" in e.message for e in green.events)


def test_retention_removes_versions_with_their_bundles_and_keeps_the_rollback(
    ctx: AwsContext, make_bundle: Callable[..., Bundle]
) -> None:
    """Bundle retention deleted S3 objects and left their application versions, so a
    rollback could pick a label whose bundle was gone. Versions now go with their bundles,
    and neither the serving version nor the one a rollback restores ever goes."""
    from pytest_pipeline.aws.bundles import apply_retention

    app, env = "keep-app", "keep-env"
    eb_client = ctx.client("elasticbeanstalk")
    eb_client.create_application(ApplicationName=app)
    eb_client.create_environment(
        ApplicationName=app,
        EnvironmentName=env,
        OptionSettings=[
            {"Namespace": ns, "OptionName": name, "Value": value}
            for (ns, name), value in {
                ("aws:elasticbeanstalk:command", "Timeout"): "20",
                ("aws:elasticbeanstalk:application:environment", "TABLE_NAME"): "table",
                ("aws:elasticbeanstalk:application:environment", "BUCKET_NAME"): "photos",
            }.items()
        ],
    )
    eb = ElasticBeanstalkTarget(ctx, app, env, "update", 60, backoff=Backoff(0.1, 0.5))
    labels = [f"keep-{n}" for n in range(1, 5)]
    for label in labels:
        built = upload(ctx, make_bundle(label), BUCKET, prefix="keep/")
        eb.deploy(built)
        _, kept = eb.prune_versions(1)
        apply_retention(ctx, BUCKET, 1, serving_key=built.s3_key, prefix="keep/", protect=kept)
    assert eb.versions() == ["keep-3", "keep-4"]  # the serving one and the rollback's
    listed = ctx.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="keep/")
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]) == [
        "keep-3.zip",
        "keep-4.zip",
    ]
    back = eb.rollback()
    assert back.status is DeploymentStatus.ROLLED_BACK and version_at(eb.url) == "keep-3"
