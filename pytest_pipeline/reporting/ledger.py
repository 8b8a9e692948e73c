"""The deployment ledger: how a commit became the running service, one step after another.

commit → bundle sha256 → S3 key → version label → change set → URL → rollback. The
dashboard on top of ``report.html`` draws it and ``deployment.json`` carries it (``ledger``),
built by the same function from the run's deployment and stack records.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus, InfrastructureState

STEPS = ("commit", "bundle sha256", "S3 key", "version label", "change set", "URL", "rollback")


@dataclass(frozen=True)
class LedgerStep:
    """One step: its name, its value (None when the run never got there) and a note."""

    name: str
    value: str | None
    note: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {"step": self.name, "value": self.value, "note": self.note}


def _rollback(record: DeploymentMetadata) -> LedgerStep:
    if record.status is DeploymentStatus.ROLLED_BACK:
        return LedgerStep(
            "rollback", record.rollback_version, record.rollback_reason or "rolled back"
        )
    if record.status is DeploymentStatus.ROLLBACK_FAILED:
        return LedgerStep(
            "rollback", None, f"rollback FAILED: {record.rollback_reason or 'no reason given'}"
        )
    previous = f"; previous version {record.previous_version}" if record.previous_version else ""
    return LedgerStep("rollback", None, f"none{previous}")


def build_ledger(
    record: DeploymentMetadata, infra: InfrastructureState | None = None
) -> list[LedgerStep]:
    """The ledger of ``record`` (``deployment.json``'s record) and the stack it went to."""
    deployed = record.version_label != "not-deployed"
    if infra is None:
        change = LedgerStep("change set", None, "no stack in this run")
    elif infra.change_set:
        change = LedgerStep("change set", infra.change_set, f"stack {infra.stack_name}")
    else:
        change = LedgerStep(
            "change set", None, f"stack {infra.stack_name} created directly ({infra.backend})"
        )
    return [
        LedgerStep("commit", record.commit, "" if record.commit else "not a git checkout"),
        LedgerStep("bundle sha256", record.bundle_sha256),
        LedgerStep("S3 key", record.bundle_key),
        LedgerStep(
            "version label",
            record.version_label if deployed else None,
            f"{record.deploy_target}: {record.status.value}" if deployed else "nothing deployed",
        ),
        change,
        LedgerStep("URL", record.url),
        _rollback(record),
    ]


def ledger_dicts(steps: list[LedgerStep]) -> list[dict[str, str | None]]:
    """The ledger as JSON-ready dicts (``deployment.json``)."""
    return [step.to_dict() for step in steps]
