"""Network checks of the requirements against PyPI: every pin exists, fits the runtime, resolves.

Two complementary checks, each producing :class:`Finding` objects:

- the package index (PyPI's JSON simple API, PEP 691/700): each exact pin exists, is not
  yanked, and has a wheel or ``requires-python`` that admits the runtime Python on
  manylinux x86_64 (``PIPE-DEP-005``, ``-009``, ``-004``, ``-008``);
- ``pip install --dry-run --ignore-installed --report - --python-version X --only-binary=:all:``
  into nothing: the whole set, with its transitive dependencies, resolves (``PIPE-DEP-006``).

Results are cached per requirement set under ``.pipeline/cache/`` for a day, so repeated
runs cost nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from packaging import tags
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.dependencies import SCANNER, Entry, parse_app, target_environment
from pytest_pipeline.predeploy.scanners import ScanContext, ScanOutcome

INDEX_URL = "https://pypi.org/simple"
CACHE_TTL_S = 24 * 3600
_CACHE_VERSION = "1"
_ACCEPT = "application/vnd.pypi.simple.v1+json"


class ResolutionError(RuntimeError):
    """The index or pip could not be asked (network down, pip missing): nothing was checked."""


@dataclass
class ResolutionCheck:
    """Findings of the network checks, how many packages the set resolved to, cache use."""

    findings: list[Finding] = field(default_factory=list)
    checked_pins: int = 0
    resolved: int = 0
    cached: bool = False

    @property
    def summary(self) -> str:
        """What was checked, for a passing test's report."""
        origin = " (cached)" if self.cached else ""
        return (
            f"{self.checked_pins} pins checked on the index, the set resolves to "
            f"{self.resolved} packages{origin}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the cache."""
        return {
            "findings": [f.to_dict() for f in self.findings],
            "checked_pins": self.checked_pins,
            "resolved": self.resolved,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResolutionCheck:
        """Inverse of :meth:`to_dict`."""
        return cls(
            [Finding.from_dict(f) for f in data["findings"]],
            int(data["checked_pins"]),
            int(data["resolved"]),
            cached=True,
        )


def manylinux_platforms(arch: str = "x86_64", glibc_minor: int = 34) -> list[str]:
    """Platform tags an Amazon Linux 2023 instance (glibc 2.34) accepts, newest first."""
    platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc_minor, 4, -1)]
    return [*platforms, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def target_tags(python: Version) -> frozenset[str]:
    """Wheel tags installable by CPython ``python`` on manylinux x86_64."""
    version = (python.major, python.minor)
    platforms = manylinux_platforms()
    abi = f"cp{python.major}{python.minor}"
    found = list(tags.cpython_tags(version, abis=[abi, "abi3", "none"], platforms=platforms))
    found += list(tags.compatible_tags(version, f"cp{python.major}{python.minor}", platforms))
    return frozenset(str(t) for t in found)


def _fetch(session: requests.Session, name: str, index_url: str, timeout: float) -> Any:
    url = f"{index_url.rstrip('/')}/{name}/"
    try:
        response = session.get(url, headers={"Accept": _ACCEPT}, timeout=timeout)
    except requests.RequestException as exc:
        raise ResolutionError(f"cannot reach the package index at {url}: {exc}") from exc
    if response.status_code == 404:
        return None
    if not response.ok:
        raise ResolutionError(f"the package index answered HTTP {response.status_code} for {url}")
    return response.json()


def _pin_finding(
    entry: Entry, version: Version, project: Any, python: Version, wanted: frozenset[str]
) -> Finding | None:
    where = (entry.source, entry.line)
    if project is None:
        return Finding(SCANNER, "PIPE-DEP-005", Severity.HIGH,
                       f"{entry.name} does not exist on the package index",
                       "fix the package name", *where)  # fmt: skip
    versions = {str(v) for v in project.get("versions", [])}
    known: list[Version] = []
    for raw in versions:
        try:
            known.append(Version(raw))
        except InvalidVersion:
            continue
    files = []
    for item in project.get("files", []):
        filename = item.get("filename", "")
        version_of = _file_version(filename, entry.name)
        if version_of == version:
            files.append(item)
    if version not in known:
        latest = max((v for v in known if not v.is_prerelease), default=None)
        return Finding(SCANNER, "PIPE-DEP-005", Severity.HIGH,
                       f"{entry.name}=={version} does not exist on the package index"
                       + (f" (latest release: {latest})" if latest else ""),
                       f"pin a published version of {entry.name}", *where)  # fmt: skip
    if not files:
        return None  # no file name parsed to this version: leave the verdict to pip
    if all(item.get("yanked") for item in files):
        return Finding(SCANNER, "PIPE-DEP-009", Severity.MEDIUM,
                       f"{entry.name}=={version} was yanked from the index",
                       f"pin a release of {entry.name} that was not withdrawn", *where)  # fmt: skip
    admits = [f for f in files if _admits(f.get("requires-python"), python)]
    if not admits:
        declared = sorted({str(f.get("requires-python")) for f in files})
        return Finding(SCANNER, "PIPE-DEP-004", Severity.HIGH,
                       f"{entry.name}=={version} requires Python {', '.join(declared)}; the "
                       f"runtime is Python {python}",
                       f"pin a version of {entry.name} that supports Python {python}",
                       *where)  # fmt: skip
    wheels = [f for f in admits if f.get("filename", "").endswith(".whl")]
    if any(_wheel_tags(f["filename"]) & wanted for f in wheels):
        return None
    has_sdist = any(not f.get("filename", "").endswith(".whl") for f in admits)
    if has_sdist:
        return Finding(SCANNER, "PIPE-DEP-008", Severity.MEDIUM,
                       f"{entry.name}=={version} has no wheel for CPython {python} on manylinux "
                       "x86_64: it would be compiled on the instance at deploy time",
                       f"pin a version of {entry.name} that publishes a cp{python.major}"
                       f"{python.minor} manylinux wheel", *where)  # fmt: skip
    return Finding(SCANNER, "PIPE-DEP-004", Severity.HIGH,
                   f"{entry.name}=={version} publishes nothing installable on CPython {python} "
                   "manylinux x86_64", f"pin a version of {entry.name} with a wheel for "
                   f"Python {python}", *where)  # fmt: skip


def _file_version(filename: str, name: str) -> Version | None:
    if filename.endswith(".whl"):
        try:
            return parse_wheel_filename(filename)[1]
        except InvalidWheelFilename:
            return None
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|zip|tgz)$", "", filename)
    prefix_len = len(name)
    if canonicalize_name(stem[:prefix_len]) != name or stem[prefix_len : prefix_len + 1] != "-":
        return None
    try:
        return Version(stem[prefix_len + 1 :])
    except InvalidVersion:
        return None


