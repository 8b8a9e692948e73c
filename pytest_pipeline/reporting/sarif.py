"""SARIF 2.1.0 output of the security scanners (pure: data in, JSON document out).

One run per scanner, its rules, one result per finding with its location, a stable
``partialFingerprints`` entry, and waived findings as accepted external suppressions. A
scanner that could not run still gets a run whose invocation says why, so code scanning
never mistakes "not checked" for "clean". Upload with ``github/codeql-action/upload-sarif``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_pipeline.findings import Finding, Severity

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
VERSION = "2.1.0"
FINGERPRINT_KEY = "pytestPipelineFingerprint/v1"
_LEVEL = {
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}
#: GitHub code scanning ranks security alerts by this property (CVSS-like, 0.0-10.0).
_SECURITY_SEVERITY = {
    Severity.LOW: "2.0",
    Severity.MEDIUM: "5.0",
    Severity.HIGH: "7.5",
    Severity.CRITICAL: "9.5",
}


@dataclass
class ScannerRun:
    """One scanner's contribution: its findings (with waiver justifications) or its failure.

    ``suppressed`` maps a finding's fingerprint to the justification of the waiver that
    covers it; ``error`` says why the scanner could not run (its results are then empty).
    """

    name: str
    findings: Sequence[Finding] = ()
    suppressed: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    information_uri: str | None = None
    version: str | None = None


def _rule(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.rule_id,
        "name": finding.rule_id,
        "shortDescription": {"text": finding.message.split(":", 1)[0][:200] or finding.rule_id},
        "help": {"text": finding.fix},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[finding.severity],
            "tags": ["security", finding.scanner],
        },
    }


def _result(finding: Finding, rule_index: int, justification: str | None) -> dict[str, Any]:
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": finding.location, "uriBaseId": "%SRCROOT%"}
    }
    if finding.line is not None and finding.line >= 1:
        physical["region"] = {"startLine": finding.line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if finding.resource:
        location["logicalLocations"] = [{"name": finding.resource, "kind": "resource"}]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {"text": f"{finding.message} — fix: {finding.fix}"},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"severity": finding.severity.value},
    }
    if justification is not None:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": justification}
        ]
    return result


def build_run(run: ScannerRun) -> dict[str, Any]:
    """The SARIF ``run`` object of one scanner."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for finding in run.findings:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(rules)
            rules.append(_rule(finding))
        justification = run.suppressed.get(finding.fingerprint)
        results.append(_result(finding, index[finding.rule_id], justification))
    driver: dict[str, Any] = {"name": run.name, "rules": rules}
    if run.information_uri:
        driver["informationUri"] = run.information_uri
    if run.version:
        driver["version"] = run.version
    invocation: dict[str, Any] = {"executionSuccessful": run.error is None}
    if run.error is not None:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": run.error}}
        ]
    return {
        "tool": {"driver": driver},
        "invocations": [invocation],
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "repository root"}}},
        "results": results,
    }


def build_sarif(runs: Sequence[ScannerRun], root_uri: str | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run per scanner.

    ``root_uri`` (``file:///path/to/repo/``) anchors the repository-relative locations.
    """
    document_runs = [build_run(r) for r in runs]
    if root_uri is not None:
        uri = root_uri if root_uri.endswith("/") else root_uri + "/"
        for document_run in document_runs:
            document_run["originalUriBaseIds"]["%SRCROOT%"]["uri"] = uri
    return {"$schema": SCHEMA_URI, "version": VERSION, "runs": document_runs}


def write_sarif(path: Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` to ``path`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the report from CI uploaders
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
