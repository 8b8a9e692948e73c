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

import datetime as dt
import importlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pytest_pipeline import extras
from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.waivers import Decision, WaiverSet
from pytest_pipeline.reporting.sarif import ScannerRun


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
        return cls(root=root, **defaults)  # type: ignore[arg-type]  # settings are the caller's


@dataclass
class ScanOutcome:
    """One scanner's result in this process."""

    scanner: str
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    error: str | None = None
    skipped: str | None = None
    duration: float = 0.0


@dataclass(frozen=True)
class Scanner:
    """One predeploy scanner: its name, what it checks, the function that runs it and the
    tool it reports as in SARIF.

    ``runner`` names the function as ``"module:function"`` (a :class:`ScanContext` in, a
    :class:`ScanOutcome` out), as an entry point does: the registry stays a table of names, and
    a scanner's module and library (packaging, requests, PyYAML, detect-secrets, bandit,
    cfn-lint) load when that scanner first runs.
    """

    name: str
    checks: str
    runner: str
    information_uri: str

    @property
    def sarif_tool(self) -> str:
        """The SARIF run's tool name."""
        return f"pytest-pipeline {self.name}"

    def function(self) -> Callable[[ScanContext], ScanOutcome]:
        """The scanner's function (imports its module; a clear error when it cannot)."""
        module_name, _, attribute = self.runner.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RuntimeError(f"the {self.name} scanner cannot be imported: {exc}") from exc
        scan: Callable[[ScanContext], ScanOutcome] = getattr(module, attribute)
        return scan


#: Every scanner, in the order the suite runs them.
SCANNERS: dict[str, Scanner] = {
    scanner.name: scanner
    for scanner in (
        Scanner(
            "dependencies",
            "requirements parse, are pinned and fit the ML-stack compatibility rules",
            "pytest_pipeline.predeploy.dependencies:scan",
            "https://packaging.pypa.io/",
        ),
        Scanner(
            "resolution",
            "every pin exists on PyPI, fits the runtime Python and the set resolves",
            "pytest_pipeline.predeploy.resolve:scan",
            "https://pip.pypa.io/",
        ),
        Scanner(
            "vulnerabilities",
            "pinned packages have no known vulnerability",
            "pytest_pipeline.predeploy.vulns:scan",
            "https://osv.dev/",
        ),
        Scanner(
            "secrets",
            "no secret in a tracked file",  # pragma: allowlist secret
            "pytest_pipeline.predeploy.secrets:scan",
            "https://github.com/Yelp/detect-secrets",  # pragma: allowlist secret
        ),
        Scanner(
            "code",
            "bandit finds nothing at or above the severity floor in the app",
            "pytest_pipeline.predeploy.code:scan",
            "https://bandit.readthedocs.io/",
        ),
        Scanner(
            "templates",
            "the templates the run deploys pass cfn-lint and the pipeline's cfn-lint rules",
            "pytest_pipeline.predeploy.templates:scan",
            "https://github.com/aws-cloudformation/cfn-lint",
        ),
    )
}


def run_scan(name: str, ctx: ScanContext) -> ScanOutcome:
    """Run scanner ``name``; an exception becomes ``error`` (what failed and what to do)."""
    if name not in SCANNERS:
        raise KeyError(f"unknown scanner {name!r}; known: {', '.join(SCANNERS)}")
    start = time.perf_counter()
    missing = extras.problem("scanners", f"the {name} scan")
    try:
        outcome = ScanOutcome(name, error=missing) if missing else SCANNERS[name].function()(ctx)
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
                name=SCANNERS[outcome.scanner].sarif_tool,
                findings=outcome.findings,
                suppressed=suppressed,
                error=outcome.error or outcome.skipped,
                information_uri=SCANNERS[outcome.scanner].information_uri,
            )
        )
    return runs


def decide(
    waivers: WaiverSet, outcomes: Iterable[ScanOutcome], today: dt.date | None = None
) -> dict[str, Decision]:
    """The waiver decision of every finding of ``outcomes``, by fingerprint."""
    return {f.fingerprint: waivers.decide(f, today) for o in outcomes for f in o.findings}
