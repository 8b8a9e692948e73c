"""The emulated Elastic Beanstalk, through boto3 against the embedded server.

Every answer is parsed by botocore with the service model and then checked against the
model's output shape by botocore's own validator (types, required members, lengths) plus the
enums; the environments really run the tiny app under gunicorn in a virtualenv built from its
requirements.txt (cached, so only the first run of the suite pays for the build).
"""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.model import Shape
from botocore.validate import ParamValidator

from pytest_pipeline.aws.clients import DUMMY_CREDENTIALS, MotoServer
from pytest_pipeline.deploy.elasticbeanstalk import version_setting

TINYAPP = Path(__file__).with_name("tinyapp")
APP = "emu-app"
BUCKET = "emulated-eb-bundles"
ENV_OPTIONS = "aws:elasticbeanstalk:application:environment"
OPERATIONS = (
    "CreateApplication",
    "DescribeApplications",
    "UpdateApplication",
    "DeleteApplication",
    "CreateApplicationVersion",
    "DescribeApplicationVersions",
    "DeleteApplicationVersion",
    "CreateConfigurationTemplate",
    "DeleteConfigurationTemplate",
    "DescribeConfigurationSettings",
    "CreateEnvironment",
    "DescribeEnvironments",
    "UpdateEnvironment",
    "TerminateEnvironment",
    "DescribeEvents",
    "DescribeEnvironmentHealth",
    "DescribeInstancesHealth",
    "SwapEnvironmentCNAMEs",
    "AbortEnvironmentUpdate",
)


# botocore's model types DescribeEnvironmentHealth's Status with the colour enum
# (EnvironmentHealth); the API reference and the service answer the operational status
# (Ready, Launching, ...), which the emulation answers too.
ENUM_QUIRKS = {("DescribeEnvironmentHealthResult", ".Status")}


