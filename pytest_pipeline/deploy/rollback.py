"""Rollback: keep a deployment only when it is verified.

Plain library (no pytest), in two parts:

- the **policy**, :func:`decide`: from the run's test results (with each test's markers),
  what this run deployed and the rollback settings, decide ``none``, ``alert`` or
  ``rollback``, with the reasons and the tests that triggered it. A failure counts when its
  test matches a pattern of ``rollback-on`` (a marker name, the test's stage, or a node-id
  glob); a test matching ``alert-only`` alerts and never rolls back, whatever else matches.
  A run that deployed a new version rolls back to the version that served before it when
  ``rollback-enabled`` (or ``rollback-on-failure``) is on; a run that deployed nothing (a
  separate job testing a running deployment) rolls back only with ``rollback-on-failure``:
  given the deploying job's record (``deployment-record``), from the version it deployed to
  the one that served before it, else to the environment's previous version label.
- the **executor**, :func:`execute`: performs a decided rollback through the deploy target,
  then verifies that the restored version serves and is healthy, and returns an
  :class:`Outcome` (``rolled_back``, ``rollback_failed`` or ``refused``). It never raises for
  a rollback that fails: that is the outcome, with the events and what to do by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any

from pytest_pipeline.deploy.base import DRILL_MARK, DeployError, DeployTarget, event
from pytest_pipeline.models import (
    DeploymentEvent,
    DeploymentMetadata,
    DeploymentStatus,
    TestResult,
    utcnow,
)
from pytest_pipeline.retry import Backoff, RetryError, wait_until

DEFAULT_ROLLBACK_ON = ("postdeploy", "monitoring")
EVENT_TAIL = 15


class Action(StrEnum):
    """What the policy decided."""

    NONE = "none"
    ALERT = "alert"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class RollbackSettings:
    """The settings the policy reads (``rollback-enabled`` is per environment)."""

    environment: str = "dev"
    enabled: bool = False
    on_failure: bool = False
    rollback_on: tuple[str, ...] = DEFAULT_ROLLBACK_ON
    alert_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    """A failed test the policy acted on, and the pattern that made it count."""

    nodeid: str
    stage: str | None
    message: str
    rule: str

    def describe(self) -> str:
        """``nodeid: first line of the error``."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else "failed"
        return f"{self.nodeid}: {first}"


@dataclass(frozen=True)
class Decision:
    """What to do about this run's deployment, and why.

    ``from_version`` is the version to leave, ``to_version`` the one to restore (None for a
    separate job: the executor asks the environment for its previous version). ``blocked``
    says why a rollback the failures called for does not happen (the action is then alert).
    """

    action: Action
    reasons: tuple[str, ...] = ()
    triggers: tuple[Failure, ...] = ()
    alerts: tuple[Failure, ...] = ()
    from_version: str | None = None
    to_version: str | None = None
    deployed_this_run: bool = False
    blocked: str | None = None

    @property
    def acts(self) -> bool:
        """True when the decision is to alert or to roll back."""
        return self.action is not Action.NONE

    def summary(self) -> str:
        """One line: the action and its first reason."""
        head = {
            Action.NONE: "no rollback needed",
            Action.ALERT: "alert, no rollback",
            Action.ROLLBACK: "rollback",
        }[self.action]
        return f"{head}: {self.reasons[0]}" if self.reasons else head

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the run's ``rollback`` record and webhook payloads)."""
        return {
            "action": self.action.value,
            "reasons": list(self.reasons),
            "triggers": [f.describe() for f in self.triggers],
            "alerts": [f.describe() for f in self.alerts],
            "from_version": self.from_version,
            "to_version": self.to_version,
            "deployed_this_run": self.deployed_this_run,
            "blocked": self.blocked,
        }


def matches(pattern: str, nodeid: str, stage: str | None, markers: Iterable[str]) -> bool:
    """True when ``pattern`` names the test's stage or one of its markers, or is a glob that
    matches its node id (``suites/postdeploy/test_performance.py::test_threshold*``)."""
    return pattern == stage or pattern in set(markers) or fnmatchcase(nodeid, pattern)


def _first_match(patterns: Sequence[str], result: TestResult, markers: Iterable[str]) -> str | None:
    marks = tuple(markers)
    return next((p for p in patterns if matches(p, result.nodeid, result.stage, marks)), None)


