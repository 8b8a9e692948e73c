"""The Elastic Beanstalk deploy target (boto3).

A deploy creates an application version from the uploaded S3 bundle, then either updates the
environment in place (``update``) or goes blue/green (``swap``). It polls
``describe_environments`` and ``describe_events`` with its own deadline and succeeds only
when the environment is Ready, Green and on the *new* label, and its URL's ``/health``
reports that label: Elastic Beanstalk may roll a failed deployment back by itself and turn
Green on the old label, which is a failure, not a success.

``swap`` keeps the environment the stack owns the one that serves: the new version starts on
a clone of it; once healthy the CNAMEs are swapped (the clone serves), the new version is
deployed to the stack's environment (which serves nothing meanwhile), the CNAMEs are swapped
back and the clone is terminated. Every request is answered by a healthy environment, and
deleting the stack leaves nothing running.

:meth:`ElasticBeanstalkTarget.throwaway_clone` is a copy of the serving environment for
drills, removed afterwards with the application versions deployed to it.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from botocore.exceptions import ClientError

from pytest_pipeline.aws.bundles import AwsClientFactory, Bundle
from pytest_pipeline.deploy.base import DRILL_MARK, DeployError, deployed, event, rolled_back
from pytest_pipeline.deploy.ebpoll import EbPoller, Failed, platform_event
from pytest_pipeline.models import DeploymentEvent, DeploymentMetadata, DeploymentStatus, utcnow
from pytest_pipeline.retry import Backoff

NOT_READY_HINT = (
    "another operation is in progress on the environment; wait for it to finish or cancel it "
    "with `aws elasticbeanstalk abort-environment-update --environment-name {name}`, then run "
    "the deploy stage again"
)


def health_reports(url: str, label: str) -> str | None:
    """None when ``GET <url>/health`` answers 200 with version ``label``; else why not."""
    try:
        response = requests.get(f"{url}/health", timeout=10)
    except requests.RequestException as error:
        return f"GET {url}/health: {type(error).__name__}"
    try:
        version = response.json().get("version")
    except (ValueError, AttributeError):
        version = None
    if response.status_code != 200 or version != label:
        return f"GET {url}/health answered {response.status_code} with version {version!r}"
    return None


def drill_label(label: str) -> str:
    """The label of a rollback drill's broken copy of version ``label``."""
    return f"{label}{DRILL_MARK}{utcnow():%H%M%S%f}"


def version_setting(label: str) -> list[dict[str, str]]:
    """The option setting that hands the version label to the app as ``APP_VERSION``."""
    return [
        {
            "Namespace": "aws:elasticbeanstalk:application:environment",
            "OptionName": "APP_VERSION",
            "Value": label,
        }
    ]


