"""One waiver file for every scanner (``pipeline-waivers.toml``).

```toml
[[waiver]]
id = "W-001"
rule = "B603"                 # a rule id, or a finding's fingerprint
scope = "app/**"              # a path glob or a resource name
owner = "team-photos"
reason = "input is a fixed argv list, never user data"
expires = 2026-12-31          # a TOML date (or "YYYY-MM-DD")
```

A waiver that is active suppresses the findings it matches; one past its expiry date
suppresses nothing and is itself a failure; one that matched nothing is reported as unused.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_pipeline.findings import Finding

REQUIRED = ("id", "rule", "scope", "owner", "reason", "expires")
#: Rules whose findings the infra stage decides, not a predeploy scanner: an update that
#: would replace or delete a stateful resource (``pytest_pipeline.aws.dataguard``).
DATA_LOSS_RULE = "PIPE-DATA-001"
INFRA_RULES = frozenset({DATA_LOSS_RULE})


class WaiverError(ValueError):
    """The waiver file is malformed; ``str()`` is one line naming the file and entry."""


@dataclass(frozen=True)
class Waiver:
    """One accepted risk: which findings it covers, who owns it, why, until when."""

    id: str
    rule: str
    scope: str
    owner: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        """True once ``today`` is after the expiry date (the expiry day itself still counts)."""
        return today > self.expires

    def matches(self, finding: Finding) -> bool:
        """Whether this waiver covers ``finding`` (rule id or fingerprint, and scope)."""
        if self.rule not in (finding.rule_id, finding.fingerprint):
            return False
        places = [p for p in (finding.location, finding.resource) if p]
        return any(p == self.scope or fnmatch.fnmatchcase(p, self.scope) for p in places)

    def describe(self) -> str:
        """``W-001 (owner team, expires 2026-12-31): reason``."""
        return f"{self.id} (owner {self.owner}, expires {self.expires.isoformat()}): {self.reason}"


@dataclass
class Decision:
    """What the waivers say about one finding."""

    finding: Finding
    waiver: Waiver | None = None
    expired: Waiver | None = None

    @property
    def waived(self) -> bool:
        """True when an active waiver covers the finding."""
        return self.waiver is not None


@dataclass
class WaiverSet:
    """The waivers of one file, and which of them were used during this run."""

    waivers: list[Waiver] = field(default_factory=list)
    source: str = "pipeline-waivers.toml"
    used: set[str] = field(default_factory=set)

    def decide(self, finding: Finding, today: dt.date | None = None) -> Decision:
        """Find the waiver covering ``finding``; expired waivers never waive."""
        today = today or dt.date.today()
        decision = Decision(finding)
        for waiver in self.waivers:
            if not waiver.matches(finding):
                continue
            self.used.add(waiver.id)
            if waiver.expired(today):
                decision.expired = decision.expired or waiver
            elif decision.waiver is None:
                decision.waiver = waiver
        return decision

    def decide_all(
        self, findings: Iterable[Finding], today: dt.date | None = None
    ) -> list[Decision]:
        """:meth:`decide` for each finding."""
        return [self.decide(f, today) for f in findings]

    def expired(self, today: dt.date | None = None) -> list[Waiver]:
        """Waivers past their expiry date."""
        today = today or dt.date.today()
        return [w for w in self.waivers if w.expired(today)]

    def unused(self) -> list[Waiver]:
        """Waivers that matched no finding so far."""
        return [w for w in self.waivers if w.id not in self.used]


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise WaiverError(f"{where}: 'expires' must be a date like 2026-12-31, got {value!r}")


def parse_waivers(data: dict[str, Any], source: str) -> WaiverSet:
    """Validate the parsed TOML of a waiver file; raises :class:`WaiverError`."""
    unknown = set(data) - {"waiver"}
    if unknown:
        raise WaiverError(
            f"{source}: unknown top-level key(s) {sorted(unknown)}; only [[waiver]] tables "
            "are allowed"
        )
    entries = data.get("waiver", [])
    if not isinstance(entries, list):
        raise WaiverError(f"{source}: 'waiver' must be an array of tables ([[waiver]])")
    waivers: list[Waiver] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        label = entry.get("id") if isinstance(entry, dict) else None
        where = f"{source}: waiver #{index}" + (f" ({label})" if label else "")
        if not isinstance(entry, dict):
            raise WaiverError(f"{where}: must be a table")
        missing = [key for key in REQUIRED if key not in entry]
        if missing:
            raise WaiverError(f"{where}: missing {', '.join(missing)}")
        extra = sorted(set(entry) - set(REQUIRED))
        if extra:
            raise WaiverError(f"{where}: unknown key(s) {', '.join(extra)}")
        for key in REQUIRED[:-1]:
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise WaiverError(f"{where}: '{key}' must be a non-empty string")
        if entry["id"] in seen:
            raise WaiverError(f"{where}: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        waivers.append(
            Waiver(
                id=entry["id"],
                rule=entry["rule"],
                scope=entry["scope"],
                owner=entry["owner"],
                reason=entry["reason"],
                expires=_date(entry["expires"], where),
            )
        )
    return WaiverSet(waivers=waivers, source=source)


def load_waivers(path: Path, *, display: str | None = None) -> WaiverSet:
    """Read a waiver file; a missing file is an empty set. Raises :class:`WaiverError`."""
    source = display or str(path)
    if not path.exists():
        return WaiverSet(source=source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise WaiverError(f"{source}: not valid TOML ({exc})") from exc
    return parse_waivers(data, source)


def active(decisions: Sequence[Decision]) -> list[Decision]:
    """Decisions whose finding is not waived (what must fail)."""
    return [d for d in decisions if not d.waived]