def decide(
    results: Iterable[TestResult],
    deployment: DeploymentMetadata | None,
    settings: RollbackSettings,
    markers: Mapping[str, Iterable[str]] | None = None,
    tested: DeploymentMetadata | None = None,
) -> Decision:
    """The policy (see the module docstring); pure: no I/O, same inputs, same decision.

    ``deployment`` is this run's deployment record (None when the run deployed nothing);
    ``markers`` maps node ids to the names of their markers; ``tested`` is the record of
    the job that deployed what a separate job tests (``deployment-record``).
    """
    markers = markers or {}
    triggers: list[Failure] = []
    alerts: list[Failure] = []
    for result in results:
        if not result.outcome.is_failure:
            continue
        marks = tuple(markers.get(result.nodeid, ()))
        alert_rule = _first_match(settings.alert_only, result, marks)
        if alert_rule is not None:
            alerts.append(Failure(result.nodeid, result.stage, result.message, alert_rule))
            continue
        rule = _first_match(settings.rollback_on, result, marks)
        if rule is not None:
            triggers.append(Failure(result.nodeid, result.stage, result.message, rule))
    alert_reasons = tuple(
        f"{f.describe()} (alert-only {f.rule!r}: never rolls back)" for f in alerts
    )
    if not triggers:
        if alerts:
            return Decision(Action.ALERT, alert_reasons, alerts=tuple(alerts))
        return Decision(Action.NONE, ("no failure of a test matching rollback-on",))
    first = triggers[0]
    why = (
        f"{len(triggers)} test(s) matching rollback-on failed, first {first.describe()} "
        f"(matched {first.rule!r})"
    )
    common: dict[str, Any] = {"triggers": tuple(triggers), "alerts": tuple(alerts)}
    env = settings.environment
    if deployment is not None:
        label = deployment.version_label
        common.update(from_version=label, deployed_this_run=True)
        blocked: str | None = None
        previous = deployment.previous_version
        if deployment.status is not DeploymentStatus.DEPLOYED:
            blocked = (
                f"this run's deployment of {label} ended {deployment.status.value}: "
                "the deploy target already kept the previous version"
            )
        elif not (settings.enabled or settings.on_failure):
            blocked = (
                f"rollback is disabled for environment {env} (rollback-enabled is off): "
                f"{label} stays deployed"
            )
        elif not previous or previous == label:
            blocked = (
                f"nothing to roll back to: {label} is the first version deployed to "
                f"environment {env}; it stays deployed"
            )
        if blocked is not None:
            return Decision(Action.ALERT, (why, blocked, *alert_reasons), blocked=blocked, **common)
        return Decision(
            Action.ROLLBACK,
            (why, f"roll back {env} from {label} to {previous}", *alert_reasons),
            to_version=previous,
            **common,
        )
    if settings.on_failure and tested is not None:
        label, previous = tested.version_label, tested.previous_version
        common.update(from_version=label)
        if tested.status is not DeploymentStatus.DEPLOYED:
            blocked = (
                f"the deployment of {label} this job tests ended {tested.status.value} "
                "(deployment-record): nothing of it to roll back"
            )
        elif not previous or previous == label:
            blocked = (
                f"nothing to roll back to: {label} was the first version deployed to "
                f"environment {env} (deployment-record); it stays deployed"
            )
        else:
            return Decision(
                Action.ROLLBACK,
                (
                    why,
                    f"rollback-on-failure: roll back {env} from {label} to {previous}, the "
                    "version that served before it (deployment-record)",
                    *alert_reasons,
                ),
                to_version=previous,
                **common,
            )
        return Decision(Action.ALERT, (why, blocked, *alert_reasons), blocked=blocked, **common)
    if settings.on_failure:
        return Decision(
            Action.ROLLBACK,
            (why, f"rollback-on-failure: roll back {env} to its previous version", *alert_reasons),
            **common,
        )
    blocked = (
        "this run deployed nothing (it tested a running deployment); pass "
        "--rollback-on-failure to roll the environment back to its previous version"
    )
    return Decision(Action.ALERT, (why, blocked, *alert_reasons), blocked=blocked, **common)


# -- the executor ---------------------------------------------------------------------------


class OutcomeStatus(StrEnum):
    """How a decided rollback ended (most severe last)."""

    ROLLED_BACK = "rolled_back"
    REFUSED = "refused"
    ROLLBACK_FAILED = "rollback_failed"


