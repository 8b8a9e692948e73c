"""Static analysis of the application's Python code with bandit, used as a library."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.scanners import ScanContext, ScanOutcome

with warnings.catch_warnings():
    # bandit's plugin loader (it runs when its manager module is imported, and again for each
    # manager) passes an argument stevedore deprecated; not our concern.
    warnings.simplefilter("ignore")
    from bandit.core import config as b_config
    from bandit.core import docs_utils
    from bandit.core import manager as b_manager

SCANNER = "bandit"

_SEVERITY = {"LOW": Severity.LOW, "MEDIUM": Severity.MEDIUM, "HIGH": Severity.HIGH}


class CodeScanError(RuntimeError):
    """bandit could not run (missing directory, unparsable configuration, ...)."""


@dataclass
class CodeScan:
    """Findings at or above the severity floor, files scanned, files bandit could not parse."""

    findings: list[Finding] = field(default_factory=list)
    files_scanned: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    floor: Severity = Severity.LOW

    @property
    def summary(self) -> str:
        """What was scanned, for a passing test's report."""
        return (
            f"{self.files_scanned} Python files scanned by {SCANNER} "
            f"(severity >= {self.floor.value}), {len(self.findings)} findings"
        )


def scan_code(
    target: Path, *, floor: Severity = Severity.LOW, relative_to: Path | None = None
) -> CodeScan:
    """Run bandit recursively over ``target``; report issues of severity ``floor`` or above.

    Locations are relative to ``relative_to`` (the repository root) when given. Files bandit
    cannot parse are returned in ``skipped`` and also reported as findings, since a file
    that was not analysed is not known to be safe.
    """
    if not target.is_dir():
        raise CodeScanError(
            f"{target}: no such directory to scan with bandit; set `app-dir` to the "
            "application's source folder"
        )
    base = relative_to or target.parent
    # bandit logs every file at INFO through the root logger; keep the test output readable.
    logging.getLogger("bandit").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the plugin loader again (see the imports)
        mgr = b_manager.BanditManager(b_config.BanditConfig(), "file", quiet=True)
    mgr.discover_files([str(target)], recursive=True)
    mgr.run_tests()
    result = CodeScan(files_scanned=len(mgr.files_list), floor=floor)

    def rel(name: str) -> str:
        try:
            return Path(name).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return name

    for issue in mgr.get_issue_list(sev_level="LOW", conf_level="LOW"):
        severity = _SEVERITY.get(str(issue.severity).upper(), Severity.MEDIUM)
        if not severity.at_least(floor):
            continue
        result.findings.append(
            Finding(
                scanner=SCANNER,
                rule_id=str(issue.test_id),
                severity=severity,
                message=f"{issue.text} (confidence {str(issue.confidence).lower()})",
                fix=f"see {docs_utils.get_url(issue.test_id)}",
                location=rel(str(issue.fname)),
                line=int(issue.lineno) if issue.lineno else None,
            )
        )
    for name, reason in mgr.get_skipped():
        result.skipped.append((rel(name), str(reason)))
        result.findings.append(
            Finding(
                scanner=SCANNER,
                rule_id="PIPE-CODE-001",
                severity=Severity.MEDIUM,
                message=f"bandit could not analyse this file: {reason}",
                fix="make the file valid Python 3 so it can be analysed",
                location=rel(name),
            )
        )
    return result


def scan(ctx: ScanContext) -> ScanOutcome:
    """The `code` scanner: bandit over the app, at or above the severity floor."""
    found = scan_code(ctx.app_dir, floor=ctx.bandit_severity, relative_to=ctx.root)
    return ScanOutcome("code", found.findings, found.summary)
