"""Polling Elastic Beanstalk: environments, application versions, events, with a deadline.

``EbPoller.watch`` is the judge of a deployment: it waits until the environment is Ready and
Green on the expected label and raises ``Failed`` for ERROR events, for Elastic Beanstalk's own
rollback (Ready on the *old* label) and for the deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pytest_pipeline.deploy.base import DeployError
from pytest_pipeline.models import DeploymentEvent, utcnow
from pytest_pipeline.retry import Backoff, wait_until

FAILURE_SEVERITIES = ("ERROR", "FATAL")
OPERATION_START = ("Environment update is starting", "createEnvironment is starting")
GONE = ("Terminating", "Terminated")
# Right after update_environment the environment may still read Ready on the old label; only
# once it was seen leaving Ready (or after this many seconds) does that mean a rollback.
SETTLE_GRACE = 30.0


class Failed(Exception):
    """A deployment step failed; ``kind`` selects the remediation, ``env`` is the last state."""

    def __init__(self, kind: str, detail: str, env: dict[str, Any] | None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.env = env


class EbPoller:
    """Reads and waits on Elastic Beanstalk environments with one deadline and backoff."""

    def __init__(
        self,
        eb: Any,
        application: str,
        timeout: float,
        backoff: Backoff,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> None:
        self.eb = eb
        self.application = application
        self.timeout = timeout
        self.backoff = backoff
        self.sleep = sleep
        self.clock = clock

    def environments(self) -> list[dict[str, Any]]:
        response = self.eb.describe_environments(
            ApplicationName=self.application, IncludeDeleted=False
        )
        return [env for env in response.get("Environments", []) if env.get("Status") not in GONE]

    def describe(self, name: str) -> dict[str, Any]:
        response = self.eb.describe_environments(
            ApplicationName=self.application, EnvironmentNames=[name], IncludeDeleted=False
        )
        envs = response.get("Environments", [])
        if not envs:
            raise DeployError(f"environment {name} of {self.application} disappeared")
        return dict(envs[0])

    def version(self, label: str) -> dict[str, Any]:
        response = self.eb.describe_application_versions(
            ApplicationName=self.application, VersionLabels=[label]
        )
        versions = response.get("ApplicationVersions", [])
        return dict(versions[0]) if versions else {}

    def wait(self, probe: Callable[[], Any], what: str) -> Any:
        return wait_until(
            probe,
            what=what,
            deadline=self.timeout,
            backoff=self.backoff,
            sleep=self.sleep,
            clock=self.clock,
        )

    def wait_or_fail(
        self, probe: Callable[[], Any], what: str, kind: str, detail: Callable[[], str]
    ) -> Any:
        """``wait``; at the deadline ``Failed(kind, detail())`` instead of a TimeoutError."""
        try:
            return self.wait(probe, what)
        except TimeoutError as error:
            raise Failed(kind, detail(), None) from error

    def watch(
        self, name: str, label: str, since: datetime, events: list[DeploymentEvent]
    ) -> dict[str, Any]:
        """Poll until ``name`` is Ready and Green on ``label``; ``Failed`` otherwise."""
        seen: set[tuple[str, str]] = {(e.timestamp.isoformat(), e.message) for e in events}
        first = len(events)  # only events of this operation judge it
        last: dict[str, Any] = {}
        began = self.clock()
        left_ready: list[bool] = []

        def probe() -> dict[str, Any] | None:
            env = self.describe(name)
            last.update(env)
            response = self.eb.describe_events(
                ApplicationName=self.application, EnvironmentName=name, StartTime=since
            )
            for item in reversed(response.get("Events", [])):
                happened = platform_event(item)
                key = (happened.timestamp.isoformat(), happened.message)
                if key not in seen:
                    seen.add(key)
                    events.append(happened)
            if env.get("Status") != "Ready":
                left_ready.append(True)
                return None
            errors = operation_errors(events[first:])
            if errors:
                raise Failed(
                    "error_events", f"{len(errors)} ERROR event(s), first: {errors[0].message}", env
                )
            if env.get("VersionLabel") != label:
                if not left_ready and self.clock() - began < SETTLE_GRACE:
                    return None  # the update may not be visible yet: Ready on the old label
                raise Failed(
                    "reverted",
                    f"{name} is Ready and {env.get('Health')} but runs {env.get('VersionLabel')}, "
                    f"not {label}: Elastic Beanstalk rolled the deployment back",
                    env,
                )
            return env if env.get("Health") == "Green" else None

        try:
            result: dict[str, Any] = self.wait(probe, f"{name} to serve {label}, Ready and Green")
        except TimeoutError as error:
            raise Failed(
                "timeout",
                f"{name} did not serve {label} Ready and Green within {self.timeout:.0f}s "
                f"(last: status {last.get('Status')}, health {last.get('Health')}, "
                f"version {last.get('VersionLabel')})",
                last or None,
            ) from error
        return result


def operation_errors(events: list[DeploymentEvent]) -> list[DeploymentEvent]:
    """Elastic Beanstalk's ERROR/FATAL events of the latest operation among ``events``.

    The events are read from a few seconds before the operation began (clocks differ), so
    they may hold the end of the operation before it (a failed deployment's ERRORs): Elastic
    Beanstalk starts each update with ``Environment update is starting.``, and only what
    follows the latest such marker belongs to this operation.
    """
    platform = sorted(
        (e for e in events if e.source == "elasticbeanstalk"), key=lambda e: e.timestamp
    )
    starts = [e.timestamp for e in platform if e.message.startswith(OPERATION_START)]
    begin = starts[-1] if starts else None
    return [
        e
        for e in platform
        if e.severity in FAILURE_SEVERITIES and (begin is None or e.timestamp >= begin)
    ]


def platform_event(item: dict[str, Any]) -> DeploymentEvent:
    stamp = item.get("EventDate")
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if not isinstance(stamp, datetime):
        stamp = utcnow()
    elif stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return DeploymentEvent(
        timestamp=stamp.astimezone(UTC),
        message=str(item.get("Message", "")),
        severity=str(item.get("Severity", "INFO")),
        source="elasticbeanstalk",
    )
