"""The one shape every scanner's result takes: a Finding.

Dependency rules, vulnerability audits, secret scans, bandit and the template rules all
produce ``Finding`` objects, so waivers, JUnit test cases, SARIF and the HTML report treat
them alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Severity of a finding, ordered from least to most severe."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def at_least(self, floor: Severity) -> bool:
        return self.rank >= floor.rank


@dataclass(frozen=True)
class Finding:
    """One problem found by a scanner.

    ``rule_id`` names the rule (``B602``, ``PIPE-S3-001``, ``GHSA-...``), ``location`` is a
    repository-relative file path or a resource name, ``fix`` says what to do about it.
    ``message`` must never contain a secret's value: scanners redact before building it.
    """

    scanner: str
    rule_id: str
    severity: Severity
    message: str
    fix: str
    location: str
    line: int | None = None
    resource: str | None = None

    @property
    def fingerprint(self) -> str:
        """A stable id of this finding (rule + place), for waivers, baselines and test ids."""
        key = f"{self.scanner}|{self.rule_id}|{self.location}|{self.line}|{self.resource}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def where(self) -> str:
        """``file:line`` or ``file (resource)`` for humans."""
        place = self.location if self.line is None else f"{self.location}:{self.line}"
        return f"{place} ({self.resource})" if self.resource else place

    def describe(self) -> str:
        """One line: rule, place, message and fix."""
        return f"[{self.rule_id}] {self.where}: {self.message} — fix: {self.fix}"

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable form (for caches and reports); inverse of :meth:`from_dict`."""
        return {
            "scanner": self.scanner,
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
            "location": self.location,
            "line": self.line,
            "resource": self.resource,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """Rebuild a finding written by :meth:`to_dict`."""
        line = data.get("line")
        resource = data.get("resource")
        return cls(
            scanner=str(data["scanner"]),
            rule_id=str(data["rule_id"]),
            severity=Severity(str(data["severity"])),
            message=str(data["message"]),
            fix=str(data["fix"]),
            location=str(data["location"]),
            line=int(line) if line is not None else None,
            resource=str(resource) if resource is not None else None,
        )
