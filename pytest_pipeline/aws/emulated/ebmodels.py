"""The emulated Elastic Beanstalk backend: applications, versions, templates, environments.

A subclass of moto's ``EBBackend`` (which keeps its tagging operations) holding the state
Elastic Beanstalk keeps, with its documented semantics:

- application versions read their source bundle from the embedded S3 when created
  (``Process=True`` checks it is a readable zip: ``Processed`` or ``Failed``);
- an environment runs its version (``instances.Runtime``) behind its CNAME
  (``instances.Endpoint``); creating, updating and terminating are asynchronous
  (``Launching``/``Updating``/``Terminating``, then ``Ready``/``Terminated``) and write the
  events Elastic Beanstalk writes; a new version under a side-by-side policy that cannot
  start leaves the environment Ready and Green on the *old* label with ERROR events;
- option settings of ``aws:elasticbeanstalk:application:environment`` are the instance's
  process environment, with the region, the emulator's endpoint and dummy credentials in
  place of the instance profile's;
- health is measured: Green while the instance answers its health check path, Red when it
  does not, Grey while nothing runs.
"""

from __future__ import annotations

import atexit
import contextlib
import secrets
import shutil
import tempfile
import threading
import time
import weakref
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, ClassVar

from moto.core.base_backend import BackendDict
from moto.elasticbeanstalk.exceptions import InvalidParameterValueError
from moto.elasticbeanstalk.models import EBBackend
from moto.elasticbeanstalk.utils import make_arn
from moto.logs.models import logs_backends
from moto.s3.models import s3_backends

from pytest_pipeline.aws.clients import DUMMY_CREDENTIALS
from pytest_pipeline.aws.emulated import instances
from pytest_pipeline.aws.emulated.instances import Cancelled, DeploymentFailed, Endpoint, Runtime
from pytest_pipeline.aws.emulated.logship import LogShipper
from pytest_pipeline.aws.monitoring import eb_log_group
from pytest_pipeline.deploy.proxy import ProxyError
from pytest_pipeline.models import utcnow

ENV_NAMESPACE = "aws:elasticbeanstalk:application:environment"
COMMAND_NAMESPACE = "aws:elasticbeanstalk:command"
LOGS_NAMESPACE = "aws:elasticbeanstalk:cloudwatch:logs"
APPLICATION_NAMESPACE = "aws:elasticbeanstalk:application"
SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
DEFAULT_STACK = "64bit Amazon Linux 2023 v4.3.2 running Python 3.11"
HEALTH_CACHE = 1.0
DEFAULT_HEALTH_TIMEOUT = 120.0
MAX_EVENTS = 5000
MAX_MESSAGE = 4000

OptionKey = tuple[str, str]


class EmulatorState:
    """Process-wide settings of the emulation (set by ``install``)."""

    endpoint_url: str | None = None
    dummy_credentials: ClassVar[dict[str, str]] = dict(DUMMY_CREDENTIALS)


def invalid(message: str) -> InvalidParameterValueError:
    return InvalidParameterValueError(message)


def options_from(settings: list[dict[str, Any]] | None) -> dict[OptionKey, str]:
    """``OptionSettings`` (API shape) as ``{(namespace, name): value}``."""
    return {
        (str(item.get("Namespace", "")), str(item["OptionName"])): str(item.get("Value", ""))
        for item in settings or []
        if item.get("OptionName")
    }


def options_list(options: dict[OptionKey, str]) -> list[dict[str, str]]:
    return [
        {"Namespace": ns, "OptionName": name, "Value": value}
        for (ns, name), value in sorted(options.items())
    ]


@dataclass
class AppVersion:
    application: str
    label: str
    description: str
    bucket: str
    key: str
    arn: str
    status: str = "Unprocessed"
    created: datetime = field(default_factory=utcnow)

    def describe(self) -> dict[str, Any]:
        return {
            "ApplicationVersionArn": self.arn,
            "ApplicationName": self.application,
            "Description": self.description,
            "VersionLabel": self.label,
            "SourceBundle": {"S3Bucket": self.bucket, "S3Key": self.key},
            "DateCreated": self.created,
            "DateUpdated": self.created,
            "Status": self.status,
        }


