"""The predeploy security scans as pytest cases: the scans of a process (settings, waivers,
each scanner's outcome), one case per finding, and the checks the predeploy tests run.

:mod:`pytest_pipeline.plugin.fixtures.security` holds the fixtures and hooks. Each scanner's
module and library load when that scanner first runs (the registry names its function).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.plugin.state import get_settings
from pytest_pipeline.predeploy.scanners import (
    SCANNERS,
    ScanContext,
    ScanOutcome,
    decide,
    run_scan,
    sarif_runs,
)
from pytest_pipeline.predeploy.waivers import (
    INFRA_RULES,
    Decision,
    Waiver,
    WaiverSet,
    load_waivers,
)
from pytest_pipeline.reporting.sarif import build_sarif, write_sarif

SARIF_NAME = "security.sarif"


class UnusedWaiverWarning(pytest.PytestWarning):
    """A waiver matched no finding: remove it, or fix its rule or scope."""


@dataclass
class SecurityScans:
    """The scans of this process: settings, waivers, and each scanner's outcome (cached)."""

    context: ScanContext
    waivers: WaiverSet
    reports_dir: Path
    outcomes: dict[str, ScanOutcome] = field(default_factory=dict)
    today: dt.date = field(default_factory=dt.date.today)
    started: float = field(default_factory=time.time)

    def outcome(self, scanner: str) -> ScanOutcome:
        """Run ``scanner`` once per process and return its outcome."""
        if scanner not in self.outcomes:
            self.outcomes[scanner] = run_scan(scanner, self.context)
        return self.outcomes[scanner]

    def decision(self, finding: Finding) -> Decision:
        """What the waivers say about ``finding``."""
        return self.waivers.decide(finding, self.today)

    @property
    def complete(self) -> bool:
        """True once every scanner has run in this process."""
        return set(self.outcomes) >= set(SCANNERS)

    def unused_waivers(self) -> list[Waiver]:
        """Waivers that matched no finding of the scanners that ran (see :attr:`complete`);
        those of rules the infra stage decides (``INFRA_RULES``) are not the scanners' to use."""
        decide(self.waivers, self.outcomes.values(), self.today)
        return [w for w in self.waivers.unused() if w.rule not in INFRA_RULES]

    @property
    def sarif_path(self) -> Path:
        """Where the merged SARIF goes."""
        return self.reports_dir / SARIF_NAME

    def write_sarif(self) -> Path | None:
        """Write the merged SARIF of the scanners that ran; ``None`` when none ran."""
        if not self.outcomes:
            return None
        outcomes = [self.outcomes[n] for n in SCANNERS if n in self.outcomes]
        decisions = {
            fp: d
            for fp, d in decide(self.waivers, outcomes, self.today).items()
            if d.waiver is not None
        }
        document = build_sarif(sarif_runs(outcomes, decisions), self.context.root.as_uri())
        return write_sarif(self.sarif_path, document)


SCANS_KEY = pytest.StashKey[SecurityScans]()


def build_scans(config: pytest.Config) -> SecurityScans:
    """Read the predeploy settings and the waiver file (raises :class:`WaiverError`)."""
    options = get_settings(config)
    root = Path(options.rootdir)
    waivers_path = options.waivers
    waivers = load_waivers(waivers_path, display=_display(waivers_path, root))
    vuln_db = options.vuln_db
    baseline = options.secrets_baseline
    context = ScanContext(
        root=root,
        app_dir=options.app_dir,
        vuln_db=Path(vuln_db) if vuln_db else None,
        audit_strict=options.audit_strict,
        bandit_severity=Severity(options.bandit_severity),
        secrets_baseline=Path(baseline) if baseline else None,
        templates=(options.template,),
    )
    return SecurityScans(context, waivers, options.reports_path)


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def get_scans(config: pytest.Config) -> SecurityScans:
    """The process's :class:`SecurityScans`, created on first use."""
    scans = config.stash.get(SCANS_KEY, None)
    if scans is None:
        scans = build_scans(config)
        config.stash[SCANS_KEY] = scans
    return scans


