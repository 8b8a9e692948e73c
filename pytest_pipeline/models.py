"""Data models of a pipeline run, with a lossless JSON round trip.

Timestamps are timezone-aware UTC datetimes, written as ISO 8601 strings. Every model
validates itself on construction, so a record read back from JSON is as trustworthy as one
built in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

PropertyValue = str | int | float | bool


class ModelError(ValueError):
    """A model was given a value it cannot hold."""


class TestOutcome(StrEnum):
    """How one test ended."""

    __test__ = False  # not a test class, whatever its name says

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"

    @property
    def is_failure(self) -> bool:
        return self in (TestOutcome.FAILED, TestOutcome.ERROR)


class StackStatus(StrEnum):
    """Every status the CloudFormation API can return (botocore's ``StackStatus`` enum; a
    test holds the two equal), each with one meaning for provisioning."""

    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_COMPLETE = "CREATE_COMPLETE"
    ROLLBACK_IN_PROGRESS = "ROLLBACK_IN_PROGRESS"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"
    ROLLBACK_COMPLETE = "ROLLBACK_COMPLETE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    DELETE_COMPLETE = "DELETE_COMPLETE"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_COMPLETE_CLEANUP_IN_PROGRESS = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
    UPDATE_COMPLETE = "UPDATE_COMPLETE"
    UPDATE_FAILED = "UPDATE_FAILED"
    UPDATE_ROLLBACK_IN_PROGRESS = "UPDATE_ROLLBACK_IN_PROGRESS"
    UPDATE_ROLLBACK_FAILED = "UPDATE_ROLLBACK_FAILED"
    UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
    UPDATE_ROLLBACK_COMPLETE = "UPDATE_ROLLBACK_COMPLETE"
    REVIEW_IN_PROGRESS = "REVIEW_IN_PROGRESS"
    IMPORT_IN_PROGRESS = "IMPORT_IN_PROGRESS"
    IMPORT_COMPLETE = "IMPORT_COMPLETE"
    IMPORT_ROLLBACK_IN_PROGRESS = "IMPORT_ROLLBACK_IN_PROGRESS"
    IMPORT_ROLLBACK_FAILED = "IMPORT_ROLLBACK_FAILED"
    IMPORT_ROLLBACK_COMPLETE = "IMPORT_ROLLBACK_COMPLETE"

    @property
    def is_ready(self) -> bool:
        """The stack serves its template (an update's old resources may still be going)."""
        return self in (
            StackStatus.CREATE_COMPLETE,
            StackStatus.UPDATE_COMPLETE,
            StackStatus.UPDATE_COMPLETE_CLEANUP_IN_PROGRESS,
            StackStatus.IMPORT_COMPLETE,
        )

    @property
    def is_failed(self) -> bool:
        """The last operation failed (rolled back, or stuck waiting for a person)."""
        return self.value.endswith("FAILED") or self in (
            StackStatus.ROLLBACK_COMPLETE,
            StackStatus.UPDATE_ROLLBACK_COMPLETE,
            StackStatus.IMPORT_ROLLBACK_COMPLETE,
        )

    @property
    def in_progress(self) -> bool:
        """An operation runs: waiting brings another status."""
        return self.value.endswith("IN_PROGRESS") and not (self.is_ready or self.awaits_creation)

    @property
    def awaits_creation(self) -> bool:
        """Created by a CREATE change set that never ran (or failed): no resources, and
        waiting changes nothing."""
        return self is StackStatus.REVIEW_IN_PROGRESS

    @property
    def needs_a_person(self) -> bool:
        """CloudFormation will not go on by itself: a person must continue or delete."""
        return self in (
            StackStatus.ROLLBACK_FAILED,
            StackStatus.DELETE_FAILED,
            StackStatus.UPDATE_ROLLBACK_FAILED,
            StackStatus.IMPORT_ROLLBACK_FAILED,
        )


class DeploymentStatus(StrEnum):
    """Where a deployment stands."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DEPLOYED = "deployed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _check_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ModelError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")


def _dt_out(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt_in(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise ModelError(f"{name}: not an ISO 8601 timestamp: {value!r}") from error
    _check_utc(name, parsed)
    return parsed


def _enum_in(kind: type[Any], name: str, value: Any) -> Any:
    try:
        return kind(value)
    except ValueError as error:
        allowed = ", ".join(member.value for member in kind)
        raise ModelError(f"{name}: {value!r} is not one of {allowed}") from error


def _require(data: dict[str, Any], model: str, *keys: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise ModelError(f"{model}: missing field(s) {', '.join(missing)}")


class _JsonModel:
    """JSON helpers shared by the models (each defines to_dict / from_dict)."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Self:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ModelError(f"{cls.__name__}: invalid JSON: {error}") from error
        if not isinstance(data, dict):
            raise ModelError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        return cls.from_dict(data)


@dataclass
class TestResult(_JsonModel):
    """The outcome of one test of the pipeline."""

    __test__ = False

    nodeid: str
    outcome: TestOutcome
    stage: str | None = None
    duration: float = 0.0
    message: str = ""
    properties: dict[str, PropertyValue] = field(default_factory=dict)
    started_at: datetime | None = None
    gated: bool = False
    """True when the pipeline gate skipped the test (a stage before it failed)."""

    def __post_init__(self) -> None:
        if not self.nodeid:
            raise ModelError("TestResult.nodeid must not be empty")
        if self.duration < 0:
            raise ModelError(f"TestResult.duration must be >= 0, got {self.duration}")
        if self.gated and self.outcome is not TestOutcome.SKIPPED:
            raise ModelError(
                f"TestResult.gated: only a skipped test is skipped by the gate, not a "
                f"{self.outcome.value} one ({self.nodeid})"
            )
        _check_utc("TestResult.started_at", self.started_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome.value,
            "stage": self.stage,
            "duration": self.duration,
            "message": self.message,
            "properties": dict(self.properties),
            "started_at": _dt_out(self.started_at),
            "gated": self.gated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _require(data, "TestResult", "nodeid", "outcome")
        return cls(
            nodeid=str(data["nodeid"]),
            outcome=_enum_in(TestOutcome, "TestResult.outcome", data["outcome"]),
            stage=data.get("stage"),
            duration=float(data.get("duration", 0.0)),
            message=str(data.get("message", "")),
            properties=dict(data.get("properties") or {}),
            started_at=_dt_in("TestResult.started_at", data.get("started_at")),
            gated=bool(data.get("gated", False)),
        )


@dataclass
class InfrastructureState(_JsonModel):
    """A provisioned CloudFormation stack as the later stages see it."""

    stack_name: str
    region: str
    status: StackStatus
    backend: str
    stack_id: str | None = None
    endpoint_url: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    not_modelled: list[str] = field(default_factory=list)
    created_at: datetime | None = None
    change_set: str | None = None
    """The change set that last changed the stack (None: created without one)."""

    def __post_init__(self) -> None:
        if not self.stack_name:
            raise ModelError("InfrastructureState.stack_name must not be empty")
        _check_utc("InfrastructureState.created_at", self.created_at)

    def output(self, key: str) -> str:
        """A stack output, with an error naming what exists when it does not."""
        try:
            return self.outputs[key]
        except KeyError:
            known = ", ".join(sorted(self.outputs)) or "none"
            raise ModelError(
                f"stack {self.stack_name} has no output {key!r} (outputs: {known})"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack_name": self.stack_name,
            "region": self.region,
            "status": self.status.value,
            "backend": self.backend,
            "stack_id": self.stack_id,
            "endpoint_url": self.endpoint_url,
            "outputs": dict(self.outputs),
            "resources": dict(self.resources),
            "tags": dict(self.tags),
            "not_modelled": list(self.not_modelled),
            "created_at": _dt_out(self.created_at),
            "change_set": self.change_set,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _require(data, "InfrastructureState", "stack_name", "region", "status", "backend")
        return cls(
            stack_name=str(data["stack_name"]),
            region=str(data["region"]),
            status=_enum_in(StackStatus, "InfrastructureState.status", data["status"]),
            backend=str(data["backend"]),
            stack_id=data.get("stack_id"),
            endpoint_url=data.get("endpoint_url"),
            outputs={str(k): str(v) for k, v in (data.get("outputs") or {}).items()},
            resources={str(k): str(v) for k, v in (data.get("resources") or {}).items()},
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            not_modelled=[str(item) for item in data.get("not_modelled") or []],
            created_at=_dt_in("InfrastructureState.created_at", data.get("created_at")),
            change_set=data.get("change_set"),
        )


@dataclass
class DeploymentEvent(_JsonModel):
    """One event of a deployment (ours or the platform's)."""

    timestamp: datetime
    message: str
    severity: str = "INFO"
    source: str = "pipeline"

    def __post_init__(self) -> None:
        _check_utc("DeploymentEvent.timestamp", self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": _dt_out(self.timestamp),
            "message": self.message,
            "severity": self.severity,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _require(data, "DeploymentEvent", "timestamp", "message")
        timestamp = _dt_in("DeploymentEvent.timestamp", data["timestamp"])
        assert timestamp is not None  # _require guarantees presence
        return cls(
            timestamp=timestamp,
            message=str(data["message"]),
            severity=str(data.get("severity", "INFO")),
            source=str(data.get("source", "pipeline")),
        )


@dataclass
class DeploymentMetadata(_JsonModel):
    """What a run deployed, where, and how every stage of the pipeline judged it."""

    environment: str
    version_label: str
    deploy_target: str
    status: DeploymentStatus = DeploymentStatus.PENDING
    url: str | None = None
    commit: str | None = None
    bundle_sha256: str | None = None
    bundle_key: str | None = None
    stack_name: str | None = None
    aws_backend: str | None = None
    previous_version: str | None = None
    rollback_version: str | None = None
    rollback_reason: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    events: list[DeploymentEvent] = field(default_factory=list)
    stage_results: dict[str, list[TestResult]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.environment:
            raise ModelError("DeploymentMetadata.environment must not be empty")
        if not self.version_label:
            raise ModelError("DeploymentMetadata.version_label must not be empty")
        _check_utc("DeploymentMetadata.started_at", self.started_at)
        _check_utc("DeploymentMetadata.finished_at", self.finished_at)
        if self.finished_at is not None and self.finished_at < self.started_at:
            raise ModelError("DeploymentMetadata.finished_at is before started_at")

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "version_label": self.version_label,
            "deploy_target": self.deploy_target,
            "status": self.status.value,
            "url": self.url,
            "commit": self.commit,
            "bundle_sha256": self.bundle_sha256,
            "bundle_key": self.bundle_key,
            "stack_name": self.stack_name,
            "aws_backend": self.aws_backend,
            "previous_version": self.previous_version,
            "rollback_version": self.rollback_version,
            "rollback_reason": self.rollback_reason,
            "started_at": _dt_out(self.started_at),
            "finished_at": _dt_out(self.finished_at),
            "events": [event.to_dict() for event in self.events],
            "stage_results": {
                stage: [result.to_dict() for result in results]
                for stage, results in self.stage_results.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        _require(data, "DeploymentMetadata", "environment", "version_label", "deploy_target")
        started = _dt_in("DeploymentMetadata.started_at", data.get("started_at"))
        return cls(
            environment=str(data["environment"]),
            version_label=str(data["version_label"]),
            deploy_target=str(data["deploy_target"]),
            status=_enum_in(
                DeploymentStatus, "DeploymentMetadata.status", data.get("status", "pending")
            ),
            url=data.get("url"),
            commit=data.get("commit"),
            bundle_sha256=data.get("bundle_sha256"),
            bundle_key=data.get("bundle_key"),
            stack_name=data.get("stack_name"),
            aws_backend=data.get("aws_backend"),
            previous_version=data.get("previous_version"),
            rollback_version=data.get("rollback_version"),
            rollback_reason=data.get("rollback_reason"),
            started_at=started or utcnow(),
            finished_at=_dt_in("DeploymentMetadata.finished_at", data.get("finished_at")),
            events=[DeploymentEvent.from_dict(item) for item in data.get("events") or []],
            stage_results={
                str(stage): [TestResult.from_dict(item) for item in results]
                for stage, results in (data.get("stage_results") or {}).items()
            },
        )
