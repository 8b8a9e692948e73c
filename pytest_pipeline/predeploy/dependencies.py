"""The application's requirements: parsing, pinning and compatibility rules (offline).

``parse_requirements`` reads a pip requirements file with ``packaging`` (``-r``/``-c``
includes, markers, extras, ``--hash``, line continuations). ``pin_findings`` reports
unpinned and loosely pinned entries; ``compat_findings`` applies the ML-stack compatibility
rules kept as data in ``predeploy/data/compat_rules.toml``; ``runtime_python`` finds the Python
version of the Elastic Beanstalk platform. Network checks (the set resolves, every pinned
version exists) live in :mod:`pytest_pipeline.predeploy.resolve`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.scanners import ScanContext, ScanOutcome

SCANNER = "dependencies"

#: pip options that take a value and say nothing about a requirement's version.
_IGNORED_WITH_VALUE = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
    "--only-binary", "--no-binary", "--use-feature", "--config-settings", "--progress-bar",
}  # fmt: skip
_PLATFORM_RE = re.compile(r"running Python (3\.\d+)|Python (3\.\d+) running on", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One requirement line, after includes and continuations are resolved."""

    name: str
    requirement: Requirement
    source: str
    line: int
    hashes: tuple[str, ...] = ()
    constraint: bool = False
    editable: bool = False

    @property
    def pinned_version(self) -> Version | None:
        """The exact version of an ``==X`` / ``===X`` pin, else ``None``."""
        specs = list(self.requirement.specifier)
        if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
            return None
        try:
            return Version(specs[0].version)
        except InvalidVersion:
            return None

    @property
    def text(self) -> str:
        """The requirement as written (normalised by ``packaging``)."""
        return str(self.requirement)

    def applies(self, environment: Mapping[str, str]) -> bool:
        """Whether the entry's marker selects it on the target ``environment``."""
        marker: Marker | None = self.requirement.marker
        return marker is None or marker.evaluate(dict(environment))