def model_violations(shape: Shape, value: Any) -> list[str]:
    """What in ``value`` breaks ``shape``: botocore's validator (types, required members,
    lengths, unknown members) and every enum."""
    report = ParamValidator().validate(value, shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []

    def enums(shape: Shape, value: Any, path: str) -> None:
        if shape.type_name == "structure" and isinstance(value, dict):
            for name, member in shape.members.items():  # type: ignore[attr-defined]
                if name in value:
                    enums(member, value[name], f"{path}.{name}")
        elif shape.type_name == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                enums(shape.member, item, f"{path}[{index}]")  # type: ignore[attr-defined]
        elif (
            shape.type_name == "string"
            and shape.enum
            and value not in shape.enum
            and (top, path) not in ENUM_QUIRKS
        ):
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")

    top = shape.name
    enums(shape, value, "")
    return problems


class CheckedClient:
    """An Elastic Beanstalk client whose every answer is checked against the model."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        method = getattr(self.client, name)
        operation = self.client.meta.method_to_api_mapping[name]

        def call(**kwargs: Any) -> dict[str, Any]:
            answer: dict[str, Any] = method(**kwargs)
            body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
            shape = self.client.meta.service_model.operation_model(operation).output_shape
            if shape is None:
                assert body == {}, f"{operation} has no output shape but answered {body}"
            else:
                problems = model_violations(shape, body)
                assert not problems, f"{operation}: {problems}"
            self.called.add(operation)
            return answer

        return call


def zip_app(app_dir: Path, **changes: str | None) -> bytes:
    """The app folder as a zip; ``changes`` replace (or, with None, drop) members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(app_dir.iterdir()):
            if path.is_file() and path.name not in changes:
                zf.write(path, path.name)
        for name, text in changes.items():
            if text is not None:
                zf.writestr(name, text)
    return buffer.getvalue()


class Emulation:
    """Clients of one embedded server, and helpers to publish versions and wait."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {
            "endpoint_url": url,
            "region_name": "us-east-1",
            **{key.lower(): value for key, value in DUMMY_CREDENTIALS.items()},
        }
        self.url = url
        self.eb = CheckedClient(boto3.client("elasticbeanstalk", **kwargs))
        self.s3 = boto3.client("s3", **kwargs)
        self.logs = boto3.client("logs", **kwargs)
        self.s3.create_bucket(Bucket=BUCKET)
        self.eb.create_application(ApplicationName=APP, Description="emulation tests")

    def version(self, label: str, **changes: str | None) -> str:
        self.s3.put_object(Bucket=BUCKET, Key=f"{label}.zip", Body=zip_app(TINYAPP, **changes))
        self.eb.create_application_version(
            ApplicationName=APP,
            VersionLabel=label,
            SourceBundle={"S3Bucket": BUCKET, "S3Key": f"{label}.zip"},
            Process=True,
        )
        return label

    def describe(self, name: str) -> dict[str, Any]:
        envs = self.eb.describe_environments(EnvironmentNames=[name])["Environments"]
        return dict(envs[0])

    def settle(self, name: str, deadline: float = 120.0) -> dict[str, Any]:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            env = self.describe(name)
            if env["Status"] in ("Ready", "Terminated"):
                return env
            time.sleep(0.2)
        raise AssertionError(f"{name} did not settle within {deadline}s: {env}")

    def create(self, name: str, label: str | None, policy: str = "Immutable") -> dict[str, Any]:
        options = [
            {"Namespace": ENV_OPTIONS, "OptionName": "TABLE_NAME", "Value": "table"},
            {"Namespace": ENV_OPTIONS, "OptionName": "BUCKET_NAME", "Value": "photos"},
            {"Namespace": "aws:elasticbeanstalk:command", "OptionName": "DeploymentPolicy",
             "Value": policy},
            {"Namespace": "aws:elasticbeanstalk:command", "OptionName": "Timeout", "Value": "20"},
            {"Namespace": "aws:elasticbeanstalk:cloudwatch:logs", "OptionName": "StreamLogs",
             "Value": "true"},
        ]  # fmt: skip
        # the deploy code hands the label to the app as APP_VERSION (EB sets no such variable)
        options += version_setting(label) if label else []
        kwargs: dict[str, Any] = {"VersionLabel": label} if label else {}
        self.eb.create_environment(
            ApplicationName=APP, EnvironmentName=name, OptionSettings=options, **kwargs
        )
        return self.settle(name)

    def events(self, name: str) -> list[dict[str, Any]]:
        return list(self.eb.describe_events(EnvironmentName=name)["Events"])


@pytest.fixture(scope="module")
def emulation() -> Iterator[Emulation]:
    with MotoServer() as server:
        yield Emulation(server.endpoint_url)


class Poller(threading.Thread):
    """GETs ``/health`` of a URL continuously; counts failures and versions seen."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.sent, self.failures = url, 0, 0
        self.versions: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.sent += 1
            try:
                answer = requests.get(self.url + "/health", timeout=5)
                answer.raise_for_status()
                version = answer.json()["version"]
                if not self.versions or self.versions[-1] != version:
                    self.versions.append(version)
            except (requests.RequestException, ValueError):
                self.failures += 1
            time.sleep(0.01)

    def stop(self) -> Poller:
        self.done.set()
        self.join(10)
        return self


def test_model_check_catches_a_bad_answer() -> None:
    """The checker itself fails on answers the model forbids (so passing means something)."""
    model = boto3.client("elasticbeanstalk", region_name="us-east-1").meta.service_model
    shape = model.operation_model("DescribeEnvironments").output_shape
    assert shape is not None
    good = {"Environments": [{"EnvironmentName": "good-env", "Status": "Ready", "Health": "Green"}]}
    assert model_violations(shape, good) == []
    bad = {"Environments": [{"EnvironmentName": "e", "Status": "Sleeping", "Health": 3}]}
    problems = "\n".join(model_violations(shape, bad))
    assert "EnvironmentName" in problems and "Health" in problems and "Sleeping" in problems


@pytest.mark.slow
def test_every_operation_answers_in_the_service_model(emulation: Emulation) -> None:
    """Each operation the pipeline uses answers with the model's shapes, and with EB's
    semantics: versions from S3, a running environment behind its CNAME, events, health,
    settings, templates, swap, abort, terminate and the deletions."""
    eb = emulation.eb
    assert (
        eb.describe_applications(ApplicationNames=[APP])["Applications"][0]["ApplicationName"]
        == APP
    )
    eb.update_application(ApplicationName=APP, Description="changed")
    v1 = emulation.version("walk-v1")
    versions = eb.describe_application_versions(ApplicationName=APP, VersionLabels=[v1])
    assert versions["ApplicationVersions"][0]["Status"] == "Processed"
    env = emulation.create("walk-env", v1)
    assert (env["Status"], env["Health"], env["VersionLabel"]) == ("Ready", "Green", v1)
    body = requests.get(f"http://{env['CNAME']}/health", timeout=5).json()
    assert body["version"] == v1 and body["checks"]["dynamodb"]["table"] == "table"
    settings = eb.describe_configuration_settings(ApplicationName=APP, EnvironmentName="walk-env")
    options = {
        (o["Namespace"], o["OptionName"]): o["Value"]
        for o in settings["ConfigurationSettings"][0]["OptionSettings"]
    }
    assert options[("aws:elasticbeanstalk:command", "DeploymentPolicy")] == "Immutable"
    health = eb.describe_environment_health(EnvironmentName="walk-env", AttributeNames=["All"])
    assert health["Color"] == "Green" and health["InstancesHealth"]["Ok"] == 1
    instances = eb.describe_instances_health(EnvironmentName="walk-env", AttributeNames=["All"])
    assert instances["InstanceHealthList"][0]["Deployment"]["VersionLabel"] == v1
    eb.create_configuration_template(
        ApplicationName=APP, TemplateName="walk-config", EnvironmentId=env["EnvironmentId"]
    )
    template = eb.describe_configuration_settings(ApplicationName=APP, TemplateName="walk-config")
    assert template["ConfigurationSettings"][0]["TemplateName"] == "walk-config"
    eb.create_environment(
        OptionSettings=version_setting(v1),
        ApplicationName=APP, EnvironmentName="walk-clone", TemplateName="walk-config",
        VersionLabel=v1,
    )  # fmt: skip
    clone = emulation.settle("walk-clone")
    eb.swap_environment_cnames(
        SourceEnvironmentName="walk-env", DestinationEnvironmentName="walk-clone"
    )
    assert emulation.describe("walk-clone")["CNAME"] == env["CNAME"]
    assert emulation.describe("walk-env")["CNAME"] == clone["CNAME"]
    v2 = emulation.version("walk-v2", **{"fail_check.txt": "dynamodb"})  # never healthy
    updating = eb.update_environment(
        EnvironmentName="walk-clone", VersionLabel=v2, OptionSettings=version_setting(v2)
    )
    assert updating["Status"] == "Updating"
    with pytest.raises(ClientError, match="invalid state"):
        eb.update_environment(
            EnvironmentName="walk-clone", VersionLabel=v1, OptionSettings=version_setting(v1)
        )
    eb.abort_environment_update(EnvironmentName="walk-clone")
    aborted = emulation.settle("walk-clone")
    assert aborted["VersionLabel"] == v1
    messages = [e["Message"] for e in emulation.events("walk-clone")]
    assert any("aborted" in m for m in messages), messages
    with pytest.raises(ClientError, match="being used"):
        eb.delete_application_version(ApplicationName=APP, VersionLabel=v1)
    eb.terminate_environment(EnvironmentName="walk-clone")
    eb.terminate_environment(EnvironmentName="walk-env")
    assert emulation.settle("walk-env")["Status"] == "Terminated"
    assert emulation.settle("walk-clone")["Status"] == "Terminated"
    gone = eb.describe_environments(ApplicationName=APP, IncludeDeleted=False)["Environments"]
    assert not [e for e in gone if e["EnvironmentName"].startswith("walk-")]
    eb.delete_configuration_template(ApplicationName=APP, TemplateName="walk-config")
    eb.delete_application_version(ApplicationName=APP, VersionLabel=v2, DeleteSourceBundle=True)
    with pytest.raises(ClientError):
        emulation.s3.head_object(Bucket=BUCKET, Key=f"{v2}.zip")
    eb.create_application(ApplicationName="walk-doomed")
    eb.delete_application(ApplicationName="walk-doomed")
    missing = set(OPERATIONS) - eb.called
    assert not missing, f"operations not walked: {sorted(missing)}"


@pytest.mark.slow
def test_version_that_cannot_start_leaves_the_old_label_green(emulation: Emulation) -> None:
    """Immutable: the new version never takes traffic; the environment is Ready and Green on
    the old label, with ERROR events (the trap every deploy tool must detect)."""
    good = emulation.version("trap-good")
    env = emulation.create("trap-env", good)
    broken = emulation.version("trap-broken", Procfile="web: python -c 'raise SystemExit(3)'\n")
    poller = Poller(f"http://{env['CNAME']}")
    poller.start()
    emulation.eb.update_environment(
        EnvironmentName="trap-env", VersionLabel=broken, OptionSettings=version_setting(broken)
    )
    after = emulation.settle("trap-env")
    poller.stop()
    assert (after["Status"], after["Health"], after["VersionLabel"]) == ("Ready", "Green", good)
    errors = [e["Message"] for e in emulation.events("trap-env") if e["Severity"] == "ERROR"]
    assert any("Failed to deploy application" in m for m in errors), errors
    assert poller.sent > 0 and poller.failures == 0 and poller.versions == [good]
    emulation.eb.terminate_environment(EnvironmentName="trap-env")


@pytest.mark.slow
def test_missing_requirement_fails_and_the_old_version_stays(emulation: Emulation) -> None:
    """A bundle whose requirements.txt lacks a package the app imports fails to start: the
    virtualenv holds only what the bundle names, never the emulator's packages."""
    good = emulation.version("req-good")
    emulation.create("req-env", good)
    lacking = emulation.version("req-lacking", **{"requirements.txt": "gunicorn>=22\n"})
    emulation.eb.update_environment(
        EnvironmentName="req-env", VersionLabel=lacking, OptionSettings=version_setting(lacking)
    )
    after = emulation.settle("req-env")
    assert (after["Health"], after["VersionLabel"]) == ("Green", good)
    errors = " ".join(e["Message"] for e in emulation.events("req-env") if e["Severity"] == "ERROR")
    assert "No module named 'flask'" in errors, errors
    emulation.eb.terminate_environment(EnvironmentName="req-env")


@pytest.mark.slow
def test_all_at_once_has_an_outage_and_streams_logs(emulation: Emulation) -> None:
    """AllAtOnce stops the serving instance before the new one starts: requests fail while it
    restarts. The new instance's output reaches CloudWatch Logs as Elastic Beanstalk names it."""
    first = emulation.version("aao-v1")
    env = emulation.create("aao-env", first, policy="AllAtOnce")
    second = emulation.version("aao-v2")
    poller = Poller(f"http://{env['CNAME']}")
    poller.start()
    emulation.eb.update_environment(
        EnvironmentName="aao-env", VersionLabel=second, OptionSettings=version_setting(second)
    )
    after = emulation.settle("aao-env")
    time.sleep(0.3)
    poller.stop()
    assert after["VersionLabel"] == second and after["Health"] == "Green"
    assert poller.failures > 0, "AllAtOnce deployed without any failed request"
    assert poller.versions == [first, second]
    group = "/aws/elasticbeanstalk/aao-env/var/log/web.stdout.log"
    deadline = time.monotonic() + 10
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not events:
        events = emulation.logs.filter_log_events(logGroupName=group)["events"]
        time.sleep(0.3)
    assert any("Listening at" in e["message"] for e in events), events[:5]
    emulation.eb.terminate_environment(EnvironmentName="aao-env")