@dataclass
class Outcome:
    """What a rollback did: the versions, the verified health, the events, what to do next."""

    status: OutcomeStatus
    environment: str
    target: str
    message: str
    from_version: str | None = None
    to_version: str | None = None
    url: str | None = None
    health: dict[str, Any] = field(default_factory=dict)
    remediation: str = ""
    events: list[DeploymentEvent] = field(default_factory=list)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the restored version serves and is healthy."""
        return self.status is OutcomeStatus.ROLLED_BACK

    def lines(self) -> list[str]:
        """Terminal / notification text: the message, the remediation, the last events."""
        head = {
            OutcomeStatus.ROLLED_BACK: "ROLLED BACK",
            OutcomeStatus.REFUSED: "ROLLBACK REFUSED",
            OutcomeStatus.ROLLBACK_FAILED: "ROLLBACK FAILED",
        }[self.status]
        out = [f"{head}: {self.message}"]
        if self.remediation:
            out.append(f"what to do by hand: {self.remediation}")
        if not self.ok and self.events:
            out.append(f"last {min(len(self.events), EVENT_TAIL)} event(s):")
            out.extend(
                f"  {e.timestamp:%H:%M:%S} {e.severity:<5} [{e.source}] {e.message}"
                for e in self.events[-EVENT_TAIL:]
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the run's ``rollback`` record, webhook payloads)."""
        return {
            "status": self.status.value,
            "environment": self.environment,
            "target": self.target,
            "message": self.message,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "url": self.url,
            "health": self.health,
            "remediation": self.remediation,
            "events": [e.to_dict() for e in self.events],
            "duration": round(self.duration, 3),
        }


def previous_label(target: DeployTarget) -> str | None:
    """The version to restore when this run deployed nothing: Elastic Beanstalk keeps no
    deployment history, so it is the application version created just before the serving
    one, never a rollback drill's broken version. None when there is none (or it is the
    serving one)."""
    current = target.current_version()
    versions = [label for label in target.versions() if DRILL_MARK not in label]
    position = versions.index(current) if current in versions else -1
    previous = versions[position - 1] if position > 0 else None
    return previous if previous and previous != current else None


def _remediation(target: DeployTarget, environment: str, label: str | None) -> str:
    wanted = label or "the last known-good version"
    return (
        f"restore {wanted} by hand: `aws elasticbeanstalk update-environment "
        f"--environment-name {getattr(target, 'environment', environment)} "
        f"--version-label {wanted}`, then check the "
        "environment is Ready and Green and read the instance logs (`eb logs`)"
    )