# -- cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityCase:
    """One parametrized case: a finding, a clean scan, a scanner that could not check, or a
    deferred scan (collected without the predeploy stage selected)."""

    scanner: str
    kind: str  # "finding" | "clean" | "error" | "skipped" | "deferred"
    finding: Finding | None = None
    decision: Decision | None = None
    text: str = ""

    @property
    def id(self) -> str:
        """The test id: ``RULE@file:line (resource)`` for findings."""
        if self.finding is not None:
            return f"{self.finding.rule_id}@{self.finding.where}"
        return {"error": "not-run", "skipped": "not-checked"}.get(self.kind, self.kind)

    def properties(self) -> list[tuple[str, str]]:
        """JUnit properties of the case (never a secret's value: messages are redacted)."""
        props = [("scanner", self.scanner)]
        if self.finding is not None:
            props += [
                ("rule", self.finding.rule_id),
                ("severity", self.finding.severity.value),
                ("location", self.finding.where),
                ("fingerprint", self.finding.fingerprint),
            ]
        if self.decision is not None and self.decision.waiver is not None:
            props.append(("waiver", self.decision.waiver.id))
        if self.text and self.kind in ("clean", "finding"):
            props.append(("scanned", self.text))
        elif self.text:
            props.append(("reason", self.text))
        return props

    def failure_text(self) -> str:
        """What a failing case reports."""
        assert self.finding is not None
        text = self.finding.describe()
        expired = self.decision.expired if self.decision else None
        if expired is not None:
            text += f" (waiver {expired.id} expired on {expired.expires.isoformat()})"
        return text


def cases_for(scans: SecurityScans, scanner: str) -> list[SecurityCase]:
    """The cases of ``scanner`` (runs it if it has not run in this process)."""
    outcome = scans.outcome(scanner)
    if outcome.error is not None:
        return [SecurityCase(scanner, "error", text=outcome.error)]
    if outcome.skipped is not None:
        return [SecurityCase(scanner, "skipped", text=outcome.skipped)]
    if not outcome.findings:
        return [SecurityCase(scanner, "clean", text=outcome.summary)]
    return [
        SecurityCase(scanner, "finding", f, scans.decision(f), outcome.summary)
        for f in outcome.findings
    ]


def check_case(case: SecurityCase, scans: SecurityScans | None = None) -> str:
    """Pass, fail or skip as ``case`` says; returns what was scanned when it passes."""
    if case.kind == "deferred":
        assert scans is not None
        cases = cases_for(scans, case.scanner)
        failing = [c for c in cases if c.kind == "error" or (c.finding and not _waived(c))]
        if failing:
            lines = [c.failure_text() if c.finding else c.text for c in failing]
            pytest.fail("\n".join(lines), pytrace=False)
        for c in cases:
            if c.kind == "skipped":
                pytest.skip(c.text)
        return cases[0].text
    if case.kind == "error":
        pytest.fail(case.text, pytrace=False)
    if case.kind == "skipped":
        pytest.skip(case.text)
    if case.kind == "finding":
        if _waived(case):
            assert case.decision is not None and case.decision.waiver is not None
            pytest.skip(f"waived by {case.decision.waiver.describe()}")
        pytest.fail(case.failure_text(), pytrace=False)
    return case.text


def _waived(case: SecurityCase) -> bool:
    return case.decision is not None and case.decision.waived


@dataclass(frozen=True)
class SecurityCheck:
    """A case bound to the scans of this process; ``check()`` is the whole test body."""

    case: SecurityCase
    scans: SecurityScans

    def check(self) -> None:
        """Fail per finding, skip waived findings and unchecked scans, pass and print what
        was scanned when it is clean."""
        scanned = check_case(self.case, self.scans)
        sys.stdout.write(f"{self.case.scanner}: {scanned}\n")


@dataclass(frozen=True)
class WaiverCheck:
    """One waiver of the waiver file (``waiver`` is None when the file has none)."""

    waiver: Waiver | None
    scans: SecurityScans

    def check(self) -> None:
        """An expired waiver fails; an unused one passes with an UnusedWaiverWarning."""
        waiver, scans = self.waiver, self.scans
        if waiver is None:
            sys.stdout.write(f"{scans.waivers.source}: no waivers\n")
            return
        if waiver.expired(scans.today):
            pytest.fail(
                f"waiver {waiver.id} in {scans.waivers.source} expired on "
                f"{waiver.expires.isoformat()} (owner {waiver.owner}): fix the finding, or "
                "renew the waiver with a new date and reason",
                pytrace=False,
            )
        if not scans.complete:
            sys.stdout.write("not every scanner ran in this session: unused waivers not checked\n")
        elif waiver in scans.unused_waivers():
            warnings.warn(
                UnusedWaiverWarning(
                    f"waiver {waiver.id} in {scans.waivers.source} matched no finding (rule "
                    f"{waiver.rule!r}, scope {waiver.scope!r}): remove it or fix its rule or "
                    "scope"
                ),
                stacklevel=1,
            )
        sys.stdout.write(f"{waiver.describe()}\n")