def _wheel_tags(filename: str) -> frozenset[str]:
    try:
        return frozenset(str(t) for t in parse_wheel_filename(filename)[3])
    except InvalidWheelFilename:
        return frozenset()


def _admits(requires_python: str | None, python: Version) -> bool:
    if not requires_python:
        return True
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores a malformed requires-python too


def check_index(
    entries: Sequence[Entry],
    python: Version,
    *,
    index_url: str = INDEX_URL,
    timeout: float = 15.0,
) -> tuple[list[Finding], int]:
    """Check each applicable exact pin on the index; returns (findings, pins checked)."""
    environment = target_environment(python)
    pins = [
        e for e in entries
        if not e.constraint and e.pinned_version is not None and e.applies(environment)
    ]  # fmt: skip
    wanted = target_tags(python)
    with requests.Session() as session, ThreadPoolExecutor(max_workers=8) as pool:
        projects = list(pool.map(lambda e: _fetch(session, e.name, index_url, timeout), pins))
    findings: list[Finding] = []
    for entry, project in zip(pins, projects, strict=True):
        version = entry.pinned_version
        assert version is not None
        finding = _pin_finding(entry, version, project, python, wanted)
        if finding is not None:
            findings.append(finding)
    return findings, len(pins)


def pip_dry_run(
    requirements: Path,
    python: Version,
    *,
    timeout: float = 180.0,
    interpreter: str = sys.executable,
) -> dict[str, Any]:
    """Resolve ``requirements`` for ``python`` with pip into nothing; the ``--report`` JSON.

    ``--target`` (an empty temporary folder a dry run never fills) is what pip before 23.3
    requires next to ``--platform``; later versions accept it as well. Raises
    :class:`ResolutionError` when pip could not run; a set that does not resolve is returned
    as ``{"error": "<pip's error lines>"}``.
    """
    with tempfile.TemporaryDirectory(prefix="pipeline-resolve-") as target:
        command = [
            interpreter, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
            "--report", "-", "--disable-pip-version-check", "--no-input", "--target", target,
            "--python-version", f"{python.major}.{python.minor}", "--only-binary=:all:",
            "--implementation", "cp", "-r", str(requirements),
        ]  # fmt: skip
        for platform in manylinux_platforms():
            command += ["--platform", platform]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, cwd=requirements.parent
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ResolutionError(f"`pip install --dry-run` did not finish: {exc}") from exc
    if done.returncode == 0:
        try:
            report: dict[str, Any] = json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise ResolutionError(f"pip printed no JSON report: {done.stderr[-500:]}") from exc
        return report
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR:")]
    if any("Could not fetch URL" in e or "connection" in e.lower() for e in errors) and not any(
        "No matching distribution" in e or "conflict" in e.lower() for e in errors
    ):
        raise ResolutionError(f"pip could not reach the index: {' '.join(errors)[:500]}")
    return {"error": " ".join(e.removeprefix("ERROR: ") for e in errors)[:800] or done.stderr}


