"""Checks of CloudFormation templates: cfn-lint, and the security rules cfn-lint lacks.

``lint_template`` runs cfn-lint as a library (errors and warnings). ``security_findings``
applies the data-driven rules of ``data/template_rules.toml``; each finding names the rule,
the resource, the line and the fix. Both return ``Finding`` objects, so the predeploy and
infra suites, waivers and reports treat them like any other scanner's.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode_str

from pytest_pipeline.checks.findings import Finding, Severity

RULES_FILE = Path(__file__).with_name("data") / "template_rules.toml"
LINT_SEVERITY = {"error": Severity.HIGH, "warning": Severity.MEDIUM}
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")


@dataclass(frozen=True)
class Rule:
    """One data-driven rule (see the header of ``template_rules.toml``)."""

    id: str
    resource_type: str
    check: str
    severity: Severity
    message: str
    fix: str
    paths: tuple[str, ...] = ()
    equals: Any = None
    services: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


CHECKS = ("property", "tls_only", "iam_actions", "iam_resource", "alarms")


def load_rules(path: Path = RULES_FILE) -> list[Rule]:
    """Read and validate the rules file."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    rules = []
    for raw in data.get("rule", []):
        missing = {"id", "resource_type", "check", "severity", "message", "fix"} - set(raw)
        if missing:
            raise ValueError(f"{path}: rule {raw.get('id', '?')} lacks {', '.join(missing)}")
        if raw["check"] not in CHECKS:
            raise ValueError(f"{path}: rule {raw['id']}: unknown check {raw['check']!r}")
        rules.append(
            Rule(
                id=raw["id"],
                resource_type=raw["resource_type"],
                check=raw["check"],
                severity=Severity(raw["severity"]),
                message=raw["message"],
                fix=raw["fix"],
                paths=tuple(raw.get("paths", ())),
                equals=raw.get("equals"),
                services=tuple(raw.get("services", ())),
                metrics=tuple(raw.get("metrics", ())),
            )
        )
    return rules


def _location(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def template_files(folder: str | Path) -> list[Path]:
    """Every template under ``folder`` (parameter files excluded)."""
    root = Path(folder)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix in TEMPLATE_SUFFIXES and "parameters" not in p.parts
    )


@lru_cache(maxsize=64)
def _lint_cached(path: str, mtime: float, regions: tuple[str, ...]) -> tuple[Finding, ...]:
    matches = lint_file(Path(path), config=ManualArgs(regions=list(regions)))
    findings = []
    for match in matches:
        severity = LINT_SEVERITY.get(str(match.rule.severity).lower())
        if severity is None:  # informational
            continue
        where = list(match.path or [])
        resource = str(where[1]) if len(where) > 1 and where[0] == "Resources" else None
        findings.append(
            Finding(
                scanner="cfn-lint",
                rule_id=match.rule.id,
                severity=severity,
                message=str(match.message),
                fix=f"{match.rule.shortdesc} (see {match.rule.source_url})",
                location=_location(Path(path)),
                line=int(match.linenumber) if match.linenumber else None,
                resource=resource,
            )
        )
    return tuple(findings)


def lint_template(path: str | Path, regions: tuple[str, ...] = ("us-east-1",)) -> list[Finding]:
    """cfn-lint errors (severity high) and warnings (medium) for the template at ``path``."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"template {source} does not exist")
    return list(_lint_cached(str(source.resolve()), source.stat().st_mtime, regions))


def _load(path: Path) -> dict[str, Any]:
    template, matches = decode_str(path.read_text(encoding="utf-8"))
    if matches or not isinstance(template, dict):
        detail = "; ".join(str(m.message) for m in matches)
        raise ValueError(f"{path}: cannot parse template: {detail or 'not a mapping'}")
    return template


def _line(node: Any) -> int | None:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else None


def _get(node: Any, dotted: str) -> tuple[bool, Any]:
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    return str(actual) == str(expected)


def _refers_to(node: Any, logical_id: str) -> bool:
    text = json.dumps(node, default=str)
    return (
        f'"Ref": "{logical_id}"' in text
        or f'"Fn::GetAtt": ["{logical_id}"' in text
        or "${" + logical_id + "." in text
        or "${" + logical_id + "}" in text
    )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _statements(resources: Mapping[str, Any]) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(logical id, node, statement) of every Allow statement of every IAM policy."""
    for logical_id, spec in resources.items():
        props = spec.get("Properties", {}) or {}
        documents = []
        if spec.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(props.get("PolicyDocument"))
        if spec.get("Type") in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            documents.extend(p.get("PolicyDocument") for p in props.get("Policies", []) or [])
        for document in documents:
            if not isinstance(document, Mapping):
                continue
            for statement in _as_list(document.get("Statement", [])):
                if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
                    yield logical_id, statement, dict(statement)


