"""The deploy-target protocol (what the suites see of a deployment) and the error every
deploy failure raises."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pytest_pipeline.models import DeploymentEvent, DeploymentMetadata, DeploymentStatus, utcnow

if TYPE_CHECKING:  # only a type here; the bundle builder loads where bundles are built
    from pytest_pipeline.aws.bundles import Bundle

EVENT_TAIL = 10
DRILL_MARK = "-broken-"
"""In the label of a rollback drill's deliberately broken version (never a rollback target,
never counted toward retention)."""


class DeployError(RuntimeError):
    """A deployment (or rollback) failed.

    ``events`` are the deployment's events (ours and the platform's), ``remediation`` says
    what a person should do next; ``str()`` shows the message, the hint and the last events.
    """

    def __init__(
        self,
        message: str,
        events: Iterable[DeploymentEvent] = (),
        remediation: str = "",
        metadata: DeploymentMetadata | None = None,
    ) -> None:
        self.message = message
        self.events = list(events)
        self.remediation = remediation
        self.metadata = metadata
        super().__init__(message)

    def __str__(self) -> str:
        lines = [self.message]
        if self.remediation:
            lines.append(f"remediation: {self.remediation}")
        if self.events:
            lines.append(f"last {min(len(self.events), EVENT_TAIL)} event(s):")
            lines.extend(
                f"  {event.timestamp:%H:%M:%S} {event.severity:<5} [{event.source}] {event.message}"
                for event in self.events[-EVENT_TAIL:]
            )
        return "\n".join(lines)


@runtime_checkable
class DeployTarget(Protocol):
    """Where a bundle runs. The suites see only this; they cannot tell the targets apart.

    ``health()`` returns at least ``{"status": "ok" | "degraded" | "down", "version": label}``.
    Versions and events are listed oldest first.
    """

    name: str

    @property
    def url(self) -> str: ...

    def deploy(self, bundle: Bundle) -> DeploymentMetadata: ...

    def rollback(self, to_version: str | None = None) -> DeploymentMetadata: ...

    def current_version(self) -> str | None: ...

    def previous_version(self) -> str | None: ...

    def versions(self) -> list[str]: ...

    def events(self) -> list[DeploymentEvent]: ...

    def health(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


def event(message: str, severity: str = "INFO", source: str = "pipeline") -> DeploymentEvent:
    """A deployment event stamped now (UTC)."""
    return DeploymentEvent(timestamp=utcnow(), message=message, severity=severity, source=source)


def deployed(
    target: DeployTarget,
    environment: str,
    bundle: Bundle,
    previous: str | None,
    started: datetime,
    events: list[DeploymentEvent],
) -> DeploymentMetadata:
    """What a target's ``deploy`` returns once ``bundle`` serves (after ``previous``)."""
    return _of_bundle(
        target,
        environment,
        bundle,
        DeploymentStatus.DEPLOYED,
        started,
        events,
        url=target.url,
        previous_version=previous,
    )


def failed(
    target: DeployTarget,
    environment: str,
    bundle: Bundle,
    events: list[DeploymentEvent],
) -> DeploymentMetadata:
    """What the run records when deploying ``bundle`` failed and the target's
    :class:`DeployError` carried no record of its own (it failed before anything served)."""
    return _of_bundle(target, environment, bundle, DeploymentStatus.FAILED, utcnow(), events)


def _of_bundle(
    target: DeployTarget,
    environment: str,
    bundle: Bundle,
    status: DeploymentStatus,
    started: datetime,
    events: list[DeploymentEvent],
    **more: Any,
) -> DeploymentMetadata:
    return DeploymentMetadata(
        environment=environment,
        version_label=bundle.version_label,
        deploy_target=target.name,
        status=status,
        bundle_sha256=bundle.sha256,
        bundle_key=bundle.s3_key,
        started_at=started,
        finished_at=utcnow(),
        events=events,
        **more,
    )


def rolled_back(
    target: DeployTarget,
    environment: str,
    version: str,
    current: str | None,
    started: datetime,
    events: list[DeploymentEvent],
    bundle_sha256: str | None = None,
) -> DeploymentMetadata:
    """What a target's ``rollback`` returns once ``version`` serves again instead of
    ``current``."""
    return DeploymentMetadata(
        environment=environment,
        version_label=version,
        deploy_target=target.name,
        status=DeploymentStatus.ROLLED_BACK,
        url=target.url,
        bundle_sha256=bundle_sha256,
        previous_version=current,
        rollback_version=version,
        rollback_reason=f"rollback from {current}",
        started_at=started,
        finished_at=utcnow(),
        events=events,
    )