def _cache_key(entries: Sequence[Entry], python: Version) -> str:
    lines = sorted(f"{e.text}|{','.join(e.hashes)}|{e.constraint}" for e in entries)
    blob = "\n".join([_CACHE_VERSION, str(python), *lines])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def check_resolution(
    entries: Sequence[Entry],
    requirements: Path,
    python: Version,
    *,
    cache_dir: Path | None = None,
    index_url: str = INDEX_URL,
) -> ResolutionCheck:
    """Index checks plus the pip resolution, cached per requirement set in ``cache_dir``."""
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"resolve-{_cache_key(entries, python)}.json"
        try:
            if time.time() - cache_file.stat().st_mtime < CACHE_TTL_S:
                return ResolutionCheck.from_dict(json.loads(cache_file.read_text("utf-8")))
        except (OSError, ValueError, KeyError):
            pass
    findings, checked = check_index(entries, python, index_url=index_url)
    report = pip_dry_run(requirements, python)
    result = ResolutionCheck(findings, checked, len(report.get("install", [])))
    if "error" in report:
        named = {f.location + str(f.line) for f in findings}
        blamed = [e for e in entries if re.search(rf"\b{re.escape(e.requirement.name)}\b",
                                                  report["error"], re.IGNORECASE)]  # fmt: skip
        if not findings or not any(e.source + str(e.line) in named for e in blamed):
            anchor = blamed[0] if blamed else None
            result.findings.append(
                Finding(SCANNER, "PIPE-DEP-006", Severity.HIGH,
                        f"the requirements do not resolve for Python {python} on manylinux "
                        f"x86_64: {report['error']}",
                        "change the pins pip names so that one consistent set exists",
                        anchor.source if anchor else str(requirements.name),
                        anchor.line if anchor else None)
            )  # fmt: skip
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result.to_dict()), encoding="utf-8")
        os.replace(tmp, cache_file)
    return result


def scan(ctx: ScanContext) -> ScanOutcome:
    """The `resolution` scanner: every pin exists, fits the runtime Python, the set resolves."""
    parsed, python, _ = parse_app(ctx)
    check = check_resolution(parsed.entries, ctx.requirements, python, cache_dir=ctx.cache_dir)
    return ScanOutcome("resolution", check.findings, check.summary)
