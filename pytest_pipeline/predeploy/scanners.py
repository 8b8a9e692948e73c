"""The predeploy scanners behind one interface: run each once, get a :class:`ScanOutcome`.

Used by the predeploy suite (one test per finding) and usable from a script::

    ctx = ScanContext.for_repository(Path("."), vuln_db=Path("../shared/advisory-db"))
    for name in SCANNERS:
        outcome = run_scan(name, ctx)
        print(name, outcome.summary, [f.describe() for f in outcome.findings])

A scanner that fails to run yields an outcome with ``error`` set (a failure, never a
clean result); one that had nothing it could check yields ``skipped`` (or ``error`` under
``audit_strict``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_pipeline import extras
from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy import SCANNERS as SCANNERS  # the names, also here for scripts
from pytest_pipeline.predeploy.waivers import Decision, WaiverSet
from pytest_pipeline.reporting.sarif import ScannerRun

# Each scanner's library (requests, PyYAML, detect-secrets, bandit) loads when that scanner
# first runs: collecting or running anything else never pays for them.
if TYPE_CHECKING:
    from packaging.version import Version

    from pytest_pipeline.predeploy import dependencies, vulns

TOOL_URIS = {
    "dependencies": "https://packaging.pypa.io/",
    "resolution": "https://pip.pypa.io/",
    "vulnerabilities": "https://osv.dev/",
    "secrets": "https://github.com/Yelp/detect-secrets",  # pragma: allowlist secret
    "code": "https://bandit.readthedocs.io/",
    "templates": "https://github.com/aws-cloudformation/cfn-lint",
}


@dataclass(frozen=True)
class ScanContext:
    """Where and how to scan: the repository and the predeploy settings."""

    root: Path
    app_dir: Path
    vuln_db: Path | None = None
    audit_strict: bool = False
    bandit_severity: Severity = Severity.MEDIUM
    secrets_baseline: Path | None = None
    audit_services: tuple[str, ...] = ("pypi", "osv")
    #: The CloudFormation template(s) the run deploys (setting ``template``).
    templates: tuple[Path, ...] = ()

    @property
    def requirements(self) -> Path:
        """The application's requirements file."""
        return self.app_dir / "requirements.txt"

    @property
    def cache_dir(self) -> Path:
        """Per-repository cache (``.pipeline/cache``)."""
        return self.root / ".pipeline" / "cache"

    @classmethod
    def for_repository(cls, root: Path, **settings: object) -> ScanContext:
        """A context with the defaults of the settings (``app``, ``.secrets.baseline``)."""
        root = root.resolve()
        defaults: dict[str, object] = {
            "app_dir": root / "app",
            "secrets_baseline": root / ".secrets.baseline",
            "templates": (root / "infra" / "template.yaml",),
        }
        defaults.update(settings)
        return cls(root=root, **defaults)  # type: ignore[arg-type]


@dataclass
class ScanOutcome:
    """One scanner's result in this process."""

    scanner: str
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    error: str | None = None
    skipped: str | None = None
    duration: float = 0.0


def _rel(root: Path, path: Path) -> str:
    from pytest_pipeline.predeploy import dependencies

    return dependencies.display_path(path, root)


def _parse(ctx: ScanContext) -> tuple[dependencies.Parsed, Version, str]:
    from pytest_pipeline.predeploy import dependencies

    if not ctx.requirements.is_file():
        raise FileNotFoundError(
            f"{_rel(ctx.root, ctx.requirements)} does not exist; the app must declare its "
            "dependencies there (set app-dir if the app lives elsewhere)"
        )
    parsed = dependencies.parse_file(ctx.requirements, root=ctx.root)
    python, source = dependencies.runtime_python(ctx.root, ctx.app_dir)
    return parsed, python, source


def _dependencies(ctx: ScanContext) -> ScanOutcome:
    from pytest_pipeline.predeploy import dependencies

    parsed, python, source = _parse(ctx)
    env = dependencies.target_environment(python)
    findings = [
        *parsed.findings,
        *dependencies.pin_findings(parsed.entries, env),
        *dependencies.compat_findings(parsed.entries, python),
        *dependencies.requires_python_findings(ctx.root, python, source),
    ]
    count = len(parsed.requirements())
    rules = len(dependencies.default_rules()[1])
    return ScanOutcome(
        "dependencies",
        findings,
        f"{count} requirements in {len(parsed.files)} file(s) checked against {rules} "
        f"compatibility rules for Python {python} (from {source})",
    )


def _resolution(ctx: ScanContext) -> ScanOutcome:
    from pytest_pipeline.predeploy import resolve

    parsed, python, _ = _parse(ctx)
    check = resolve.check_resolution(
        parsed.entries, ctx.requirements, python, cache_dir=ctx.cache_dir
    )
    return ScanOutcome("resolution", check.findings, check.summary)