class ElasticBeanstalkTarget:
    """Deploys bundles to an Elastic Beanstalk environment (see the module docstring)."""

    name = "elasticbeanstalk"

    def __init__(
        self,
        ctx: AwsClientFactory,
        application: str,
        environment: str,
        strategy: str = "update",
        timeout: float = 1200.0,
        rollback_enabled: bool = False,
        *,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        http_check: Callable[[str, str], str | None] | None = None,
    ) -> None:
        if strategy not in ("update", "swap"):
            raise ValueError(f"eb-strategy must be 'update' or 'swap', got {strategy!r}")
        self.eb = ctx.client("elasticbeanstalk")
        self.application = application
        self.environment = environment
        self.strategy = strategy
        self.timeout = timeout
        self.rollback_enabled = rollback_enabled
        self.poll = EbPoller(
            self.eb, application, timeout, backoff or Backoff(base=2.0, cap=20.0), sleep, clock
        )
        self.http_check = http_check or health_reports
        self._previous: str | None = None
        self._pending: set[str] = set()
        self.created: list[str] = []
        """Application versions this target created (a throwaway clone deletes them)."""

    # -- reading ---------------------------------------------------------------------------

    def _live(self) -> dict[str, Any]:
        envs = self.poll.environments()
        exact = [env for env in envs if env["EnvironmentName"] == self.environment]
        if exact:
            return exact[0]
        clones = [
            env
            for env in envs
            if env["EnvironmentName"].startswith(self.environment + "-")
            and env["EnvironmentName"] not in self._pending
        ]
        if not clones:
            raise DeployError(
                f"Elastic Beanstalk application {self.application} has no environment "
                f"{self.environment}",
                remediation="create it (the infra stack or `eb create`) or fix eb-environment",
            )
        return max(
            clones, key=lambda env: env.get("DateCreated") or datetime.min.replace(tzinfo=UTC)
        )

    @property
    def url(self) -> str:
        """``http://<CNAME>`` of the live environment."""
        return f"http://{self._live()['CNAME']}"

    def current_version(self) -> str | None:
        """The label the live environment runs."""
        label = self._live().get("VersionLabel")
        return str(label) if label else None

    def previous_version(self) -> str | None:
        """The label served before this target's last deploy; without one, the newest other
        application version (Elastic Beanstalk keeps no deployment history)."""
        if self._previous:
            return self._previous
        current = self.current_version()
        for label in reversed(self.versions()):
            if label != current and DRILL_MARK not in label:
                return label
        return None

    def inventory(self) -> list[str]:
        """The application's environments that are not terminated, ``name:status`` sorted."""
        response = self.eb.describe_environments(
            ApplicationName=self.application, IncludeDeleted=False
        )
        return sorted(
            f"{env['EnvironmentName']}:{env.get('Status')}"
            for env in response.get("Environments", [])
            if env.get("Status") != "Terminated"
        )

    def versions(self) -> list[str]:
        """Application versions, oldest first."""
        response = self.eb.describe_application_versions(ApplicationName=self.application)
        items = sorted(
            response.get("ApplicationVersions", []),
            key=lambda item: item.get("DateCreated") or datetime.min.replace(tzinfo=UTC),
        )
        return [str(item["VersionLabel"]) for item in items]

    def prune_versions(self, keep: int) -> tuple[list[str], set[str]]:
        """Delete application versions beyond the newest ``keep``, with their bundles; never
        the serving one or the one a rollback would restore. A rollback drill's broken
        versions (left by a drill that could not clean up) never count and always go.
        Returns the deleted labels and the S3 keys of the versions kept (bundle retention
        must leave those alone: a version whose bundle is gone cannot be deployed, by a
        rollback least of all)."""
        if keep < 1:
            raise ValueError(f"bundle-retention must keep at least 1 version, got {keep}")
        response = self.eb.describe_application_versions(ApplicationName=self.application)
        items = sorted(
            response.get("ApplicationVersions", []),
            key=lambda item: item.get("DateCreated") or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        protected = {self.current_version(), self.previous_version()} - {None}
        deleted, kept_keys = [], set()
        real = [item for item in items if DRILL_MARK not in str(item["VersionLabel"])]
        drills = [item for item in items if DRILL_MARK in str(item["VersionLabel"])]
        for index, item in enumerate(real + drills):  # a drill's versions never count
            label = str(item["VersionLabel"])
            if (index < keep and DRILL_MARK not in label) or label in protected:
                key = (item.get("SourceBundle") or {}).get("S3Key")
                if key:
                    kept_keys.add(str(key))
                continue
            self.eb.delete_application_version(
                ApplicationName=self.application, VersionLabel=label, DeleteSourceBundle=True
            )
            deleted.append(label)
        return deleted, kept_keys

    def events(self) -> list[DeploymentEvent]:
        """The live environment's latest events, oldest first."""
        response = self.eb.describe_events(
            ApplicationName=self.application,
            EnvironmentName=self._live()["EnvironmentName"],
            MaxRecords=100,
        )
        return [platform_event(item) for item in reversed(response.get("Events", []))]

    def health(self) -> dict[str, Any]:
        """Status, colour and label of the live environment."""
        env = self._live()
        color = env.get("Health", "Grey")
        ready = env.get("Status") == "Ready"
        return {
            "status": "ok"
            if ready and color == "Green"
            else ("down" if color == "Red" else "degraded"),
            "color": color,
            "version": env.get("VersionLabel"),
            "environment": env["EnvironmentName"],
            "environment_status": env.get("Status"),
            "health_status": env.get("HealthStatus"),
        }

    def close(self) -> None:
        """Close the boto3 client's connections."""
        close = getattr(self.eb, "close", None)
        if callable(close):
            close()

    # -- deploying -------------------------------------------------------------------------

    def deploy(self, bundle: Bundle) -> DeploymentMetadata:
        """Create the application version and deploy it (update or clone-and-swap)."""
        if not bundle.uploaded:
            raise DeployError(
                f"bundle {bundle.version_label} is not in S3",
                remediation="upload it with aws.bundles.upload() before deploying",
            )
        started = utcnow()
        events: list[DeploymentEvent] = []
        live = self._live()
        self._require_ready(live, events)
        previous = live.get("VersionLabel")
        self._create_version(bundle, events)
        label = bundle.version_label
        name = live["EnvironmentName"]
        try:
            if self.strategy == "update":
                cname = self._update(name, label, events).get("CNAME") or live.get("CNAME")
            else:
                cname = self._swap(live, label, events)
            self._verify_served(f"http://{cname}", label, events)
        except Failed as failure:
            self._fail(failure, name, label, previous, started, events)
        self._previous = previous
        events.append(event(f"{label} is serving on {name}: Ready and Green"))
        return deployed(self, self.environment, bundle, previous, started, events)

    def rollback(self, to_version: str | None = None) -> DeploymentMetadata:
        """Deploy ``to_version`` (default: the previous label) to the live environment in place."""
        started = utcnow()
        events: list[DeploymentEvent] = []
        live = self._live()
        current = live.get("VersionLabel")
        target = to_version or self.previous_version()
        if not target:
            raise DeployError(
                f"no version to roll {live['EnvironmentName']} back to",
                remediation="name a version label (see versions())",
            )
        self._require_ready(live, events)
        events.append(event(f"rolling back {live['EnvironmentName']} from {current} to {target}"))
        try:
            env = self._update(live["EnvironmentName"], target, events)
            self._verify_served(f"http://{env.get('CNAME') or live.get('CNAME')}", target, events)
        except Failed as failure:
            raise DeployError(
                f"rollback of {live['EnvironmentName']} to {target} failed: {failure.detail}",
                events,
                remediation="restore a known-good version from the Elastic Beanstalk console "
                "and check the instance logs (`eb logs`)",
            ) from failure
        self._previous = current
        return rolled_back(self, self.environment, target, current, started, events)

    # -- internals -------------------------------------------------------------------------

    def _verify_served(self, url: str, label: str, events: list[DeploymentEvent]) -> None:
        """``url`` answers ``/health`` with ``label`` (Elastic Beanstalk's Green says the
        instances are healthy, not which version the load balancer serves)."""
        last: list[str] = []

        def served() -> bool:
            reason = self.http_check(url, label)
            if reason:
                last[:] = [reason]
            return reason is None

        self.poll.wait_or_fail(
            served,
            f"{url}/health to report {label}",
            "http",
            lambda: f"{url} does not serve {label}: {last[0] if last else 'no answer'}",
        )
        events.append(event(f"{url}/health reports {label}"))

    def _require_ready(self, env: dict[str, Any], events: list[DeploymentEvent]) -> None:
        status = env.get("Status")
        if status != "Ready":
            name = env["EnvironmentName"]
            events.append(event(f"{name} is {status}, not Ready", "ERROR"))
            raise DeployError(
                f"environment {name} is {status}, not Ready: another deployment or "
                "configuration change is running",
                events,
                remediation=NOT_READY_HINT.format(name=name),
            )

    def _create_version(self, bundle: Bundle, events: list[DeploymentEvent]) -> None:
        label = bundle.version_label
        source = {"S3Bucket": bundle.s3_bucket, "S3Key": bundle.s3_key}
        try:
            self.eb.create_application_version(
                ApplicationName=self.application,
                VersionLabel=label,
                Description=f"sha256 {bundle.sha256}",
                SourceBundle=source,
                Process=True,
            )
            self.created.append(label)
            events.append(
                event(
                    f"created application version {label} from s3://{bundle.s3_bucket}/{bundle.s3_key}"
                )
            )
        except ClientError as error:
            if "already exists" not in str(error):
                raise DeployError(
                    f"could not create application version {label}: {error}",
                    events,
                    remediation="check the bundle's S3 location and the pipeline role's "
                    "elasticbeanstalk:CreateApplicationVersion and s3:GetObject permissions",
                ) from error
            existing = self.poll.version(label)
            if existing.get("SourceBundle") != source:
                raise DeployError(
                    f"application version {label} already exists with another bundle "
                    f"({existing.get('SourceBundle')})",
                    events,
                    remediation="version labels are immutable: build with a new label",
                ) from error
            events.append(event(f"application version {label} already exists; reusing it"))

        def processed() -> bool:
            status = self.poll.version(label).get("Status", "Processed")
            if status == "Failed":
                raise DeployError(
                    f"Elastic Beanstalk could not process application version {label}",
                    events,
                    remediation="check the bundle's Procfile and .ebextensions syntax",
                )
            return bool(status in ("Processed", "Unprocessed"))

        self.poll.wait(processed, f"application version {label} to be processed")

    def _update(self, name: str, label: str, events: list[DeploymentEvent]) -> dict[str, Any]:
        # the label also becomes APP_VERSION, which /health reports: the deploy is judged by
        # the new version answering over HTTP, and Elastic Beanstalk sets no such variable
        since = datetime.now(UTC) - timedelta(seconds=5)
        try:
            self.eb.update_environment(
                ApplicationName=self.application,
                EnvironmentName=name,
                VersionLabel=label,
                OptionSettings=version_setting(label),
            )
        except ClientError as error:
            if "invalid state" in str(error).lower():
                raise Failed("not_ready", f"{name} refused the update: {error}", None) from error
            raise
        events.append(event(f"update_environment {name} to {label}"))
        return self.poll.watch(name, label, since, events)

    def _clone(
        self, live: dict[str, Any], clone: str, label: str, events: list[DeploymentEvent]
    ) -> str:
        """Create ``clone`` from ``live``'s configuration running ``label``; wait until it is
        Ready and Green on it; returns its configuration template (the clone is retired when
        it does not become healthy)."""
        template = f"{clone}-config"
        since = datetime.now(UTC) - timedelta(seconds=5)
        self._pending.add(clone)
        self.eb.create_configuration_template(
            ApplicationName=self.application,
            TemplateName=template,
            EnvironmentId=live["EnvironmentId"],
        )
        self.eb.create_environment(
            ApplicationName=self.application,
            EnvironmentName=clone,
            TemplateName=template,
            VersionLabel=label,
            OptionSettings=version_setting(label),
        )
        events.append(event(f"cloning {live['EnvironmentName']} into {clone} with {label}"))
        try:
            self.poll.watch(clone, label, since, events)
        except Failed:
            self._retire(clone, template, events)
            raise
        return template

    def _swap(self, live: dict[str, Any], label: str, events: list[DeploymentEvent]) -> str:
        """Blue/green that keeps ``live`` (the stack's environment) serving ``label``: clone it
        with ``label``, swap CNAMEs, deploy ``label`` to ``live`` while the clone serves, swap
        back, terminate the clone. Returns the CNAME (``live``'s, as before)."""
        name, cname = live["EnvironmentName"], str(live.get("CNAME"))
        suffix = hashlib.sha256(label.encode()).hexdigest()[:7]
        clone = f"{self.environment[:31]}-{suffix}"
        template = self._clone(live, clone, label, events)
        self._swap_cnames(name, clone, cname, events)
        try:
            self._update(name, label, events)
            self._verify_served(f"http://{self.poll.describe(name).get('CNAME')}", label, events)
        except Failed as failure:
            env = self.poll.describe(name)
            if env.get("Status") == "Ready" and env.get("Health") == "Green":
                self._swap_cnames(clone, name, cname, events)  # the old version serves again
                self._pending.discard(clone)
                self._retire(clone, template, events)
                raise
            raise Failed(
                failure.kind,
                f"{failure.detail}; {label} serves from the clone {clone} (not owned by the "
                f"stack) while {name} is {env.get('Status')} and {env.get('Health')}: fix {name} "
                f"and deploy again, the next deploy swaps back and terminates {clone}",
                env,
            ) from failure
        self._swap_cnames(clone, name, cname, events)
        self._pending.discard(clone)
        self._retire(clone, template, events)
        return cname

    def _swap_cnames(
        self, source: str, destination: str, cname: str, events: list[DeploymentEvent]
    ) -> None:
        """Swap the CNAMEs of ``source`` and ``destination``; wait until ``destination`` holds
        ``cname`` and both are Ready."""
        self.eb.swap_environment_cnames(
            SourceEnvironmentName=source, DestinationEnvironmentName=destination
        )
        events.append(event(f"swapped CNAMEs of {source} and {destination}"))

        def swapped() -> bool:
            new, old = self.poll.describe(destination), self.poll.describe(source)
            ready = new.get("Status") == "Ready" and old.get("Status") == "Ready"
            return ready and new.get("CNAME") == cname

        self.poll.wait_or_fail(
            swapped,
            f"{destination} to take over {cname}",
            "timeout",
            lambda: f"the CNAME swap of {source} and {destination} did not settle",
        )

    def _retire(self, name: str, template: str, events: list[DeploymentEvent]) -> None:
        """Terminate ``name`` (forced: it may be mid-update) and wait until it is gone; delete
        its configuration template."""
        self.eb.terminate_environment(
            EnvironmentName=name, TerminateResources=True, ForceTerminate=True
        )
        events.append(event(f"terminating environment {name}"))

        def gone() -> bool:
            response = self.eb.describe_environments(
                ApplicationName=self.application, EnvironmentNames=[name], IncludeDeleted=False
            )
            return all(env.get("Status") == "Terminated" for env in response["Environments"])

        self.poll.wait(gone, f"environment {name} to terminate")
        self._pending.discard(name)
        try:
            self.eb.delete_configuration_template(
                ApplicationName=self.application, TemplateName=template
            )
        except ClientError as error:
            events.append(
                event(f"could not delete configuration template {template}: {error}", "WARN")
            )

    @contextmanager
    def throwaway_clone(self, purpose: str = "drill") -> Iterator[ElasticBeanstalkTarget]:
        """A throwaway copy of the live environment: created from its configuration, running
        its version, Ready and Green; yields a target for it (automatic rollback on). On the
        way out, even when the body failed, the clone is terminated (and waited for), its
        configuration template deleted, and the application versions deployed through the
        yielded target are deleted with their bundles, so they never count toward retention.
        The live environment is never touched."""
        live = self._live()
        self._require_ready(live, [])
        label = str(live.get("VersionLabel"))
        name = f"{self.environment[:29]}-{purpose[:5]}{secrets.token_hex(2)}"
        events: list[DeploymentEvent] = []
        template = self._clone(live, name, label, events)
        clone = copy.copy(self)
        clone.environment, clone.strategy, clone.rollback_enabled = name, "update", True
        clone._previous, clone._pending, clone.created = None, set(), []
        try:
            yield clone
        finally:
            self._retire(name, template, events)
            for version in clone.created:
                if version != label:
                    self.eb.delete_application_version(
                        ApplicationName=self.application,
                        VersionLabel=version,
                        DeleteSourceBundle=True,
                    )

    def _fail(
        self,
        failure: Failed,
        name: str,
        label: str,
        previous: str | None,
        started: datetime,
        events: list[DeploymentEvent],
    ) -> None:
        hints = {
            "error_events": "read the events above and the instance logs (`eb logs`), fix the "
            "bundle and deploy a new version",
            "reverted": f"{label} failed on the instances and Elastic Beanstalk restored "
            f"{previous}; read the instance logs (`eb logs`) for {label}, fix it and deploy again",
            "timeout": "the environment did not settle within deploy-timeout; check the console, "
            "raise deploy-timeout if deployments are slow, or cancel with `aws elasticbeanstalk "
            f"abort-environment-update --environment-name {name}`",
            "not_ready": NOT_READY_HINT.format(name=name),
            "http": f"Elastic Beanstalk reports {label} Ready and Green, but the environment's "
            "URL does not serve it: check the load balancer, the health check path and that the "
            "app reports its version (APP_VERSION) in /health",
        }
        events.append(event(f"deployment of {label} failed: {failure.detail}", "ERROR"))
        status = DeploymentStatus.FAILED
        outcome = ""
        if self.strategy == "swap":
            if "(not owned by the stack)" not in failure.detail:
                outcome = f"; {previous} kept serving on the original environment"
        elif (
            self.rollback_enabled and previous and previous != label and failure.kind != "not_ready"
        ):
            status, outcome = self._restore(name, previous, failure, events)
        metadata = DeploymentMetadata(
            environment=self.environment,
            version_label=label,
            deploy_target=self.name,
            status=status,
            previous_version=previous,
            rollback_version=previous if status is DeploymentStatus.ROLLED_BACK else None,
            rollback_reason=failure.detail if status is not DeploymentStatus.FAILED else None,
            started_at=started,
            finished_at=utcnow(),
            events=list(events),
        )
        raise DeployError(
            f"deployment of {label} to {name} failed: {failure.detail}{outcome}",
            events,
            remediation=hints[failure.kind],
            metadata=metadata,
        ) from failure

    def _restore(
        self, name: str, previous: str, failure: Failed, events: list[DeploymentEvent]
    ) -> tuple[DeploymentStatus, str]:
        """Roll ``name`` back to ``previous``; returns the status and a phrase for the message."""
        env = failure.env or {}
        back = env.get("Status") == "Ready" and env.get("VersionLabel") == previous
        if back and env.get("Health") != "Green":
            # AllAtOnce: the old label, but no instance runs it (Red): redeploy it
            events.append(event(f"{name} reports {previous} but is {env.get('Health')}"))
            env = {}
        if env.get("Status") == "Ready" and env.get("VersionLabel") == previous:
            try:
                self.poll.watch(name, previous, datetime.now(UTC), events)
            except Failed as error:
                events.append(event(f"{previous} is back but not healthy: {error}", "ERROR"))
                return DeploymentStatus.ROLLBACK_FAILED, f"; {previous} is back but unhealthy"
            events.append(event(f"{name} serves {previous} again (Green); no redeploy needed"))
            return DeploymentStatus.ROLLED_BACK, f"; {previous} is serving again"
        try:
            if env.get("Status") not in (None, "Ready"):
                self.eb.abort_environment_update(EnvironmentName=name)
                events.append(event(f"aborted the update of {name}", "WARN"))
                self.poll.wait(
                    lambda: self.poll.describe(name).get("Status") == "Ready", f"{name} to be Ready"
                )
            events.append(event(f"rolling back {name} to {previous}"))
            self._update(name, previous, events)
        except (Failed, TimeoutError, ClientError) as error:
            events.append(event(f"rollback to {previous} failed: {error}", "ERROR"))
            return DeploymentStatus.ROLLBACK_FAILED, f"; rollback to {previous} FAILED: {error}"
        events.append(event(f"rolled back {name} to {previous}"))
        return DeploymentStatus.ROLLED_BACK, f"; rolled back to {previous}"
