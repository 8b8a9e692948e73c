"""Vulnerability audit of the pinned requirements: pip-audit online, else an OSV directory.

pip-audit is used only when its service is *trustworthy*: a probe with a known-vulnerable
pin must come back with a vulnerability. Behind a proxy or with a mirror that lacks the
JSON API, pip-audit's default service answers 404 and then reports "no known
vulnerabilities" — that is not a clean result, so it is not used. Otherwise the OSV
directory named by the ``vuln-db`` setting is read (``vulns/<package>/*.yaml``) and versions
are matched with ``packaging``: ``ECOSYSTEM`` ranges (introduced / fixed / last_affected)
and explicit ``versions`` lists. When neither source is usable, the result says so and
nothing is reported as clean.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.dependencies import parse_app, target_environment
from pytest_pipeline.predeploy.scanners import ScanContext, ScanOutcome

SCANNER = "vulnerability-audit"

#: A release with many published advisories: any working service must report it.
PROBE = ("pillow", "9.0.0")


@dataclass(frozen=True)
class Pin:
    """An exactly pinned package to audit, with where it is declared."""

    name: str
    version: str
    location: str = "requirements.txt"
    line: int | None = None


@dataclass
class AuditResult:
    """What the audit checked, found, and could not check."""

    source: str = ""
    findings: list[Finding] = field(default_factory=list)
    checked: list[Pin] = field(default_factory=list)
    not_checked: list[tuple[Pin, str]] = field(default_factory=list)
    unavailable: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """What was audited and with which source, for a passing test's report."""
        if self.unavailable:
            return f"nothing audited: {self.unavailable}"
        text = f"{len(self.checked)} pinned packages audited with {self.source}"
        if self.not_checked:
            text += f"; not audited: {', '.join(p.name for p, _ in self.not_checked)}"
        return text


# -- OSV directory ---------------------------------------------------------------------------


def _v(raw: Any) -> Version | None:
    try:
        return Version(str(raw))
    except InvalidVersion:
        return None