def _pins(ctx: ScanContext) -> tuple[list[vulns.Pin], list[str]]:
    from pytest_pipeline.predeploy import dependencies, vulns

    parsed, python, _ = _parse(ctx)
    env = dependencies.target_environment(python)
    pins: list[vulns.Pin] = []
    loose: list[str] = []
    for entry in parsed.requirements():
        if not entry.applies(env):
            continue
        version = entry.pinned_version
        if version is None:
            loose.append(entry.name)
        else:
            pins.append(vulns.Pin(entry.requirement.name, str(version), entry.source, entry.line))
    return pins, loose


def _vulnerabilities(ctx: ScanContext) -> ScanOutcome:
    from pytest_pipeline.predeploy import vulns

    pins, loose = _pins(ctx)
    result = vulns.audit(
        pins, vuln_db=ctx.vuln_db, services=ctx.audit_services, cache_dir=ctx.cache_dir
    )
    outcome = ScanOutcome("vulnerabilities", result.findings, result.summary)
    if loose:
        outcome.summary += f"; not pinned, so not audited: {', '.join(loose)}"
    if result.unavailable or not result.checked:
        why = result.unavailable or "no pinned package could be audited"
        if ctx.audit_strict:
            outcome.error = f"{why} (audit-strict: an unchecked audit fails)"
        else:
            outcome.skipped = why
    return outcome


def _secrets(ctx: ScanContext) -> ScanOutcome:
    baseline = ctx.secrets_baseline
    if baseline is not None and not baseline.is_file():
        baseline = None
    from pytest_pipeline.predeploy import secrets

    scan = secrets.scan_repository(ctx.root, baseline, cache_dir=ctx.cache_dir)
    return ScanOutcome("secrets", scan.findings, scan.summary)


def _code(ctx: ScanContext) -> ScanOutcome:
    from pytest_pipeline.predeploy import code

    scan = code.scan_code(ctx.app_dir, floor=ctx.bandit_severity, relative_to=ctx.root)
    return ScanOutcome("code", scan.findings, scan.summary)


def _templates(ctx: ScanContext) -> ScanOutcome:
    try:
        from pytest_pipeline.predeploy import templates
    except ImportError as exc:
        raise RuntimeError(f"the template checks cannot be imported: {exc}") from exc
    configured = [t for t in ctx.templates if t.is_file()]
    if not configured:
        shown = ", ".join(_rel(ctx.root, t) for t in ctx.templates) or "none"
        reason = f"no CloudFormation template to check (setting `template`: {shown})"
        return ScanOutcome("templates", [], "", skipped=reason)
    files = list(dict.fromkeys(p for t in configured for p in templates.run_templates(t)))
    findings: list[Finding] = []
    for path in files:
        location = _rel(ctx.root, path)
        for finding in templates.scan_template(path):
            findings.append(dataclasses.replace(finding, location=location))
    return ScanOutcome(
        "templates",
        findings,
        f"{len(files)} template(s) the run deploys checked with cfn-lint and the pipeline's "
        f"rules ({templates.COMMAND}): " + ", ".join(_rel(ctx.root, p) for p in files),
    )


_RUNNERS: dict[str, Callable[[ScanContext], ScanOutcome]] = {
    "dependencies": _dependencies,
    "resolution": _resolution,
    "vulnerabilities": _vulnerabilities,
    "secrets": _secrets,
    "code": _code,
    "templates": _templates,
}


def run_scan(name: str, ctx: ScanContext) -> ScanOutcome:
    """Run scanner ``name``; an exception becomes ``error`` (what failed and what to do)."""
    if name not in _RUNNERS:
        raise KeyError(f"unknown scanner {name!r}; known: {', '.join(_RUNNERS)}")
    start = time.perf_counter()
    missing = extras.problem("scanners", f"the {name} scan")
    try:
        outcome = ScanOutcome(name, error=missing) if missing else _RUNNERS[name](ctx)
    except Exception as exc:  # any scanner failure is reported, never swallowed
        outcome = ScanOutcome(name, error=f"{name} scan could not run: {exc}")
    outcome.duration = time.perf_counter() - start
    return outcome


def sarif_runs(
    outcomes: Iterable[ScanOutcome], decisions: dict[str, Decision] | None = None
) -> list[ScannerRun]:
    """SARIF runs of the outcomes; ``decisions`` (by fingerprint) mark waived findings."""
    decisions = decisions or {}
    runs = []
    for outcome in outcomes:
        suppressed = {
            fp: f"waiver {d.waiver.describe()}"
            for fp, d in decisions.items()
            if d.waiver is not None and any(f.fingerprint == fp for f in outcome.findings)
        }
        runs.append(
            ScannerRun(
                name=f"pytest-pipeline {outcome.scanner}",
                findings=outcome.findings,
                suppressed=suppressed,
                error=outcome.error or outcome.skipped,
                information_uri=TOOL_URIS.get(outcome.scanner),
            )
        )
    return runs


def decide(
    waivers: WaiverSet, outcomes: Iterable[ScanOutcome], today: dt.date | None = None
) -> dict[str, Decision]:
    """The waiver decision of every finding of ``outcomes``, by fingerprint."""
    return {f.fingerprint: waivers.decide(f, today) for o in outcomes for f in o.findings}
