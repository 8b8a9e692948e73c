"""A deploy target in memory, for the policy/executor tests and the property."""

from __future__ import annotations

from typing import Any

from pytest_pipeline.aws.bundles import Bundle
from pytest_pipeline.deploy.base import DeployError, event
from pytest_pipeline.models import DeploymentEvent, DeploymentMetadata, DeploymentStatus, utcnow


class FakeTarget:
    """Versions, a serving and a previous label; rollback switches them (or fails on demand)."""

    def __init__(
        self,
        versions: list[str],
        serving: str | None,
        previous: str | None = None,
        *,
        name: str = "elasticbeanstalk",
        fail_rollback: bool = False,
        unhealthy: set[str] | None = None,
    ) -> None:
        self.name = name
        self._versions = list(versions)
        self.serving = serving
        self.previous = previous
        self.fail_rollback = fail_rollback
        self.unhealthy = unhealthy or set()
        self.rollbacks: list[str | None] = []
        self._events: list[DeploymentEvent] = []
        self.closed = False

    @property
    def url(self) -> str:
        return "http://127.0.0.1:9/fake"

    def deploy(self, bundle: Bundle) -> DeploymentMetadata:
        label = bundle.version_label
        self._versions.append(label)
        self.previous, self.serving = self.serving, label
        return DeploymentMetadata("dev", label, self.name, DeploymentStatus.DEPLOYED)

    def rollback(self, to_version: str | None = None) -> DeploymentMetadata:
        self.rollbacks.append(to_version)
        target = to_version or self.previous
        if self.fail_rollback or target not in self._versions:
            self._events.append(event(f"instances failed to start {target}", "ERROR", "fake"))
            raise DeployError(
                f"rollback to {target} failed", self._events, remediation="fix it by hand"
            )
        current, now = self.serving, utcnow()
        self.previous, self.serving = current, target
        self._events.append(event(f"serving {target}", source="fake"))
        return DeploymentMetadata(
            "dev",
            str(target),
            self.name,
            DeploymentStatus.ROLLED_BACK,
            previous_version=current,
            rollback_version=target,
            started_at=now,
            finished_at=now,
            events=list(self._events[-1:]),
        )

    def current_version(self) -> str | None:
        return self.serving

    def previous_version(self) -> str | None:
        return self.previous

    def versions(self) -> list[str]:
        return list(self._versions)

    def events(self) -> list[DeploymentEvent]:
        return list(self._events)

    def health(self) -> dict[str, Any]:
        ok = self.serving is not None and self.serving not in self.unhealthy
        return {"status": "ok" if ok else "degraded", "version": self.serving}

    def close(self) -> None:
        self.closed = True