def in_range(version: Version, events: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``version`` lies in an OSV ``ECOSYSTEM`` range given by its ``events``.

    ``introduced`` opens an affected interval, ``fixed`` closes it (exclusive) and
    ``last_affected`` closes it inclusively, following the OSV schema's evaluation order.
    """
    points: list[tuple[Version, int, str]] = []
    order = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
    for event in events:
        for kind, raw in event.items():
            if kind not in order:
                continue
            parsed = Version("0") if kind == "introduced" and str(raw) == "0" else _v(raw)
            if parsed is not None:
                points.append((parsed, order[kind], kind))
    affected = False
    for point, _, kind in sorted(points):
        if kind == "introduced" and point <= version:
            affected = True
        elif kind in ("fixed", "last_affected") and (
            point < version or (kind == "fixed" and point == version)
        ):
            affected = False
    return affected


def is_affected(advisory: Mapping[str, Any], name: str, version: Version) -> bool:
    """Whether ``name==version`` is affected by the OSV ``advisory``."""
    for affected in advisory.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) != name:
            continue
        listed = {_v(v) for v in affected.get("versions") or []}
        if version in listed:
            return True
        for rng in affected.get("ranges") or []:
            if rng.get("type") == "ECOSYSTEM" and in_range(version, rng.get("events") or []):
                return True
    return False


def fixed_versions(advisory: Mapping[str, Any], name: str, version: Version) -> list[Version]:
    """Releases that fix the advisory after ``version`` (the upgrade targets)."""
    found: set[Version] = set()
    for affected in advisory.get("affected") or []:
        package = affected.get("package") or {}
        if canonicalize_name(package.get("name", "")) != name:
            continue
        for rng in affected.get("ranges") or []:
            if rng.get("type") != "ECOSYSTEM":
                continue
            for event in rng.get("events") or []:
                fixed = _v(event.get("fixed")) if "fixed" in event else None
                if fixed is not None and fixed > version:
                    found.add(fixed)
    return sorted(found)


_CVSS_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}


def cvss3_score(vector: str) -> float | None:
    """CVSS v3.x base score of a vector string (``CVSS:3.1/AV:N/...``), or ``None``."""
    try:
        parts = dict(p.split(":", 1) for p in vector.split("/")[1:])
        scope_changed = parts["S"] == "C"
        pr = {"N": 0.85, "L": 0.68 if scope_changed else 0.62, "H": 0.5 if scope_changed else 0.27}
        w = {k: _CVSS_WEIGHTS[k][parts[k]] for k in _CVSS_WEIGHTS}
        privileges = pr[parts["PR"]]
    except (KeyError, ValueError):
        return None
    iss = 1 - (1 - w["C"]) * (1 - w["I"]) * (1 - w["A"])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if scope_changed else 6.42 * iss
    exploitability = 8.22 * w["AV"] * w["AC"] * privileges * w["UI"]
    if impact <= 0:
        return 0.0
    total = (impact + exploitability) * (1.08 if scope_changed else 1.0)
    return math.ceil(min(total, 10.0) * 10 - 1e-9) / 10


def severity_of(advisory: Mapping[str, Any]) -> tuple[Severity, str]:
    """Severity from the advisory's CVSS v3 vector or database label; HIGH when unrated."""
    for item in advisory.get("severity") or []:
        if str(item.get("type", "")).startswith("CVSS_V3"):
            score = cvss3_score(str(item.get("score", "")))
            if score is not None:
                if score >= 9.0:
                    return Severity.CRITICAL, f"CVSS {score}"
                if score >= 7.0:
                    return Severity.HIGH, f"CVSS {score}"
                if score >= 4.0:
                    return Severity.MEDIUM, f"CVSS {score}"
                return Severity.LOW, f"CVSS {score}"
    label = str((advisory.get("database_specific") or {}).get("severity", "")).lower()
    if label in {s.value for s in Severity}:
        return Severity(label), label
    if label == "moderate":
        return Severity.MEDIUM, label
    return Severity.HIGH, "unrated"


@cache
def _advisories(db: Path, name: str) -> tuple[dict[str, Any], ...]:
    folder = db / "vulns" if (db / "vulns").is_dir() else db
    found: list[dict[str, Any]] = []
    for directory in folder.iterdir() if folder.is_dir() else ():
        if not directory.is_dir() or canonicalize_name(directory.name) != name:
            continue
        for path in sorted(directory.glob("*.y*ml")) + sorted(directory.glob("*.json")):
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            if isinstance(data, dict):
                found.append(data)
    return tuple(found)


def _finding(pin: Pin, advisory: Mapping[str, Any], version: Version, origin: str) -> Finding:
    severity, rating = severity_of(advisory)
    aliases = [a for a in advisory.get("aliases") or [] if a != advisory.get("id")]
    summary = str(advisory.get("summary") or advisory.get("details") or "").strip()
    summary = summary.splitlines()[0] if summary else "no description"
    if len(summary) > 200:
        summary = summary[:197] + "..."
    fixes = fixed_versions(advisory, canonicalize_name(pin.name), version)
    fix = (
        f"upgrade {pin.name} to {fixes[0]} or later"
        if fixes
        else f"no fixed release is known: replace {pin.name} or waive with a reason"
    )
    also = f" (also {', '.join(aliases[:3])})" if aliases else ""
    return Finding(
        SCANNER, str(advisory.get("id", "OSV-UNKNOWN")), severity,
        f"{pin.name}=={pin.version} is vulnerable{also}, {rating}: {summary} [{origin}]",
        fix, pin.location, pin.line, resource=f"{pin.name}=={pin.version}",
    )  # fmt: skip


def audit_osv_dir(pins: Iterable[Pin], db: Path) -> AuditResult:
    """Match ``pins`` against the OSV directory ``db`` (``vulns/<package>/*.yaml``)."""
    result = AuditResult(source=f"the OSV directory {db}")
    if not db.is_dir():
        result.unavailable = f"the OSV directory {db} does not exist"
        return result
    for pin in pins:
        version = _v(pin.version)
        if version is None:
            result.not_checked.append((pin, f"version {pin.version!r} is not PEP 440"))
            continue
        result.checked.append(pin)
        for advisory in _advisories(db.resolve(), canonicalize_name(pin.name)):
            if advisory.get("withdrawn"):
                continue
            if is_affected(advisory, canonicalize_name(pin.name), version):
                result.findings.append(_finding(pin, advisory, version, f"OSV {db.name}"))
    return result


# -- pip-audit -------------------------------------------------------------------------------


def run_pip_audit(
    pins: Sequence[Pin], *, service: str = "pypi", timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run pip-audit on ``pins`` (no resolution, no pip); its JSON output.

    Raises :class:`RuntimeError` with pip-audit's own words when it fails.
    """
    with tempfile.TemporaryDirectory(prefix="pipeline-audit-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(f"{p.name}=={p.version}\n" for p in pins), encoding="utf-8")
        command = [
            sys.executable, "-m", "pip_audit", "-r", str(req), "--no-deps", "--disable-pip",
            "--format", "json", "--progress-spinner", "off", "-s", service,
            "--timeout", str(int(timeout)), "--cache-dir", str(Path(tmp) / "cache"),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout * 3,
                env=dict(env) if env is not None else None,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RuntimeError(f"pip-audit did not finish: {exc}") from exc
    try:
        data: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = [ln for ln in done.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        raise RuntimeError(f"pip-audit -s {service} failed: {last[0][:300]}") from None
    return data


def probe_service(
    service: str = "pypi", *, timeout: float = 20.0, env: Mapping[str, str] | None = None
) -> str | None:
    """``None`` when pip-audit's ``service`` reports the known-vulnerable probe, else why not."""
    name, version = PROBE
    try:
        data = run_pip_audit([Pin(name, version)], service=service, timeout=timeout, env=env)
    except RuntimeError as exc:
        return str(exc)
    for dep in data.get("dependencies", []):
        if dep.get("vulns"):
            return None
        if dep.get("skip_reason"):
            return (
                f"pip-audit -s {service} did not audit the known-vulnerable probe "
                f"{name}=={version}: {dep['skip_reason']}"
            )
    return (
        f"pip-audit -s {service} reported no vulnerability for the known-vulnerable probe "
        f"{name}=={version}, so its 'no known vulnerabilities' cannot be trusted"
    )


def audit_pip_audit(
    pins: Sequence[Pin], service: str = "pypi", timeout: float = 20.0
) -> AuditResult:
    """Audit ``pins`` with pip-audit's ``service`` (call :func:`probe_service` first)."""
    result = AuditResult(source=f"pip-audit ({service})")
    by_name = {canonicalize_name(p.name): p for p in pins}
    data = run_pip_audit(pins, service=service, timeout=timeout)
    for dep in data.get("dependencies", []):
        pin = by_name.get(canonicalize_name(dep.get("name", "")))
        if pin is None:
            continue
        if dep.get("skip_reason"):
            result.not_checked.append((pin, str(dep["skip_reason"])))
            continue
        result.checked.append(pin)
        for vuln in dep.get("vulns", []):
            advisory = {
                "id": vuln.get("id"), "aliases": vuln.get("aliases", []),
                "details": vuln.get("description", ""),
                "affected": [{"package": {"name": pin.name}, "ranges": [{"type": "ECOSYSTEM",
                              "events": [{"fixed": f} for f in vuln.get("fix_versions", [])]}]}],
            }  # fmt: skip
            version = _v(pin.version) or Version("0")
            result.findings.append(_finding(pin, advisory, version, result.source))
    return result


#: How long a service's probe verdict is reused (seconds).
PROBE_TTL_S = 3600.0


def probe_services(
    services: Sequence[str], *, timeout: float = 20.0, cache_dir: Path | None = None
) -> list[str | None]:
    """:func:`probe_service` for each service, at once; verdicts cached for an hour."""
    cache = cache_dir / "audit-probes.json" if cache_dir is not None else None
    known: dict[str, Any] = {}
    if cache is not None:
        try:
            known = json.loads(cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
    now = time.time()
    fresh = {
        s: known[s]["why_not"]
        for s in services
        if isinstance(known.get(s), dict) and now - float(known[s].get("at", 0)) < PROBE_TTL_S
    }
    missing = [s for s in services if s not in fresh]
    with ThreadPoolExecutor(max_workers=max(1, len(missing))) as pool:
        probed = dict(zip(missing, pool.map(lambda s: probe_service(s, timeout=timeout), missing),
                          strict=True))  # fmt: skip
    if cache is not None and probed:
        known.update({s: {"why_not": v, "at": now} for s, v in probed.items()})
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known), encoding="utf-8")
        os.replace(tmp, cache)
    return [fresh[s] if s in fresh else probed[s] for s in services]


def audit(
    pins: Sequence[Pin],
    *,
    vuln_db: Path | None,
    services: Sequence[str] = ("pypi",),
    timeout: float = 20.0,
    cache_dir: Path | None = None,
) -> AuditResult:
    """Audit with the first trustworthy pip-audit service, else the OSV directory.

    Every service is probed (at once, verdicts cached an hour in ``cache_dir``); the first
    trustworthy one in ``services`` order is used.
    """
    notes: list[str] = []
    verdicts = probe_services(services, timeout=timeout, cache_dir=cache_dir)
    for service, why_not in zip(services, verdicts, strict=True):
        if why_not is None:
            try:
                result = audit_pip_audit(pins, service, timeout)
            except RuntimeError as exc:
                notes.append(str(exc))
                continue
            result.notes = notes
            return result
        notes.append(why_not)
    if vuln_db is not None:
        result = audit_osv_dir(pins, vuln_db)
    else:
        result = AuditResult(
            unavailable="no vulnerability service answered and no OSV directory is configured "
            "(set vuln-db / PIPELINE_VULN_DB to an OSV snapshot)"
        )
    if result.unavailable and notes:
        result.unavailable += f" ({'; '.join(notes)})"
    result.notes = notes
    return result


# -- the `vulnerabilities` scanner (pytest_pipeline.predeploy.scanners.SCANNERS) ------------


def app_pins(ctx: ScanContext) -> tuple[list[Pin], list[str]]:
    """The app's pinned requirements for its runtime, and the names left unpinned."""
    parsed, python, _ = parse_app(ctx)
    env = target_environment(python)
    pins: list[Pin] = []
    loose: list[str] = []
    for entry in parsed.requirements():
        if not entry.applies(env):
            continue
        version = entry.pinned_version
        if version is None:
            loose.append(entry.name)
        else:
            pins.append(Pin(entry.requirement.name, str(version), entry.source, entry.line))
    return pins, loose


def scan(ctx: ScanContext) -> ScanOutcome:
    """Pinned packages have no known vulnerability (unchecked: skipped, or an error under
    ``audit_strict``)."""
    pins, loose = app_pins(ctx)
    result = audit(pins, vuln_db=ctx.vuln_db, services=ctx.audit_services, cache_dir=ctx.cache_dir)
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
