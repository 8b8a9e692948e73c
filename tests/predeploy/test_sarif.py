"""SARIF 2.1.0 output: structure, rules, fingerprints, suppressions, failed scanners."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.reporting.sarif import FINGERPRINT_KEY, ScannerRun, build_sarif, write_sarif

# The parts of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json) that this writer uses, with
# their required properties and enumerations; the full schema is not available offline.
_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {"type": "array", "items": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "rules": {"type": "array", "items": {
                        "type": "object", "required": ["id"],
                        "properties": {"shortDescription": _MESSAGE, "help": _MESSAGE},
                    }}},
                }}},
                "invocations": {"type": "array", "items": {
                    "type": "object", "required": ["executionSuccessful"],
                    "properties": {"toolExecutionNotifications": {"type": "array", "items": {
                        "type": "object", "required": ["message"],
                        "properties": {"message": _MESSAGE},
                    }}},
                }},
                "results": {"type": "array", "items": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": _MESSAGE,
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "properties": {
                                "artifactLocation": {"type": "object", "properties": {
                                    "uri": {"type": "string"}}},
                                "region": {"type": "object", "properties": {
                                    "startLine": {"type": "integer", "minimum": 1}}},
                            }},
                        }}},
                        "partialFingerprints": {"type": "object",
                                                "additionalProperties": {"type": "string"}},
                        "suppressions": {"type": "array", "items": {
                            "type": "object", "required": ["kind"],
                            "properties": {
                                "kind": {"enum": ["inSource", "external"]},
                                "status": {"enum": ["accepted", "underReview", "rejected"]},
                            },
                        }},
                    },
                }},
            },
        }},
    },
}  # fmt: skip

B602 = Finding("bandit", "B602", Severity.HIGH, "shell=True", "pass a list", "app/x.py", 5)
B404 = Finding("bandit", "B404", Severity.LOW, "subprocess import", "review", "app/x.py", 1)
S3 = Finding("templates", "PIPE-S3-001", Severity.CRITICAL, "public bucket", "block it",
             "infra/t.yaml", 12, "PhotoBucket")  # fmt: skip


def _doc() -> dict[str, object]:
    return build_sarif(
        [
            ScannerRun("bandit", [B602, B404, B602], suppressed={B404.fingerprint: "W-1: ok"}),
            ScannerRun("templates", [S3]),
            ScannerRun("vulnerabilities", error="nothing audited: no service"),
        ],
        root_uri="file:///repo",
    )


def test_document_matches_the_sarif_subset_schema() -> None:
    document = _doc()
    jsonschema.validate(document, SARIF_SUBSET)
    assert document["version"] == "2.1.0"


def test_runs_rules_results_and_fingerprints() -> None:
    runs = _doc()["runs"]
    bandit, templates, failed = runs  # type: ignore[misc]
    assert [r["id"] for r in bandit["tool"]["driver"]["rules"]] == ["B602", "B404"]
    results = bandit["results"]
    assert [r["ruleIndex"] for r in results] == [0, 1, 0]
    assert results[0]["level"] == "error" and results[1]["level"] == "note"
    assert results[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 5}
    assert results[0]["partialFingerprints"] == {FINGERPRINT_KEY: B602.fingerprint}
    assert results[1]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "W-1: ok"}
    ]
    assert "suppressions" not in results[0]
    location = templates["results"][0]["locations"][0]
    assert location["logicalLocations"] == [{"name": "PhotoBucket", "kind": "resource"}]
    assert templates["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///repo/"
    assert failed["invocations"][0]["executionSuccessful"] is False
    assert failed["results"] == []


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "security.sarif"
    write_sarif(target, _doc())
    assert json.loads(target.read_text())["version"] == "2.1.0"
    assert [p.name for p in target.parent.iterdir()] == ["security.sarif"]
