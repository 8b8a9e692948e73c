"""The Elastic Beanstalk target against scripted responses (botocore Stubber, ``ebstub``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ebstub import EbScript, EbShapes

from pytest_pipeline.aws.bundles import Bundle
from pytest_pipeline.deploy.base import DeployError, DeployTarget
from pytest_pipeline.deploy.ebpoll import operation_errors
from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget
from pytest_pipeline.deploy.resources import make_target
from pytest_pipeline.models import DeploymentEvent, DeploymentStatus

APP, ENV, CNAME = "passport-photo", "passport-dev", "passport-dev.us-east-1.elasticbeanstalk.com"
CLONE = f"{ENV}-{hashlib.sha256(b'dev-v2').hexdigest()[:7]}"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BUNDLE = Bundle(
    path=Path("dev-v2.zip"),
    sha256="ab" * 32,
    version_label="dev-v2",
    files=("Procfile",),
    size=1,
    s3_bucket="deployments",
    s3_key="bundles/dev-v2.zip",
)


SHAPES = EbShapes(APP, ENV, CNAME, T0)
env, events = SHAPES.env, SHAPES.events


class Script(EbScript):
    """The target under test with one of its strategies behind the scripted API."""

    def __init__(
        self, strategy: str = "update", rollback: bool = False, timeout: float = 250
    ) -> None:
        super().__init__(SHAPES, strategy=strategy, timeout=timeout, rollback_enabled=rollback)

    def create_version(self, label: str = "dev-v2", bucket: str = "deployments") -> None:
        super().create_version(label, bucket)


@pytest.fixture
def script(request: pytest.FixtureRequest) -> Iterator[Script]:
    options = getattr(request, "param", {})
    s = Script(**options)
    with s.stub:
        yield s
        s.stub.assert_no_pending_responses()


def test_update_succeeds_only_on_new_label_ready_green(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.starts_update("dev-v2")
    script.poll(
        env("Ready", "Green", "dev-v2"),
        events(
            ("INFO", "Environment update is starting."),
            ("INFO", "Deploying new version to instance(s)."),
            ("INFO", "Environment update completed successfully."),
        ),
    )
    script.live(env("Ready", "Green", "dev-v2"))
    meta = script.target.deploy(BUNDLE)
    members = [name for name in dir(DeployTarget) if not name.startswith("_")]
    assert all(hasattr(ElasticBeanstalkTarget, name) for name in members), members
    assert meta.status is DeploymentStatus.DEPLOYED
    assert (meta.version_label, meta.previous_version, meta.url) == (
        "dev-v2",
        "dev-v1",
        f"http://{CNAME}",
    )
    platform = [e.message for e in meta.events if e.source == "elasticbeanstalk"]
    assert platform == [
        "Environment update is starting.",
        "Deploying new version to instance(s).",
        "Environment update completed successfully.",
    ]


@pytest.mark.parametrize("script", [{"rollback": True}], indirect=True)
def test_error_events_fail_and_roll_back(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.update("dev-v2")
    failed = events(
        ("INFO", "Environment update is starting."), ("ERROR", "Failed to deploy application.")
    )
    script.poll(env("Updating", "Grey", "dev-v2"), failed)
    script.poll(env("Ready", "Red", "dev-v2"), failed)
    script.update("dev-v1")  # the rollback
    script.poll(
        env("Ready", "Green", "dev-v1"),
        events(("INFO", "Environment update completed successfully.")),
    )
    with pytest.raises(DeployError) as failure:
        script.target.deploy(BUNDLE)
    error = failure.value
    assert (
        "Failed to deploy application." in error.message
        and "rolled back to dev-v1" in error.message
    )
    assert "eb logs" in error.remediation
    assert error.metadata is not None and error.metadata.status is DeploymentStatus.ROLLED_BACK
    assert any(e.severity == "ERROR" and e.source == "elasticbeanstalk" for e in error.events)


def test_green_on_old_label_is_the_auto_rollback_trap(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.starts_update("dev-v2")
    script.poll(
        env("Ready", "Green", "dev-v1"),
        events(
            ("INFO", "Environment update is starting."),
            ("WARN", "Environment health has transitioned from Ok to Degraded."),
            ("INFO", "The environment was reverted to the previous configuration setting."),
        ),
    )
    with pytest.raises(DeployError) as failure:
        script.target.deploy(BUNDLE)
    assert "runs dev-v1, not dev-v2" in failure.value.message
    assert "rolled the deployment back" in failure.value.message
    assert failure.value.metadata is not None
    assert failure.value.metadata.status is DeploymentStatus.FAILED


@pytest.mark.parametrize("script", [{"rollback": True}], indirect=True)
def test_trap_with_rollback_enabled_confirms_the_old_label(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.update("dev-v2")
    script.poll(env("Updating", "Grey", "dev-v2"), events())
    script.poll(env("Ready", "Green", "dev-v1"), events())
    script.poll(env("Ready", "Green", "dev-v1"), events())  # verified, no redeploy
    with pytest.raises(DeployError, match="dev-v1 is serving again") as failure:
        script.target.deploy(BUNDLE)
    assert failure.value.metadata is not None
    assert failure.value.metadata.status is DeploymentStatus.ROLLED_BACK


@pytest.mark.parametrize("script", [{"rollback": True}], indirect=True)
def test_timeout_aborts_and_rolls_back(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.update("dev-v2")
    for _ in range(3):  # 0 s, 100 s, 200 s: the 250 s deadline passes on the third poll
        script.poll(
            env("Updating", "Grey", "dev-v2"),
            events(("INFO", "Deploying new version to instance(s).")),
        )
    script.stub.add_response("abort_environment_update", {}, {"EnvironmentName": ENV})
    script.stub.add_response(
        "describe_environments",
        {"Environments": [env("Ready", "Yellow", "dev-v1")]},
        {"ApplicationName": APP, "EnvironmentNames": [ENV], "IncludeDeleted": False},
    )
    script.update("dev-v1")
    script.poll(env("Ready", "Green", "dev-v1"), events())
    with pytest.raises(DeployError) as failure:
        script.target.deploy(BUNDLE)
    assert (
        "within 250s" in failure.value.message and "rolled back to dev-v1" in failure.value.message
    )
    assert "deploy-timeout" in failure.value.remediation


def test_environment_busy_with_another_deploy(script: Script) -> None:
    script.live(env("Updating", "Grey", "dev-v0"))
    with pytest.raises(DeployError, match="is Updating, not Ready") as failure:
        script.target.deploy(BUNDLE)
    assert "abort-environment-update" in failure.value.remediation


def test_bundle_must_be_uploaded(script: Script) -> None:
    local = Bundle(Path("x.zip"), "00" * 32, "dev-v2", ("Procfile",), 1)
    with pytest.raises(DeployError, match="not in S3") as failure:
        script.target.deploy(local)
    assert "upload" in failure.value.remediation


@pytest.mark.parametrize("script", [{"strategy": "swap"}], indirect=True)
def test_failed_clone_is_terminated_and_old_keeps_serving(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.stub.add_response("create_configuration_template", {"ApplicationName": APP}, None)
    script.stub.add_response(
        "create_environment", env("Launching", "Grey", "dev-v2", f"{ENV}-x"), None
    )
    clone = env("Ready", "Red", "dev-v2", CLONE, "tmp.eb.com")
    script.poll(
        clone,
        events(
            ("ERROR", "Create environment operation is complete, but with errors."),
            name=clone["EnvironmentName"],
        ),
    )
    script.stub.add_response(
        "terminate_environment",
        clone,
        {
            "EnvironmentName": clone["EnvironmentName"],
            "TerminateResources": True,
            "ForceTerminate": True,
        },
    )
    script.stub.add_response("describe_environments", {"Environments": []}, None)
    script.stub.add_response("delete_configuration_template", {}, None)
    with pytest.raises(DeployError, match="dev-v1 kept serving on the original environment"):
        script.target.deploy(BUNDLE)


def test_rollback_to_previous_label(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v2"))
    script.live(env("Ready", "Green", "dev-v2"))  # previous_version() reads the current label
    script.stub.add_response(
        "describe_application_versions",
        {
            "ApplicationVersions": [
                {
                    "ApplicationName": APP,
                    "VersionLabel": "dev-v2",
                    "DateCreated": T0 + timedelta(hours=1),
                },
                {"ApplicationName": APP, "VersionLabel": "dev-v1", "DateCreated": T0},
            ]
        },
        {"ApplicationName": APP},
    )
    script.update("dev-v1")
    script.poll(
        env("Ready", "Green", "dev-v1"),
        events(("INFO", "Environment update completed successfully.")),
    )
    script.live(env("Ready", "Green", "dev-v1"))
    meta = script.target.rollback()
    assert meta.status is DeploymentStatus.ROLLED_BACK
    assert (meta.rollback_version, meta.previous_version) == ("dev-v1", "dev-v2")


def test_update_refused_because_another_operation_runs(script: Script) -> None:
    script.live(env("Ready", "Green", "dev-v1"))
    script.create_version()
    script.stub.add_client_error(
        "update_environment",
        service_error_code="InvalidParameterValue",
        service_message="Environment named passport-dev is in an invalid state for this "
        "operation. Must be Ready.",
        http_status_code=400,
    )
    with pytest.raises(DeployError, match="invalid state") as failure:
        script.target.deploy(BUNDLE)
    assert "abort-environment-update" in failure.value.remediation


def test_elasticbeanstalk_target_refuses_an_emulator_without_it(tmp_path: Path) -> None:
    """An endpoint that only stubs Elastic Beanstalk (stock moto) is refused up front."""
    with pytest.raises(ValueError, match="needs an endpoint that serves Elastic Beanstalk"):
        make_target(
            "elasticbeanstalk",
            rootdir=tmp_path,
            environment="dev",
            ctx=Script(),
            aws_env={},
            outputs={"ApplicationName": APP, "EnvironmentName": ENV},
            timeout=60,
            emulated=True,
        )


def test_local_is_a_name_for_the_emulated_elastic_beanstalk_only(tmp_path: Path) -> None:
    """``deploy-target local`` builds the same ElasticBeanstalkTarget on an emulating backend,
    and is refused on real AWS (it must never deploy there by surprise)."""

    class Real(Script):
        emulated = False

    settings: dict[str, Any] = {
        "rootdir": tmp_path,
        "environment": "dev",
        "aws_env": {},
        "outputs": {"ApplicationName": APP, "EnvironmentName": ENV},
        "timeout": 60,
    }
    target = make_target("local", ctx=Script(), **settings)
    assert isinstance(target, ElasticBeanstalkTarget)
    assert (target.name, target.application, target.environment) == ("elasticbeanstalk", APP, ENV)
    assert isinstance(
        make_target("elasticbeanstalk", ctx=Real(), **settings), ElasticBeanstalkTarget
    )
    with pytest.raises(ValueError, match="this run's AWS is real: pass --deploy-target elastic"):
        make_target("local", ctx=Real(), **settings)
    with pytest.raises(ValueError, match="no Elastic Beanstalk environment"):
        make_target("local", ctx=Script(), **{**settings, "outputs": {}})


def test_only_errors_after_the_latest_update_marker_judge_a_deployment() -> None:
    """ERRORs of the deployment before (read because the event window starts early) do not
    fail the next one; its own ERRORs do."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def eb(seconds: float, severity: str, message: str) -> DeploymentEvent:
        return DeploymentEvent(
            t0 + timedelta(seconds=seconds), message, severity, "elasticbeanstalk"
        )

    earlier = [
        eb(0, "INFO", "Environment update is starting."),
        eb(1, "ERROR", "Failed to deploy application."),
    ]
    ours = [eb(2, "INFO", "Environment update is starting."), eb(3, "INFO", "Deploying.")]
    assert operation_errors(earlier + ours) == []
    failing = [*ours, eb(4, "ERROR", "Failed to deploy application.")]
    assert [e.message for e in operation_errors(earlier + failing)] == [
        "Failed to deploy application."
    ]
    assert len(operation_errors(earlier)) == 1  # no marker of ours yet: everything counts