@dataclass
class Parsed:
    """Entries of a requirements file and the problems met while reading it."""

    entries: list[Entry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def requirements(self) -> list[Entry]:
        """Entries that install something (constraints excluded)."""
        return [e for e in self.entries if not e.constraint]


def target_environment(python: Version) -> dict[str, str]:
    """Marker environment of the deploy target: CPython ``python`` on x86_64 Linux."""
    return {
        "python_version": f"{python.major}.{python.minor}",
        "python_full_version": f"{python.major}.{python.minor}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{python.major}.{python.minor}.0",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """Join ``\\`` continuations and drop comments; yields (first line number, text)."""
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if line.rstrip().endswith("\\"):
            buffer.append(line.rstrip()[:-1])
            continue
        buffer.append(line)
        joined = " ".join(part.strip() for part in buffer).strip()
        buffer = []
        if joined:
            yield start, joined
    if buffer:
        joined = " ".join(part.strip() for part in buffer).strip()
        if joined:
            yield start, joined


def _problem(source: str, line: int, rule: str, message: str, fix: str) -> Finding:
    return Finding(SCANNER, rule, Severity.HIGH, message, fix, source, line)


def parse_text(
    text: str,
    source: str,
    *,
    base: Path | None = None,
    root: Path | None = None,
    constraint: bool = False,
    _seen: set[Path] | None = None,
) -> Parsed:
    """Parse requirements ``text``; ``source`` names it in findings.

    Includes (``-r``/``-c``) are read relative to ``base``; without ``base`` an include is a
    finding, since it cannot be checked.
    """
    parsed = Parsed(files=[source])
    seen = _seen if _seen is not None else set()
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            head, _, remainder = line.partition(" ")
            rest = remainder.split()
        else:
            head, rest = "", []
        include = _include_target(head, rest) if head else None
        if include is not None:
            kind, target = include
            _read_include(parsed, kind, target, source, number, base, root, seen, constraint)
            continue
        editable = head in ("-e", "--editable") or head.startswith("--editable=")
        if editable:
            parsed.findings.append(
                _problem(source, number, "PIPE-DEP-002",
                         f"editable requirement {' '.join(rest) or head} is not a pinned release",
                         "install a released, pinned version instead of an editable checkout")
            )  # fmt: skip
            continue
        if head:
            if head.split("=", 1)[0] in _IGNORED_WITH_VALUE or head.startswith("--"):
                continue
            parsed.findings.append(
                _problem(source, number, "PIPE-DEP-000", f"unknown pip option {head!r}",
                         "remove the option or move it to the pip command line")
            )  # fmt: skip
            continue
        # As pip does: the requirement ends where the first per-requirement option starts.
        spec, *options = re.split(r"\s+(?=--[a-z])", line)
        tokens = " ".join(options).replace("--hash ", "--hash=").split()
        hashes = tuple(t.split("=", 1)[1] for t in tokens if t.startswith("--hash="))
        try:
            requirement = Requirement(spec)
        except InvalidRequirement as exc:
            parsed.findings.append(
                _problem(source, number, "PIPE-DEP-000",
                         f"not a valid requirement: {spec!r} ({exc})",
                         "write it as NAME[extras]==VERSION ; marker")
            )  # fmt: skip
            continue
        parsed.entries.append(
            Entry(canonicalize_name(requirement.name), requirement, source, number, hashes,
                  constraint=constraint)
        )  # fmt: skip
    return parsed


def _include_target(head: str, rest: list[str]) -> tuple[str, str] | None:
    for short, long, kind in (("-r", "--requirement", "r"), ("-c", "--constraint", "c")):
        if head in (short, long) and rest:
            return kind, rest[0]
        for prefix in (f"{long}=", short):
            if head.startswith(prefix) and len(head) > len(prefix):
                return kind, head[len(prefix) :].lstrip("=")
    return None


def _read_include(
    parsed: Parsed,
    kind: str,
    target: str,
    source: str,
    number: int,
    base: Path | None,
    root: Path | None,
    seen: set[Path],
    constraint: bool,
) -> None:
    if base is None:
        parsed.findings.append(
            _problem(source, number, "PIPE-DEP-000", f"include {target!r} cannot be followed",
                     "parse the requirements from a file so includes can be read")
        )  # fmt: skip
        return
    path = (base / target).resolve()
    if path in seen:
        return
    if not path.is_file():
        parsed.findings.append(
            _problem(source, number, "PIPE-DEP-000", f"included file {target!r} does not exist",
                     "fix the path of the -r/-c include")
        )  # fmt: skip
        return
    child = parse_file(path, root=root, constraint=constraint or kind == "c", _seen=seen)
    parsed.entries.extend(child.entries)
    parsed.findings.extend(child.findings)
    parsed.files.extend(child.files)


def display_path(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` when inside it, else as given."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def parse_file(
    path: Path,
    *,
    root: Path | None = None,
    constraint: bool = False,
    _seen: set[Path] | None = None,
) -> Parsed:
    """Parse a requirements file and everything it includes."""
    seen = _seen if _seen is not None else set()
    seen.add(path.resolve())
    text = path.read_text(encoding="utf-8")
    return parse_text(
        text, display_path(path, root), base=path.parent, root=root, constraint=constraint,
        _seen=seen,
    )  # fmt: skip


def pin_findings(entries: Sequence[Entry], environment: Mapping[str, str]) -> list[Finding]:
    """Unpinned (PIPE-DEP-001) and loosely pinned (PIPE-DEP-002) requirements."""
    pinned_by_constraint = {
        e.name for e in entries if e.constraint and e.pinned_version is not None
    }
    findings: list[Finding] = []
    for entry in entries:
        if entry.constraint or not entry.applies(environment) or entry.requirement.url:
            continue
        if entry.pinned_version is not None or entry.name in pinned_by_constraint:
            continue
        if not entry.requirement.specifier:
            findings.append(
                Finding(SCANNER, "PIPE-DEP-001", Severity.HIGH,
                        f"{entry.name} is not pinned ({entry.text!r}): each deploy may install "
                        "a different version", f"pin the tested version: {entry.name}==X.Y.Z",
                        entry.source, entry.line)
            )  # fmt: skip
        else:
            findings.append(
                Finding(SCANNER, "PIPE-DEP-002", Severity.MEDIUM,
                        f"{entry.name} is loosely pinned ({entry.requirement.specifier}): the "
                        "installed version can change without a code change",
                        f"pin one exact version: {entry.name}==X.Y.Z", entry.source, entry.line)
            )  # fmt: skip
    return findings


# -- compatibility rules --------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One clause of a rule: a package (any of ``names``) pinned in ``version``, or absent."""

    names: tuple[str, ...] = ()
    version: SpecifierSet | None = None
    absent: bool = False
    without_extras: frozenset[str] = frozenset()
    python: SpecifierSet | None = None


@dataclass(frozen=True)
class Rule:
    """A known incompatibility of the ML stack, with the reason it exists."""

    id: str
    summary: str
    reason: str
    fix: str
    severity: Severity
    when: tuple[Condition, ...]


@dataclass(frozen=True)
class Runtime:
    """The Elastic Beanstalk platform's Python, as declared in the rules data."""

    python: Version
    platform: str
    reason: str


def _condition(raw: Mapping[str, Any], where: str) -> Condition:
    try:
        names = raw.get("package", ())
        names = (names,) if isinstance(names, str) else tuple(names)
        return Condition(
            names=tuple(canonicalize_name(n) for n in names),
            version=SpecifierSet(raw["version"]) if "version" in raw else None,
            absent=bool(raw.get("absent", False)),
            without_extras=frozenset(raw.get("without_extras", ())),
            python=SpecifierSet(raw["python"]) if "python" in raw else None,
        )
    except (InvalidSpecifier, TypeError) as exc:
        raise ValueError(f"{where}: bad condition {dict(raw)!r} ({exc})") from exc


def parse_rules(data: Mapping[str, Any], source: str) -> tuple[Runtime, list[Rule]]:
    """Validate the rules data (see ``predeploy/data/compat_rules.toml``)."""
    runtime = data["runtime"]
    rules: list[Rule] = []
    for index, raw in enumerate(data.get("rule", []), start=1):
        where = f"{source}: rule #{index} ({raw.get('id', '?')})"
        missing = [k for k in ("id", "summary", "reason", "fix", "when") if k not in raw]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        rules.append(
            Rule(raw["id"], raw["summary"], raw["reason"], raw["fix"],
                 Severity(raw.get("severity", "high")),
                 tuple(_condition(c, where) for c in raw["when"]))
        )  # fmt: skip
    return Runtime(Version(runtime["python"]), runtime["platform"], runtime["reason"]), rules


@cache
def default_rules() -> tuple[Runtime, tuple[Rule, ...]]:
    """The rules shipped with the package."""
    text = resources.files("pytest_pipeline.predeploy").joinpath("data/compat_rules.toml")
    runtime, rules = parse_rules(tomllib.loads(text.read_text("utf-8")), "compat_rules.toml")
    return runtime, tuple(rules)


def _holds(cond: Condition, pins: Mapping[str, Entry], python: Version) -> Entry | bool | None:
    """An entry the condition matched, ``True`` for a match without one, ``False`` if not."""
    if cond.python is not None and python not in cond.python:
        return False
    if not cond.names:
        return True
    present = [pins[n] for n in cond.names if n in pins]
    if cond.absent:
        return not present
    for entry in present:
        if cond.version is not None:
            # Only an exact pin says which version is installed; a loose one is reported
            # by pin_findings instead.
            version = entry.pinned_version
            if version is None or not cond.version.contains(version, prereleases=True):
                continue
        if cond.without_extras and cond.without_extras & set(entry.requirement.extras):
            continue
        return entry
    return False


def compat_findings(
    entries: Sequence[Entry], python: Version, rules: Iterable[Rule] | None = None
) -> list[Finding]:
    """Every rule whose conditions all hold for the applicable pins and ``python``."""
    environment = target_environment(python)
    pins = {e.name: e for e in entries if not e.constraint and e.applies(environment)}
    findings: list[Finding] = []
    for rule in default_rules()[1] if rules is None else rules:
        matched: list[Entry] = []
        for cond in rule.when:
            outcome = _holds(cond, pins, python)
            if outcome is False:
                break
            if isinstance(outcome, Entry):
                matched.append(outcome)
        else:
            involved = ", ".join(e.text for e in matched) or "the requirements"
            anchor = matched[0] if matched else None
            findings.append(
                Finding(SCANNER, rule.id, rule.severity,
                        f"{involved} on Python {python}: {rule.summary} ({rule.reason})",
                        rule.fix, anchor.source if anchor else "requirements",
                        anchor.line if anchor else None)
            )  # fmt: skip
    return findings


def runtime_python(repo: Path, app_dir: Path) -> tuple[Version, str]:
    """The deploy platform's Python and where it was read.

    Looked up in the application's ``.ebextensions`` / ``.elasticbeanstalk`` files and the
    ``infra/`` templates (a solution stack like ``... running Python 3.11``), else the rules
    data's declared platform.
    """
    candidates = [
        *sorted(app_dir.glob(".ebextensions/*.config")),
        app_dir / ".elasticbeanstalk" / "config.yml",
        repo / ".elasticbeanstalk" / "config.yml",
        *sorted((repo / "infra").glob("*.yaml")),
        *sorted((repo / "infra").glob("*.json")),
    ]
    for path in candidates:
        try:
            match = _PLATFORM_RE.search(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if match:
            return Version(match.group(1) or match.group(2)), display_path(path, repo)
    runtime = default_rules()[0]
    return runtime.python, f"compat_rules.toml ({runtime.platform})"


def requires_python_findings(repo: Path, python: Version, source: str) -> list[Finding]:
    """The project's ``requires-python`` must admit the runtime Python (PIPE-DEP-004)."""
    pyproject = repo / "pyproject.toml"
    if not pyproject.is_file():
        return []
    try:
        declared = tomllib.loads(pyproject.read_text("utf-8")).get("project", {})
        spec = declared.get("requires-python")
    except (OSError, tomllib.TOMLDecodeError):
        return []
    if not spec or SpecifierSet(spec).contains(python, prereleases=True):
        return []
    return [
        Finding(SCANNER, "PIPE-DEP-004", Severity.HIGH,
                f"requires-python {spec!r} excludes the runtime Python {python} ({source})",
                "align requires-python in pyproject.toml with the Elastic Beanstalk platform",
                "pyproject.toml")
    ]  # fmt: skip


# -- the `dependencies` scanner (pytest_pipeline.predeploy.scanners.SCANNERS) ---------------


def parse_app(ctx: ScanContext) -> tuple[Parsed, Version, str]:
    """The app's parsed requirements, its runtime Python and where that came from."""
    if not ctx.requirements.is_file():
        raise FileNotFoundError(
            f"{display_path(ctx.requirements, ctx.root)} does not exist; the app must declare "
            "its dependencies there (set app-dir if the app lives elsewhere)"
        )
    parsed = parse_file(ctx.requirements, root=ctx.root)
    python, source = runtime_python(ctx.root, ctx.app_dir)
    return parsed, python, source


def scan(ctx: ScanContext) -> ScanOutcome:
    """Requirements parse, are pinned and fit the compatibility rules."""
    parsed, python, source = parse_app(ctx)
    env = target_environment(python)
    findings = [
        *parsed.findings,
        *pin_findings(parsed.entries, env),
        *compat_findings(parsed.entries, python),
        *requires_python_findings(ctx.root, python, source),
    ]
    count = len(parsed.requirements())
    rules = len(default_rules()[1])
    return ScanOutcome(
        "dependencies",
        findings,
        f"{count} requirements in {len(parsed.files)} file(s) checked against {rules} "
        f"compatibility rules for Python {python} (from {source})",
    )