@dataclass
class ConfigTemplate:
    application: str
    name: str
    solution_stack: str
    description: str
    options: dict[OptionKey, str]
    created: datetime = field(default_factory=utcnow)

    def describe(self) -> dict[str, Any]:
        return {
            "SolutionStackName": self.solution_stack,
            "ApplicationName": self.application,
            "TemplateName": self.name,
            "Description": self.description,
            "DateCreated": self.created,
            "DateUpdated": self.created,
            "OptionSettings": options_list(self.options),
        }


@dataclass
class EbEvent:
    message: str
    application: str
    environment: str | None = None
    version_label: str | None = None
    severity: str = "INFO"
    date: datetime = field(default_factory=utcnow)

    def describe(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "EventDate": self.date,
            "Message": self.message,
            "ApplicationName": self.application,
            "Severity": self.severity,
        }
        if self.environment:
            item["EnvironmentName"] = self.environment
        if self.version_label:
            item["VersionLabel"] = self.version_label
        return item


class EmulatedEnvironment:
    """One environment: its description, option settings, CNAME endpoint and runtime."""

    def __init__(
        self,
        backend: EmulatedEBBackend,
        application: EmulatedApplication,
        name: str,
        solution_stack: str,
        options: dict[OptionKey, str],
        description: str,
        tags: dict[str, str],
        tier: dict[str, str] | None,
    ) -> None:
        self.backend = weakref.proxy(backend)
        self.application = application
        self.environment_name = name
        self.environment_id = "e-" + secrets.token_hex(5)
        self.solution_stack_name = solution_stack
        self.options = options
        self.description = description
        self.tags = tags
        self.tier = {"Name": "WebServer", "Type": "Standard", "Version": "1.0", **(tier or {})}
        self.version_label: str | None = None
        self.status = "Launching"
        self.health = "Grey"
        self.health_status = "Pending"
        self.causes: list[str] = []
        self.created = utcnow()
        self.updated = self.created
        self.endpoint: Endpoint | None = None
        self.cname = ""
        self.runtime = Runtime(backend.home / name / self.environment_id, self.say)
        self.cancel = threading.Event()
        self.worker: threading.Thread | None = None
        self.failed = False
        self._checked = 0.0
        self._green = False
        self.terminated_at: datetime | None = None

    # -- identity --------------------------------------------------------------------------

    @property
    def application_name(self) -> str:
        return self.application.application_name

    @property
    def environment_arn(self) -> str:
        return make_arn(
            self.backend.region_name,
            self.backend.account_id,
            "environment",
            f"{self.application_name}/{self.environment_name}",
        )

    def option(self, namespace: str, name: str, default: str = "") -> str:
        return self.options.get((namespace, name), default)

    @property
    def policy(self) -> str:
        policy = self.option(COMMAND_NAMESPACE, "DeploymentPolicy", "AllAtOnce")
        return policy if policy in instances.POLICIES else "AllAtOnce"

    @property
    def health_path(self) -> str:
        return self.option(APPLICATION_NAMESPACE, "Application Healthcheck URL", "/health") or "/"

    def say(self, message: str, severity: str = "INFO") -> None:
        self.backend.add_event(
            message, self.application_name, self.environment_name, severity, self.version_label
        )

    # -- health ----------------------------------------------------------------------------

    def refresh_health(self) -> None:
        """Measure the instance (at most once a second) and set Health/HealthStatus."""
        if self.status in ("Launching", "Updating", "Terminating"):
            if self.status == "Launching":
                self.health, self.health_status = "Grey", "Pending"
            else:
                self.health_status = "Info"
            return
        if self.status == "Terminated":
            self.health, self.health_status, self.causes = "Grey", "NoData", []
            return
        instance = self.runtime.instance
        if instance is None:
            if self.failed:
                self.health, self.health_status = "Red", "Severe"
                self.causes = ["No instance serves the application: the last deployment failed."]
            else:
                self.health, self.health_status, self.causes = "Grey", "NoData", []
            return
        now = _monotonic()
        if now - self._checked >= HEALTH_CACHE:
            self._green = instance.healthy(self.health_path)
            self._checked = now
        if self._green:
            self.health, self.health_status, self.causes = "Green", "Ok", []
        else:
            self.health, self.health_status = "Red", "Severe"
            self.causes = [
                f"Instance {instance.instance_id}: {self.health_path} does not answer 200"
                + ("" if instance.alive() else " (the application process exited)")
            ]

    def describe(self) -> dict[str, Any]:
        self.refresh_health()
        item: dict[str, Any] = {
            "EnvironmentName": self.environment_name,
            "EnvironmentId": self.environment_id,
            "ApplicationName": self.application_name,
            "SolutionStackName": self.solution_stack_name,
            "Description": self.description,
            "EndpointURL": self.cname,
            "CNAME": self.cname,
            "DateCreated": self.created,
            "DateUpdated": self.updated,
            "Status": self.status,
            "AbortableOperationInProgress": self.status == "Updating",
            "Health": self.health,
            "HealthStatus": self.health_status,
            "Tier": self.tier,
            "EnvironmentLinks": [],
            "EnvironmentArn": self.environment_arn,
        }
        if self.version_label:
            item["VersionLabel"] = self.version_label
        return item

    # -- operations (run on a worker thread) -------------------------------------------------

    def variables(self) -> dict[str, str]:
        """The instance's process environment: the application:environment options, the
        region and, in place of the instance profile, the emulator's endpoint and keys."""
        region = self.backend.region_name
        values = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        if EmulatorState.endpoint_url:
            values["AWS_ENDPOINT_URL"] = EmulatorState.endpoint_url
        values.update(EmulatorState.dummy_credentials)
        values.update(
            {name: value for (ns, name), value in self.options.items() if ns == ENV_NAMESPACE}
        )
        return values

    def start(self, status: str, work: Any) -> None:
        self.status = status
        self.updated = utcnow()
        self.cancel.clear()
        self.worker = threading.Thread(
            target=self._guarded, args=(work,), name=f"eb-{self.environment_name}", daemon=True
        )
        self.worker.start()

    def _guarded(self, work: Any) -> None:
        try:
            work()
        except Exception as error:  # an emulator bug must not hang the environment
            self.say(f"Internal error of the emulated environment: {error!r}", "ERROR")
            if self.status != "Terminated":
                self.status = "Ready"
        finally:
            self.updated = utcnow()

    def open_endpoint(self) -> None:
        """Create the environment's load balancer: its CNAME exists from now on."""
        self.say("createEnvironment is starting.")
        try:
            self.endpoint = instances.open_endpoint(self.runtime.home / "logs" / "proxy.log")
        except ProxyError as error:
            raise invalid(
                f"Creating the load balancer of {self.environment_name} failed: {error}"
            ) from error
        self.cname = self.endpoint.cname
        self.say(f"Created load balancer; the environment's URL is http://{self.cname}.")

    def launch(self, label: str | None) -> None:
        if label:
            self.deploy(label, creating=True)
        self.status = "Ready"
        self.say("createEnvironment completed successfully.")

    def deploy(self, label: str, creating: bool = False) -> None:
        """Deploy ``label`` with the environment's policy (or launch it when ``creating``)."""
        previous = self.version_label
        version = self.application.versions.get(label)
        policy = "AllAtOnce" if creating else self.policy
        if not creating:
            self.say("Environment update is starting.")
            self.say(f"Deploying new version to instance(s) with policy {policy}.")
        try:
            if version is None:
                raise DeploymentFailed(f"No Application Version named '{label}' found.")
            bundle = self.backend.read_bundle(version)
            instance = self.runtime.deploy_version(
                label,
                bundle,
                self.variables(),
                policy,
                lambda: self.endpoint,
                float(self.option(COMMAND_NAMESPACE, "Timeout", str(DEFAULT_HEALTH_TIMEOUT))),
                self.cancel,
            )
        except Cancelled:
            self._aborted(previous)
            return
        except DeploymentFailed as error:
            self._deploy_failed(label, previous, policy, str(error))
            return
        self.version_label, self.failed, self._checked = label, False, 0.0
        self._stream_logs(instance)
        self.say(f"Instance deployment completed successfully on {instance.instance_id}.")
        if not creating:
            self.say("New application version was deployed to running EC2 instances.")
            self.say("Environment update completed successfully.")
        self.status = "Ready"

    def _deploy_failed(self, label: str, previous: str | None, policy: str, detail: str) -> None:
        self.say(detail[:MAX_MESSAGE], "ERROR")
        self.say("Failed to deploy application.", "ERROR")
        if policy in instances.SIDE_BY_SIDE and self.runtime.instance is not None:
            self.say(
                f"{policy} deployment of {label} failed; the environment continues to run "
                f"{previous} (the previous version), which never stopped serving.",
                "ERROR",
            )
        else:
            self.failed = self.runtime.instance is None
            self.say(
                f"Update environment operation is complete, but with errors: {label} is not "
                "running on any instance. Deploy a working version.",
                "ERROR",
            )
        self._checked = 0.0
        self.status = "Ready"

    def _aborted(self, previous: str | None) -> None:
        self.say("Environment update was aborted; rolling back to the previous version.", "WARN")
        if self.runtime.instance is None and previous:
            self.cancel.clear()
            self.deploy(previous, creating=True)
            self.version_label = previous
        self.status = "Ready"
        self.say("Environment update is complete after the abort.")

    def restart_with_settings(self) -> None:
        self.say("Environment update is starting.")
        if self.version_label:
            self.deploy(self.version_label)
            return
        self.say("Environment update completed successfully.")
        self.status = "Ready"

    def _stream_logs(self, instance: instances.Instance) -> None:
        if self.option(LOGS_NAMESPACE, "StreamLogs", "false").lower() != "true":
            return
        retention = self.option(LOGS_NAMESPACE, "RetentionInDays", "7")
        self.backend.shipper.follow(
            eb_log_group(self.environment_name),
            instance.instance_id,
            instance.log_path,
            int(retention) if retention.isdigit() else None,
        )

    def terminate(self) -> None:
        self.say("terminateEnvironment is starting.")
        instance = self.runtime.instance
        if instance is not None:
            self.backend.shipper.forget(instance.instance_id)
        self.runtime.stop()
        if self.endpoint is not None:
            with contextlib.suppress(Exception):
                self.endpoint.close()
            self.endpoint = None
        shutil.rmtree(self.runtime.home / "versions", ignore_errors=True)
        self.status, self.health, self.health_status = "Terminated", "Grey", "NoData"
        self.terminated_at = utcnow()
        self.say("terminateEnvironment completed successfully.")

    def shutdown(self) -> None:
        """Stop everything at once (emulator shutdown or reset)."""
        self.cancel.set()
        self.runtime.stop()
        if self.endpoint is not None:
            with contextlib.suppress(Exception):
                self.endpoint.close()
            self.endpoint = None


