"""Checks of CloudFormation templates: one cfn-lint run with the pipeline's own rules.

The pipeline's rules are cfn-lint custom rules (:mod:`pytest_pipeline.predeploy.cfnrules`), so
``cfn-lint TEMPLATE --append-rules pytest_pipeline/predeploy/cfnrules`` in an editor or a
pre-commit hook reports exactly what the pipeline does. :func:`scan_template` runs cfn-lint
once per template (cached by path and modification time) and turns each match into a
``Finding``: cfn-lint's own errors and warnings (scanner ``cfn-lint``) and the pipeline's
rules (scanner ``template-rules``), each naming the rule, resource, line and fix.
:func:`run_templates` says which templates a run deploys.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cfnlint.config import ConfigMixIn
from cfnlint.decode import decode_str
from cfnlint.rules import Rules
from cfnlint.runner import Runner, run_template_by_file_path

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.cfnrules import RULES_DIR
from pytest_pipeline.predeploy.dependencies import display_path
from pytest_pipeline.predeploy.scanners import ScanContext, ScanOutcome

LINT_SEVERITY = {"error": Severity.HIGH, "warning": Severity.MEDIUM}
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
LINT_SCANNER = "cfn-lint"
RULES_SCANNER = "template-rules"
#: The command line that reports what the pipeline reports (run from the repository root).
COMMAND = "cfn-lint {template} --append-rules pytest_pipeline/predeploy/cfnrules"
"""The command line that runs exactly the pipeline's template checks on ``{template}``: the
template comes first, since ``--append-rules`` takes every word after it as a rules folder."""


@dataclass(frozen=True)
class RuleInfo:
    """One of the pipeline's rules, as cfn-lint loads it."""

    id: str
    shortdesc: str
    description: str
    control: str
    fix: str


def rule_catalogue() -> list[RuleInfo]:
    """Every rule of the rules directory, loaded the way ``--append-rules`` loads them."""
    rules = Rules.create_from_directory(str(RULES_DIR))
    return sorted(
        (RuleInfo(r.id, r.shortdesc, r.description, r.control, r.fix) for r in rules.values()),
        key=lambda r: (r.id[1:], r.id),
    )


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


def _nested(path: Path) -> list[Path]:
    """Local templates of ``AWS::CloudFormation::Stack`` resources (``TemplateURL`` a
    relative file path, as ``aws cloudformation package`` takes them)."""
    template, errors = decode_str(path.read_text(encoding="utf-8"))
    if errors or not isinstance(template, dict):
        return []  # cfn-lint reports the parse error on the template itself
    found = []
    for spec in (template.get("Resources") or {}).values():
        if not isinstance(spec, dict) or spec.get("Type") != "AWS::CloudFormation::Stack":
            continue
        url = (spec.get("Properties") or {}).get("TemplateURL")
        if isinstance(url, str) and "://" not in url:
            child = (path.parent / url).resolve()
            if child.is_file():
                found.append(child)
    return found


def run_templates(template: str | Path) -> list[Path]:
    """The templates a run deploys: the configured one and the local templates of its
    nested stacks (raises FileNotFoundError when the configured one is missing)."""
    root = Path(template)
    if not root.is_file():
        raise FileNotFoundError(f"template {root} does not exist (setting `template`)")
    seen: dict[Path, None] = {}
    queue = [root.resolve()]
    while queue:
        path = queue.pop(0)
        if path not in seen:
            seen[path] = None
            queue.extend(_nested(path))
    return list(seen)


def _finding(match: Any, location: str) -> Finding | None:
    rule = match.rule
    severity = LINT_SEVERITY.get(str(rule.severity).lower())
    if severity is None:  # informational
        return None
    where = list(getattr(match, "path", None) or [])
    resource = None
    if len(where) > 1 and where[0] in ("Resources", "Parameters"):
        resource = str(where[1])
    ours = getattr(rule, "control", None) is not None and hasattr(match, "fix")
    return Finding(
        scanner=RULES_SCANNER if ours else LINT_SCANNER,
        rule_id=rule.id,
        severity=severity,
        message=str(match.detail) if ours else str(match.message),
        fix=str(match.fix) if ours else f"{rule.shortdesc} (see {rule.source_url})",
        location=location,
        line=int(match.linenumber) if match.linenumber else None,
        resource=resource,
    )


def _config(regions: tuple[str, ...], *args: str) -> Any:
    return ConfigMixIn(list(args), regions=list(regions), append_rules=[str(RULES_DIR)])


@lru_cache(maxsize=4)
def _rules(regions: tuple[str, ...]) -> Any:
    """cfn-lint's rules and the pipeline's, loaded once (two thirds of a run's time)."""
    return Runner(_config(regions)).rules


@lru_cache(maxsize=64)
def _scan_cached(path: str, mtime: float, regions: tuple[str, ...]) -> tuple[Finding, ...]:
    # What `cfn-lint --append-rules RULES_DIR PATH` runs, with the rules loaded once.
    config = _config(regions, "--template", path)
    matches = run_template_by_file_path(path, config, _rules(regions), False)
    location = _location(Path(path))
    found = (_finding(m, location) for m in matches)
    return tuple(f for f in found if f is not None)


def scan_template(path: str | Path, regions: tuple[str, ...] = ("us-east-1",)) -> list[Finding]:
    """cfn-lint's errors (high) and warnings (medium) and the pipeline's rules on the
    template at ``path``: one cfn-lint run, as ``cfn-lint --append-rules`` does it."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"template {source} does not exist")
    return list(_scan_cached(str(source.resolve()), source.stat().st_mtime, regions))


def lint_template(path: str | Path, regions: tuple[str, ...] = ("us-east-1",)) -> list[Finding]:
    """cfn-lint's own errors (severity high) and warnings (medium) for the template."""
    return [f for f in scan_template(path, regions) if f.scanner == LINT_SCANNER]


def security_findings(path: str | Path) -> list[Finding]:
    """Findings of the pipeline's rules (:mod:`~pytest_pipeline.predeploy.cfnrules`)."""
    return [f for f in scan_template(path) if f.scanner == RULES_SCANNER]


def scan(ctx: ScanContext) -> ScanOutcome:
    """The `templates` scanner: the templates the run deploys (and their nested local
    templates) through cfn-lint with the pipeline's rules."""
    configured = [t for t in ctx.templates if t.is_file()]
    if not configured:
        shown = ", ".join(display_path(t, ctx.root) for t in ctx.templates) or "none"
        reason = f"no CloudFormation template to check (setting `template`: {shown})"
        return ScanOutcome("templates", [], "", skipped=reason)
    files = list(dict.fromkeys(p for t in configured for p in run_templates(t)))
    findings: list[Finding] = []
    for path in files:
        location = display_path(path, ctx.root)
        for finding in scan_template(path):
            findings.append(dataclasses.replace(finding, location=location))
    return ScanOutcome(
        "templates",
        findings,
        f"{len(files)} template(s) the run deploys checked with cfn-lint and the pipeline's "
        f"rules ({COMMAND}): " + ", ".join(display_path(p, ctx.root) for p in files),
    )