def verify_serving(
    target: DeployTarget,
    label: str,
    *,
    timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Wait until ``target`` serves ``label`` and reports healthy; return its health.

    Raises :class:`~pytest_pipeline.retry.RetryError` (a ``TimeoutError``) naming the last
    health seen when it does not within ``timeout`` seconds.
    """
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        health = target.health()
        last.clear()
        last.update(health)
        serving = target.current_version()
        ok = health.get("status") == "ok" and health.get("version") == label == serving
        return health if ok else None

    try:
        return wait_until(
            probe,
            what=f"{label} to serve and be healthy",
            deadline=timeout,
            backoff=Backoff(0.2, 5.0),
            sleep=sleep,
            clock=clock,
        )
    except RetryError as error:
        raise RetryError(
            f"{label} to serve and be healthy (last health: {last or 'none'})",
            error.attempts,
            error.elapsed,
            error.last_error,
        ) from error


def execute(
    decision: Decision,
    target: DeployTarget,
    *,
    environment: str,
    verify_timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Perform ``decision`` (action ``rollback``) through ``target`` and verify the result.

    ``refused`` when there is nothing to roll back to; ``rollback_failed`` when the target
    fails, or the restored version does not serve healthy within ``verify_timeout``.
    """
    if decision.action is not Action.ROLLBACK:
        raise ValueError(f"execute() needs a rollback decision, got {decision.action.value}")
    began = clock()
    events: list[DeploymentEvent] = []
    base = Outcome(OutcomeStatus.REFUSED, environment, target.name, "", decision.from_version)

    def done(status: OutcomeStatus, message: str, **changes: Any) -> Outcome:
        return replace(
            base,
            status=status,
            message=message,
            events=events,
            duration=max(0.0, clock() - began),
            **changes,
        )

    try:
        current = target.current_version()
        wanted = decision.to_version or previous_label(target)
    except Exception as error:  # the environment cannot even be read
        return done(
            OutcomeStatus.ROLLBACK_FAILED,
            f"could not read the state of {target.name} environment {environment}: "
            f"{type(error).__name__}: {error}",
            remediation=_remediation(target, environment, decision.to_version),
        )
    base = replace(base, from_version=decision.from_version or current, to_version=wanted)
    tested = decision.from_version
    if not decision.deployed_this_run and tested and current != tested:
        return done(
            OutcomeStatus.REFUSED,
            f"{target.name} environment {environment} serves {current or 'nothing'}, not "
            f"{tested} that this job tested (a later deploy, or a rollback already done): "
            "it was left alone",
            remediation=f"check what serves {environment} now; roll back by hand if needed",
        )
    if wanted is None:
        known = ", ".join(_safe(target.versions)) or "none"
        return done(
            OutcomeStatus.REFUSED,
            f"nothing to roll back to: {target.name} environment {environment} has no "
            f"version before {current or 'the serving one'} (versions: {known}); "
            f"{current or 'nothing'} keeps serving",
            remediation="deploy a known-good version explicitly",
        )
    events.append(event(f"rolling back {environment} from {current} to {wanted}", "WARN"))
    try:
        if current == wanted:
            events.append(event(f"{wanted} is already serving; verifying it"))
        else:
            metadata = target.rollback(to_version=wanted)
            events.extend(metadata.events)
        health = verify_serving(target, wanted, timeout=verify_timeout, sleep=sleep, clock=clock)
    except DeployError as error:
        events.extend(e for e in error.events if e not in events)
        return done(
            OutcomeStatus.ROLLBACK_FAILED,
            f"rollback of {environment} from {current} to {wanted} failed: {error.message}",
            remediation=(error.remediation + "; " if error.remediation else "")
            + _remediation(target, environment, wanted),
        )
    except Exception as error:
        events.extend(_safe(target.events)[-EVENT_TAIL:])
        events.append(event(f"rollback to {wanted} failed: {error}", "ERROR"))
        return done(
            OutcomeStatus.ROLLBACK_FAILED,
            f"rollback of {environment} from {current} to {wanted} failed: "
            f"{type(error).__name__}: {error}",
            remediation=_remediation(target, environment, wanted),
        )
    url = _safe_url(target)
    events.append(event(f"{wanted} serves again and is healthy" + (f" at {url}" if url else "")))
    return done(
        OutcomeStatus.ROLLED_BACK,
        f"{environment} rolled back from {current} to {wanted}; {wanted} serves and is "
        f"healthy ({health.get('color', health.get('status'))})",
        url=url,
        health=health,
    )


def _safe(read: Callable[[], list[Any]]) -> list[Any]:
    try:
        return list(read())
    except Exception:  # only context for a message; the failure itself is reported
        return []


def _safe_url(target: DeployTarget) -> str | None:
    try:
        return target.url
    except Exception:
        return None


def record_outcome(
    deployment: DeploymentMetadata | None, decision: Decision, outcome: Outcome
) -> DeploymentMetadata:
    """The run's deployment record after ``outcome``: ``rolled_back`` (with
    ``rollback_version``, the version serving again, and the reason) or ``rollback_failed``
    (the reason says which version was wanted), events appended. A refused
    rollback keeps the status and records why. Without a deployment of this run, a record of
    the rollback alone."""
    reason = "; ".join((*decision.reasons[:1], outcome.message))
    status = {
        OutcomeStatus.ROLLED_BACK: DeploymentStatus.ROLLED_BACK,
        OutcomeStatus.ROLLBACK_FAILED: DeploymentStatus.ROLLBACK_FAILED,
    }.get(outcome.status)
    if deployment is None:
        deployment = DeploymentMetadata(
            environment=outcome.environment,
            version_label=outcome.from_version or "unknown",
            deploy_target=outcome.target,
            status=DeploymentStatus.DEPLOYED,
            url=outcome.url,
            previous_version=outcome.to_version,
        )
    return replace(
        deployment,
        status=status or deployment.status,
        rollback_version=outcome.to_version if outcome.ok else None,
        rollback_reason=reason,
        url=outcome.url or deployment.url,
        finished_at=utcnow(),
        events=[*deployment.events, *outcome.events],
    )