def _monotonic() -> float:
    return time.monotonic()


class EmulatedApplication:
    def __init__(self, backend: EmulatedEBBackend, name: str, description: str) -> None:
        self.application_name = name
        self.description = description
        self.arn = make_arn(backend.region_name, backend.account_id, "application", name)
        self.created = utcnow()
        self.environments: dict[str, EmulatedEnvironment] = {}
        self.versions: dict[str, AppVersion] = {}
        self.templates: dict[str, ConfigTemplate] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "ApplicationArn": self.arn,
            "ApplicationName": self.application_name,
            "Description": self.description,
            "DateCreated": self.created,
            "DateUpdated": self.created,
            "Versions": list(self.versions),
            "ConfigurationTemplates": list(self.templates),
        }


_live_backends: weakref.WeakSet[EmulatedEBBackend] = weakref.WeakSet()
_root: list[Path] = []


def _process_root() -> Path:
    """This process's folder of environment files, removed when the process exits."""
    if not _root:
        _root.append(Path(tempfile.mkdtemp(prefix="emulated-eb-")))
        atexit.register(shutil.rmtree, _root[0], True)
    return _root[0]


class EmulatedEBBackend(EBBackend):
    """moto's ``EBBackend`` with the rest of the API the pipeline uses (see the module doc)."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        # moto's backend types it with its own FakeApplication; ours replaces that class
        self.applications: dict[str, EmulatedApplication] = {}  # type: ignore[assignment]
        self.events: list[EbEvent] = []
        self.terminated: list[EmulatedEnvironment] = []
        self.lock = threading.RLock()
        self._home: Path | None = None
        self.shipper = LogShipper(self._logs_backend)
        _live_backends.add(self)

    @property
    def _url_module(self) -> Any:
        from pytest_pipeline.aws.emulated import ebresponses  # a cycle: it imports this module

        return ebresponses

    @property
    def home(self) -> Path:
        if self._home is None:
            self._home = Path(tempfile.mkdtemp(prefix="backend-", dir=_process_root()))
        return self._home

    def _logs_backend(self) -> Any:
        return logs_backends[self.account_id][self.region_name]

    def read_bundle(self, version: AppVersion) -> bytes:
        """The source bundle of ``version`` from the embedded S3."""
        s3 = s3_backends[self.account_id][self.partition]
        try:
            key = s3.get_object(version.bucket, version.key)
        except Exception as error:  # moto raises its own S3 client errors
            raise DeploymentFailed(
                f"Unable to download from S3 location (Bucket: {version.bucket} Key: "
                f"{version.key}). Reason: {type(error).__name__}"
            ) from error
        if key is None:
            raise DeploymentFailed(
                f"Unable to download from S3 location (Bucket: {version.bucket} Key: "
                f"{version.key}). Reason: Not Found"
            )
        return bytes(key.value)

    def add_event(
        self,
        message: str,
        application: str,
        environment: str | None = None,
        severity: str = "INFO",
        version_label: str | None = None,
    ) -> None:
        with self.lock:
            self.events.append(EbEvent(message, application, environment, version_label, severity))
            del self.events[:-MAX_EVENTS]

    # -- lookup ----------------------------------------------------------------------------

    def app(self, name: str) -> EmulatedApplication:
        try:
            return self.applications[name]
        except KeyError:
            raise invalid(f"No Application named '{name}' found.") from None

    def all_environments(self, include_deleted: bool = False) -> Iterator[EmulatedEnvironment]:
        for app in self.applications.values():
            yield from app.environments.values()
        if include_deleted:
            yield from self.terminated

    def env(self, name: str | None = None, env_id: str | None = None) -> EmulatedEnvironment:
        for item in self.all_environments():
            if (name and item.environment_name == name) or (
                env_id and item.environment_id == env_id
            ):
                return item
        raise invalid(f"No Environment found for EnvironmentName = '{name or env_id}'.")

    # -- applications ----------------------------------------------------------------------

    def create_application(  # type: ignore[override]  # moto's signature, our models
        self, application_name: str, description: str = ""
    ) -> EmulatedApplication:
        with self.lock:
            if application_name in self.applications:
                raise invalid(f"Application {application_name} already exists.")
            app = EmulatedApplication(self, application_name, description)
            self.applications[application_name] = app
            return app

    def delete_application(self, application_name: str, terminate_by_force: bool = False) -> None:
        with self.lock:
            app = self.app(application_name)
            running = [e for e in app.environments.values() if e.status != "Terminated"]
            if running and not terminate_by_force:
                raise invalid(
                    f"Unable to delete application {application_name} because it has running "
                    f"environments: {', '.join(e.environment_name for e in running)}. Terminate "
                    "them first, or pass TerminateEnvByForce."
                )
            for item in running:
                item.shutdown()
                item.status = "Terminated"
                self.terminated.append(item)
            del self.applications[application_name]

    # -- versions --------------------------------------------------------------------------

    def create_application_version(
        self,
        application: str,
        label: str,
        description: str,
        bundle: dict[str, str] | None,
        auto_create: bool,
        process: bool,
    ) -> AppVersion:
        with self.lock:
            if application not in self.applications and auto_create:
                self.create_application(application)
            app = self.app(application)
            if label in app.versions:
                raise invalid(f"Application Version {label} already exists.")
            if not bundle or not bundle.get("S3Bucket") or not bundle.get("S3Key"):
                raise invalid("SourceBundle (S3Bucket and S3Key) is required by this emulation.")
            arn = make_arn(
                self.region_name, self.account_id, "applicationversion", f"{application}/{label}"
            )
            version = AppVersion(
                application, label, description, bundle["S3Bucket"], bundle["S3Key"], arn
            )
            try:
                data = self.read_bundle(version)
            except DeploymentFailed as error:
                raise invalid(str(error)) from None
            if process:
                version.status = "Processed" if _is_zip(data) else "Failed"
                if version.status == "Failed":
                    self.add_event(
                        f"Application version {label} is not a valid zip archive: processing "
                        "failed.",
                        application,
                        severity="ERROR",
                        version_label=label,
                    )
            app.versions[label] = version
            return version

    def delete_application_version(
        self, application: str, label: str, delete_source_bundle: bool
    ) -> None:
        with self.lock:
            app = self.app(application)
            version = app.versions.get(label)
            if version is None:
                raise invalid(f"No Application Version named '{label}' found.")
            users = [
                e.environment_name
                for e in app.environments.values()
                if e.version_label == label and e.status != "Terminated"
            ]
            if users:
                raise invalid(
                    f"Unable to delete application version '{label}' because it is being used "
                    f"by environment(s): {', '.join(users)}"
                )
            del app.versions[label]
        if delete_source_bundle:
            with contextlib.suppress(Exception):
                s3_backends[self.account_id][self.partition].delete_object(
                    version.bucket, version.key
                )

    # -- templates -------------------------------------------------------------------------

    def create_configuration_template(
        self,
        application: str,
        name: str,
        solution_stack: str | None,
        source: dict[str, str] | None,
        environment_id: str | None,
        description: str,
        settings: list[dict[str, Any]] | None,
    ) -> ConfigTemplate:
        with self.lock:
            app = self.app(application)
            if name in app.templates:
                raise invalid(f"Configuration Template {name} already exists.")
            options: dict[OptionKey, str] = {}
            stack = solution_stack or ""
            if environment_id:
                env = self.env(env_id=environment_id)
                options, stack = dict(env.options), stack or env.solution_stack_name
            elif source and source.get("TemplateName"):
                base = self.app(source.get("ApplicationName") or application).templates.get(
                    source["TemplateName"]
                )
                if base is None:
                    raise invalid(f"No Configuration Template named '{source['TemplateName']}'.")
                options, stack = dict(base.options), stack or base.solution_stack
            if not stack:
                raise invalid("Specify a SolutionStackName, SourceConfiguration or EnvironmentId.")
            options.update(options_from(settings))
            template = ConfigTemplate(application, name, stack, description, options)
            app.templates[name] = template
            return template

    def delete_configuration_template(self, application: str, name: str) -> None:
        with self.lock:
            app = self.app(application)
            if app.templates.pop(name, None) is None:
                raise invalid(f"No Configuration Template named '{name}' found.")

    # -- environments ----------------------------------------------------------------------

    def create_environment(  # type: ignore[override]  # moto's signature, our models
        self,
        application: str,
        name: str,
        solution_stack: str | None = None,
        template: str | None = None,
        label: str | None = None,
        settings: list[dict[str, Any]] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        tier: dict[str, str] | None = None,
    ) -> EmulatedEnvironment:
        with self.lock:
            app = self.app(application)
            if any(e.environment_name == name for e in self.all_environments()):
                raise invalid(f"Environment {name} already exists.")
            options: dict[OptionKey, str] = {}
            stack = solution_stack or ""
            if template:
                source = app.templates.get(template)
                if source is None:
                    raise invalid(f"No Configuration Template named '{template}' found.")
                options, stack = dict(source.options), stack or source.solution_stack
            if label and label not in app.versions:
                raise invalid(f"No Application Version named '{label}' found.")
            options.update(options_from(settings))
            env = EmulatedEnvironment(
                self,
                app,
                name,
                stack or DEFAULT_STACK,
                options,
                description,
                dict(tags or {}),
                tier,
            )
            env.open_endpoint()
            app.environments[name] = env
            if label:
                env.start("Launching", lambda: env.launch(label))
            else:
                env.launch(None)
            return env

    def update_environment(
        self,
        name: str | None,
        env_id: str | None,
        label: str | None,
        template: str | None,
        settings: list[dict[str, Any]] | None,
        remove: list[dict[str, str]] | None,
        description: str | None,
    ) -> EmulatedEnvironment:
        with self.lock:
            env = self.env(name, env_id)
            if env.status != "Ready":
                raise invalid(
                    f"Environment named {env.environment_name} is in an invalid state for this "
                    "operation. Must be Ready."
                )
            app = env.application
            if label and label not in app.versions:
                raise invalid(f"No Application Version named '{label}' found.")
            changed = False
            if template:
                source = app.templates.get(template)
                if source is None:
                    raise invalid(f"No Configuration Template named '{template}' found.")
                env.options.update(source.options)
                changed = True
            new = options_from(settings)
            for item in remove or []:
                if env.options.pop((item.get("Namespace", ""), item.get("OptionName", "")), None):
                    changed = True
            if any(env.options.get(key) != value for key, value in new.items()):
                env.options.update(new)
                changed = True
            if description is not None:
                env.description = description
            if label:
                env.start("Updating", lambda: env.deploy(label))
            elif changed:
                env.start("Updating", env.restart_with_settings)
            return env

    def terminate_environment(
        self, name: str | None, env_id: str | None, force: bool = False
    ) -> EmulatedEnvironment:
        with self.lock:
            env = self.env(name, env_id)
            if env.status not in ("Ready",) and not force:
                raise invalid(
                    f"Environment named {env.environment_name} is in an invalid state for this "
                    "operation. Must be Ready."
                )
            env.cancel.set()
            del env.application.environments[env.environment_name]
            self.terminated.append(env)
            env.start("Terminating", env.terminate)
            return env

    def abort_environment_update(self, name: str | None, env_id: str | None) -> None:
        with self.lock:
            env = self.env(name, env_id)
            if env.status != "Updating":
                raise invalid(
                    f"Environment named {env.environment_name} is in an invalid state for this "
                    "operation. Must be Updating."
                )
            env.say("Environment update is being aborted.", "WARN")
            env.cancel.set()

    def swap_environment_cnames(
        self,
        source: EmulatedEnvironment,
        destination: EmulatedEnvironment,
    ) -> None:
        with self.lock:
            for env in (source, destination):
                if env.status != "Ready":
                    raise invalid(
                        f"Environment named {env.environment_name} is in an invalid state for "
                        "this operation. Must be Ready."
                    )
            source.endpoint, destination.endpoint = destination.endpoint, source.endpoint
            source.cname, destination.cname = destination.cname, source.cname
            for env in (source, destination):
                if env.endpoint is not None:
                    env.endpoint.point_at(env.runtime.instance)
                env.updated = utcnow()
            message = (
                f"Completed swapping CNAMEs for environments '{source.environment_name}' and "
                f"'{destination.environment_name}'."
            )
            source.say(message)
            destination.say(message)

    def configuration_settings(self, env: EmulatedEnvironment) -> dict[str, Any]:
        options = dict(env.options)
        options.setdefault((COMMAND_NAMESPACE, "DeploymentPolicy"), env.policy)
        return {
            "SolutionStackName": env.solution_stack_name,
            "ApplicationName": env.application_name,
            "EnvironmentName": env.environment_name,
            "DeploymentStatus": "deployed",
            "DateCreated": env.created,
            "DateUpdated": env.updated,
            "OptionSettings": options_list(options),
        }

    def find_events(
        self,
        application: str | None,
        environment: str | None,
        version_label: str | None,
        severity: str | None,
        start: datetime | None,
        end: datetime | None,
    ) -> list[EbEvent]:
        floor = SEVERITIES.index(severity) if severity in SEVERITIES else 0
        with self.lock:
            found = [
                e
                for e in self.events
                if (not application or e.application == application)
                and (not environment or e.environment == environment)
                and (not version_label or e.version_label == version_label)
                and SEVERITIES.index(e.severity) >= floor
                and (start is None or e.date >= start)
                and (end is None or e.date < end)
            ]
        return list(reversed(found))

    def recently_terminated(self, back_to: datetime | None) -> list[EmulatedEnvironment]:
        limit = back_to or utcnow() - timedelta(hours=1)
        return [e for e in self.terminated if e.terminated_at is None or e.terminated_at >= limit]

    # -- lifecycle -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop every environment's processes, remove their files and forget them: the server
        that ran them is gone (moto's other services keep their state in the process)."""
        self.reset()

    def reset(self) -> None:
        for env in [*self.all_environments(), *self.terminated]:
            env.shutdown()
        self.shipper.close()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
        super().reset()


def _is_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(BytesIO(data)) as zf:
            return zf.testzip() is None
    except zipfile.BadZipFile:
        return False


def shutdown_all() -> None:
    """Stop every emulated environment of this process."""
    for backend in list(_live_backends):
        backend.shutdown()


emulated_eb_backends = BackendDict(EmulatedEBBackend, "elasticbeanstalk")