def _on_services(actions: list[Any], services: tuple[str, ...]) -> list[str]:
    hit = []
    for action in actions:
        text = str(action)
        if text == "*" or text.split(":")[0].lower() in services:
            hit.append(text)
    return hit


def _alarm_texts(resources: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    found = []
    for logical_id, spec in resources.items():
        if spec.get("Type") == "AWS::CloudWatch::Alarm":
            props = spec.get("Properties", {}) or {}
            text = json.dumps({k: v for k, v in props.items() if "Actions" not in k}, default=str)
            found.append((logical_id, text, bool(props.get("AlarmActions"))))
    return found


def _apply(rule: Rule, template: Mapping[str, Any], location: str) -> Iterator[Finding]:
    resources = template.get("Resources", {}) or {}

    def finding(logical_id: str, node: Any, detail: str = "") -> Finding:
        return Finding(
            scanner="template-rules",
            rule_id=rule.id,
            severity=rule.severity,
            message=f"{logical_id}: {rule.message}{detail}",
            fix=rule.fix,
            location=location,
            line=_line(node),
            resource=logical_id,
        )

    if rule.check in ("iam_actions", "iam_resource"):
        for logical_id, node, statement in _statements(resources):
            actions = _on_services(_as_list(statement.get("Action", [])), rule.services)
            if rule.check == "iam_actions":
                wild = [a for a in actions if a == "*" or a.endswith(":*")]
                if wild:
                    yield finding(logical_id, node, f" ({', '.join(wild)})")
            elif actions and "*" in [str(r) for r in _as_list(statement.get("Resource", []))]:
                yield finding(logical_id, node, f" (Resource '*' with {', '.join(actions)})")
        return
    for logical_id, spec in resources.items():
        if spec.get("Type") != rule.resource_type:
            continue
        props = spec.get("Properties", {}) or {}
        if rule.check == "property":
            for dotted in rule.paths:
                present, value = _get(props, dotted)
                if not present:
                    yield finding(logical_id, spec, f" ({dotted} is not set)")
                    break
                if rule.equals is not None and not _same(value, rule.equals):
                    yield finding(
                        logical_id, spec, f" ({dotted} is {value!r}, not {rule.equals!r})"
                    )
                    break
        elif rule.check == "tls_only" and not _tls_only(resources, logical_id):
            yield finding(logical_id, spec)
        elif rule.check == "alarms":
            alarms = _alarm_texts(resources)
            for metric in rule.metrics:
                covering = [a for a in alarms if metric in a[1]]
                if not covering:
                    yield finding(logical_id, spec, f" (no alarm on {metric})")
                elif not any(with_actions for _, _, with_actions in covering):
                    yield finding(logical_id, spec, f" (alarm on {metric} has no AlarmActions)")


def _tls_only(resources: Mapping[str, Any], bucket: str) -> bool:
    for spec in resources.values():
        if spec.get("Type") != "AWS::S3::BucketPolicy":
            continue
        props = spec.get("Properties", {}) or {}
        if not _refers_to(props.get("Bucket"), bucket):
            continue
        document = props.get("PolicyDocument", {}) or {}
        for statement in _as_list(document.get("Statement", [])):
            if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
                continue
            condition = json.dumps(statement.get("Condition", {}))
            if '"aws:SecureTransport": "false"' in condition or (
                '"aws:SecureTransport": false' in condition
            ):
                return True
    return False


def security_findings(path: str | Path, rules: list[Rule] | None = None) -> list[Finding]:
    """Findings of the data-driven security rules on the template at ``path``."""
    source = Path(path)
    template = _load(source)
    location = _location(source)
    found: list[Finding] = []
    for rule in rules if rules is not None else load_rules():
        found.extend(_apply(rule, template, location))
    return found
