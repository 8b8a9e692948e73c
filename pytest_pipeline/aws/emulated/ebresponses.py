"""The Elastic Beanstalk API of the emulation: moto's ``EBResponse`` with every operation the
pipeline uses. Requests are parsed and responses serialized by moto from botocore's service
model (``ActionResult``), so a response carries exactly the model's shapes.

Also this backend's URL module (``url_bases``/``url_paths``): the moto server routes
Elastic Beanstalk requests here once ``emulated.install`` ran.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.elasticbeanstalk.responses import EBResponse
from moto.elasticbeanstalk.urls import url_bases as moto_url_bases

from pytest_pipeline.aws.emulated.ebmodels import (
    EmulatedEBBackend,
    EmulatedEnvironment,
    emulated_eb_backends,
    invalid,
)
from pytest_pipeline.models import utcnow

DEFAULT_PAGE = 1000


def _page(key: str, items: list[Any], max_records: int | None, token: str | None) -> ActionResult:
    """``{key: one page of items}``, with ``NextToken`` when more follow."""
    start = int(token) if token and token.isdigit() else 0
    size = max_records or DEFAULT_PAGE
    result: dict[str, Any] = {key: items[start : start + size]}
    if items[start + size :]:
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def _utc(value: Any) -> datetime | None:
    """A request timestamp (moto parses them naive, in UTC) as an aware datetime."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class EmulatedEBResponse(EBResponse):
    """Every Elastic Beanstalk operation the pipeline calls (see ``docs``' table)."""

    @property
    def elasticbeanstalk_backend(self) -> EmulatedEBBackend:
        backend: EmulatedEBBackend = emulated_eb_backends[self.current_account][self.region]
        return backend

    @property
    def eb(self) -> EmulatedEBBackend:
        return self.elasticbeanstalk_backend

    def _paged(self, key: str, items: list[Any]) -> ActionResult:
        return _page(key, items, self._get_param("MaxRecords"), self._get_param("NextToken"))

    def _env(self, prefix: str = "") -> EmulatedEnvironment:
        name = self._get_param(f"{prefix}EnvironmentName")
        env_id = self._get_param(f"{prefix}EnvironmentId")
        if not name and not env_id:
            raise invalid(f"Specify {prefix}EnvironmentName or {prefix}EnvironmentId.")
        return self.eb.env(name, env_id)

    # -- applications ----------------------------------------------------------------------

    def create_application(self) -> ActionResult:
        app = self.eb.create_application(
            self._get_param("ApplicationName"), self._get_param("Description") or ""
        )
        return ActionResult({"Application": app.describe()})

    def describe_applications(self) -> ActionResult:
        names = self._get_param("ApplicationNames") or []
        apps = [
            app.describe()
            for app in self.eb.applications.values()
            if not names or app.application_name in names
        ]
        return ActionResult({"Applications": apps})

    def update_application(self) -> ActionResult:
        app = self.eb.app(self._get_param("ApplicationName"))
        description = self._get_param("Description")
        if description is not None:
            app.description = description
        return ActionResult({"Application": app.describe()})

    def delete_application(self) -> ActionResult:
        self.eb.delete_application(
            self._get_param("ApplicationName"), bool(self._get_param("TerminateEnvByForce"))
        )
        return EmptyResult()

    # -- application versions --------------------------------------------------------------

    def create_application_version(self) -> ActionResult:
        version = self.eb.create_application_version(
            self._get_param("ApplicationName"),
            self._get_param("VersionLabel"),
            self._get_param("Description") or "",
            self._get_param("SourceBundle"),
            bool(self._get_param("AutoCreateApplication")),
            bool(self._get_param("Process")),
        )
        return ActionResult({"ApplicationVersion": version.describe()})

    def describe_application_versions(self) -> ActionResult:
        name = self._get_param("ApplicationName")
        labels = self._get_param("VersionLabels") or []
        apps = [self.eb.app(name)] if name else list(self.eb.applications.values())
        versions = sorted(
            (v for app in apps for v in app.versions.values() if not labels or v.label in labels),
            key=lambda v: v.created,
            reverse=True,
        )
        return self._paged("ApplicationVersions", [v.describe() for v in versions])

    def delete_application_version(self) -> ActionResult:
        self.eb.delete_application_version(
            self._get_param("ApplicationName"),
            self._get_param("VersionLabel"),
            bool(self._get_param("DeleteSourceBundle")),
        )
        return EmptyResult()

    # -- configuration templates and settings ----------------------------------------------

    def create_configuration_template(self) -> ActionResult:
        template = self.eb.create_configuration_template(
            self._get_param("ApplicationName"),
            self._get_param("TemplateName"),
            self._get_param("SolutionStackName"),
            self._get_param("SourceConfiguration"),
            self._get_param("EnvironmentId"),
            self._get_param("Description") or "",
            self._get_param("OptionSettings"),
        )
        return ActionResult({**template.describe(), "DeploymentStatus": None})

    def delete_configuration_template(self) -> ActionResult:
        self.eb.delete_configuration_template(
            self._get_param("ApplicationName"), self._get_param("TemplateName")
        )
        return EmptyResult()

    def describe_configuration_settings(self) -> ActionResult:
        app = self.eb.app(self._get_param("ApplicationName"))
        template_name = self._get_param("TemplateName")
        env_name = self._get_param("EnvironmentName")
        if template_name:
            template = app.templates.get(template_name)
            if template is None:
                raise invalid(f"No Configuration Template named '{template_name}' found.")
            return ActionResult({"ConfigurationSettings": [template.describe()]})
        if not env_name:
            raise invalid("Specify TemplateName or EnvironmentName.")
        env = self.eb.env(env_name)
        return ActionResult({"ConfigurationSettings": [self.eb.configuration_settings(env)]})

    # -- environments ----------------------------------------------------------------------

    def create_environment(self) -> ActionResult:
        name = self._get_param("EnvironmentName")
        if not name:
            raise invalid("EnvironmentName is required by this emulation.")
        tags = {tag["Key"]: tag["Value"] for tag in self._get_param("Tags") or []}
        env = self.eb.create_environment(
            self._get_param("ApplicationName"),
            name,
            solution_stack=self._get_param("SolutionStackName"),
            template=self._get_param("TemplateName"),
            label=self._get_param("VersionLabel"),
            settings=self._get_param("OptionSettings"),
            description=self._get_param("Description") or "",
            tags=tags,
            tier=self._get_param("Tier"),
        )
        return ActionResult(env.describe())

    def describe_environments(self) -> ActionResult:
        names = self._get_param("EnvironmentNames") or []
        ids = self._get_param("EnvironmentIds") or []
        application = self._get_param("ApplicationName")
        label = self._get_param("VersionLabel")
        include_deleted = self._get_param("IncludeDeleted")
        back_to = self._get_param("IncludedDeletedBackTo")
        envs = list(self.eb.all_environments())
        if include_deleted is None or include_deleted:
            envs += self.eb.recently_terminated(_utc(back_to))
        found = [
            env.describe()
            for env in envs
            if (not names or env.environment_name in names)
            and (not ids or env.environment_id in ids)
            and (not application or env.application_name == application)
            and (not label or env.version_label == label)
        ]
        return self._paged("Environments", found)

    def update_environment(self) -> ActionResult:
        env = self.eb.update_environment(
            self._get_param("EnvironmentName"),
            self._get_param("EnvironmentId"),
            self._get_param("VersionLabel"),
            self._get_param("TemplateName"),
            self._get_param("OptionSettings"),
            self._get_param("OptionsToRemove"),
            self._get_param("Description"),
        )
        return ActionResult(env.describe())

    def terminate_environment(self) -> ActionResult:
        env = self.eb.terminate_environment(
            self._get_param("EnvironmentName"),
            self._get_param("EnvironmentId"),
            bool(self._get_param("ForceTerminate")),
        )
        return ActionResult(env.describe())

    def abort_environment_update(self) -> ActionResult:
        env = self._env()
        self.eb.abort_environment_update(env.environment_name, None)
        return EmptyResult()

    def swap_environment_cnames(self) -> ActionResult:
        self.eb.swap_environment_cnames(self._env("Source"), self._env("Destination"))
        return EmptyResult()

    # moto derives the method name from the action: SwapEnvironmentCNAMEs -> this spelling.
    swap_environment_cnam_es = swap_environment_cnames

    def describe_events(self) -> ActionResult:
        env_name = self._get_param("EnvironmentName")
        env_id = self._get_param("EnvironmentId")
        if env_id and not env_name:
            env_name = next(
                (
                    e.environment_name
                    for e in self.eb.all_environments(include_deleted=True)
                    if e.environment_id == env_id
                ),
                env_id,
            )
        start, end = self._get_param("StartTime"), self._get_param("EndTime")
        events = self.eb.find_events(
            self._get_param("ApplicationName"),
            env_name,
            self._get_param("VersionLabel"),
            self._get_param("Severity"),
            _utc(start),
            _utc(end),
        )
        return self._paged("Events", [e.describe() for e in events])

    # -- health ----------------------------------------------------------------------------

    def describe_environment_health(self) -> ActionResult:
        env = self._env()
        env.refresh_health()
        instance = env.runtime.instance
        ok = int(instance is not None and env.health == "Green")
        severe = int(instance is not None and env.health == "Red")
        counts = {
            "NoData": 0,
            "Unknown": 0,
            "Pending": int(env.status == "Launching"),
            "Ok": ok,
            "Info": 0,
            "Warning": 0,
            "Degraded": 0,
            "Severe": severe,
        }
        return ActionResult(
            {
                "EnvironmentName": env.environment_name,
                "HealthStatus": env.health_status,
                "Status": env.status,
                "Color": env.health,
                "Causes": list(env.causes),
                "ApplicationMetrics": {},
                "InstancesHealth": counts,
                "RefreshedAt": utcnow(),
            }
        )

    def describe_instances_health(self) -> ActionResult:
        env = self._env()
        env.refresh_health()
        items = []
        instance = env.runtime.instance
        if instance is not None:
            items.append(
                {
                    "InstanceId": instance.instance_id,
                    "HealthStatus": env.health_status,
                    "Color": env.health,
                    "Causes": list(env.causes),
                    "LaunchedAt": instance.launched_at,
                    "ApplicationMetrics": {},
                    "Deployment": {
                        "VersionLabel": instance.label,
                        "DeploymentId": 1,
                        "Status": "Deployed",
                        "DeploymentTime": instance.launched_at,
                    },
                    "AvailabilityZone": f"{self.region}a",
                    "InstanceType": env.option(
                        "aws:autoscaling:launchconfiguration", "InstanceType", "t3.micro"
                    ),
                }
            )
        return ActionResult({"InstanceHealthList": items, "RefreshedAt": utcnow()})


url_bases = moto_url_bases
url_paths = {"{0}/$": EmulatedEBResponse.dispatch}
