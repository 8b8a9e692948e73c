"""Secret scanning with detect-secrets: the repository's tracked files and a bundle's members.

Every result is a :class:`Finding` whose message carries the secret *redacted*
(``AKIA****``): the value itself never leaves this module. Findings recorded in a
detect-secrets baseline (``.secrets.baseline``, written by ``detect-secrets scan``) are
accepted and not reported, unless the baseline marks them ``is_secret: true``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detect_secrets.__version__ import VERSION
from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core import scan as ds_scan
from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.settings import default_settings, get_settings, transient_settings

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.scanners import ScanContext, ScanOutcome

SCANNER = "detect-secrets"

#: Files larger than this are not read (photos, models, archives are not where keys hide).
MAX_FILE_BYTES = 2_000_000


class SecretScanError(RuntimeError):
    """The scan could not run (no git checkout, unreadable baseline, ...)."""


@dataclass
class SecretScan:
    """The outcome of one scan: findings, how many files were read, what was accepted."""

    findings: list[Finding] = field(default_factory=list)
    files_scanned: int = 0
    accepted: int = 0
    files_skipped: int = 0

    @property
    def summary(self) -> str:
        """What was scanned, for a passing test's report."""
        return (
            f"{self.files_scanned} files scanned by {SCANNER} ({self.files_skipped} binary "
            f"or larger than {MAX_FILE_BYTES // 1_000_000} MB not read), "
            f"{len(self.findings)} findings, {self.accepted} accepted in the baseline"
        )


def redact(value: str) -> str:
    """Hide a secret: keep at most 4 leading characters (``AKIA****``), never the rest.

    Short values keep nothing, so a redacted secret never reveals more than a quarter of
    itself.
    """
    keep = min(4, len(value) // 4)
    return f"{value[:keep]}****"


def _plugin_names() -> dict[str, str]:
    mapping: dict[str, type] = dict(get_mapping_from_secret_type_to_class())
    return {secret_type: cls.__name__ for secret_type, cls in mapping.items()}


def _settings(baseline: dict[str, Any] | None) -> AbstractContextManager[Any]:
    if baseline is not None and baseline.get("plugins_used"):
        return transient_settings(baseline)
    return default_settings()


def _is_text(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return False
        with path.open("rb") as handle:
            return b"\0" not in handle.read(8192)
    except OSError:
        return False


def load_baseline(path: Path) -> dict[str, Any] | None:
    """Read a detect-secrets baseline; ``None`` when the file does not exist."""
    if not path.is_file():
        return None

    try:
        loaded: dict[str, Any] = ds_baseline.load_from_file(str(path))
    except Exception as exc:  # detect-secrets raises its own error types
        raise SecretScanError(
            f"{path}: not a readable detect-secrets baseline ({exc}); "
            "regenerate it with `detect-secrets scan > .secrets.baseline`"
        ) from exc
    return loaded


def _accepted(baseline: dict[str, Any] | None) -> dict[str, dict[str, bool]]:
    """filename -> {hashed_secret: is_secret_flag} of the baseline's entries."""
    accepted: dict[str, dict[str, bool]] = {}
    if baseline is None:
        return accepted
    for filename, items in (baseline.get("results") or {}).items():
        for item in items:
            accepted.setdefault(filename, {})[str(item.get("hashed_secret"))] = bool(
                item.get("is_secret", False)
            )
    return accepted


#: (secret type, line, hashed secret, redacted value) of one potential secret.
_Hit = tuple[str, int, str, str]


def _file_hits(path: Path, name: str, cache: dict[str, list[_Hit]] | None) -> list[_Hit]:
    """detect-secrets results of one file, from ``cache`` when its content was seen before.

    The cache holds only hashes and redacted values, never a secret.
    """
    key = ""
    if cache is not None:
        key = f"{name}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
        if key in cache:
            return cache[key]
    hits = [
        (s.type, s.line_number or 0, s.secret_hash, redact(s.secret_value or ""))
        for s in ds_scan.scan_file(str(path))
    ]
    if cache is not None:
        cache[key] = hits
    return hits


def _cache_path(cache_dir: Path, baseline: dict[str, Any] | None) -> Path:
    with _settings(baseline):
        settings = json.dumps(get_settings().json(), sort_keys=True)
    digest = hashlib.sha256(f"{VERSION}|{settings}".encode()).hexdigest()[:16]
    return cache_dir / f"secrets-{digest}.json"


def _load_cache(path: Path | None) -> dict[str, list[_Hit]] | None:
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {k: [(str(a), int(b), str(c), str(d)) for a, b, c, d in v] for k, v in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def _save_cache(path: Path | None, cache: dict[str, list[_Hit]] | None, keep: set[str]) -> None:
    if path is None or cache is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({k: v for k, v in cache.items() if k in keep}), encoding="utf-8")
    os.replace(tmp, path)


def _scan(
    root: Path,
    names: Iterable[str],
    baseline: dict[str, Any] | None,
    origin: str,
    cache_dir: Path | None = None,
) -> SecretScan:
    names = sorted(set(names))
    result = SecretScan()
    plugins = _plugin_names()
    accepted = _accepted(baseline)
    cache_file = _cache_path(cache_dir, baseline) if cache_dir is not None else None
    cache = _load_cache(cache_file)
    with _settings(baseline):
        for name in names:
            path = root / name
            if not path.is_file():
                continue
            if not _is_text(path):
                result.files_skipped += 1
                continue
            result.files_scanned += 1
            for kind, line, hashed, shown in _file_hits(path, name, cache):
                known = accepted.get(name, {})
                if hashed in known and not known[hashed]:
                    result.accepted += 1
                    continue
                result.findings.append(
                    Finding(
                        scanner=SCANNER,
                        rule_id=plugins.get(kind, kind.replace(" ", "")),
                        severity=Severity.HIGH,
                        message=f"{kind} {shown} in {origin}",
                        fix=(
                            "remove the secret, rotate it, and read it from the environment "
                            "or AWS Secrets Manager; if it is a false positive, add it to "
                            "the baseline with `detect-secrets scan --baseline .secrets.baseline`"
                        ),
                        location=name,
                        line=line or None,
                    )
                )
    if cache is not None:
        listed = set(names)
        current = {k for k in cache if k.rsplit(":", 1)[0] in listed}
        _save_cache(cache_file, cache, current)
    return result


def tracked_files(repo: Path) -> list[str]:
    """Repository-relative paths of every file git tracks under ``repo``."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"],
            cwd=repo,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise SecretScanError(
            f"`git ls-files` failed in {repo}: {detail.decode(errors='replace').strip() or exc}; "
            "run the predeploy stage from a git checkout"
        ) from exc
    return [name for name in out.decode().split("\0") if name]


def scan_repository(
    repo: Path, baseline_path: Path | None = None, *, cache_dir: Path | None = None
) -> SecretScan:
    """Scan every git-tracked file of ``repo``; baseline entries are accepted.

    With ``cache_dir``, results are cached per file content (hashes and redacted values
    only), so an unchanged file is not scanned again.
    """
    baseline = load_baseline(baseline_path) if baseline_path is not None else None
    names = tracked_files(repo)
    if baseline_path is not None:
        with suppress(OSError):
            names = [n for n in names if (repo / n).resolve() != baseline_path.resolve()]
    return _scan(repo, names, baseline, "a tracked file", cache_dir)


def scan_files(
    members: Iterable[tuple[str, bytes]],
    origin: str = "the bundle",
    *,
    baseline: Path | None = None,
) -> SecretScan:
    """Scan in-memory files, such as a source bundle's zip members: ``(name, bytes)`` pairs.

    ``name`` is reported as the finding's location (the member's path inside the bundle).
    Returns a :class:`SecretScan`; ``findings`` is empty when nothing was found.
    """
    loaded = load_baseline(baseline) if baseline is not None else None
    with tempfile.TemporaryDirectory(prefix="pipeline-secrets-") as tmp:
        root = Path(tmp)
        names: list[str] = []
        for name, data in members:
            relative = Path(name.lstrip("/"))
            if ".." in relative.parts or name.endswith("/"):
                continue
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            names.append(relative.as_posix())
        return _scan(root, names, loaded, origin)


def scan(ctx: ScanContext) -> ScanOutcome:
    """The `secrets` scanner: no secret in a tracked file (the baseline when it exists)."""
    baseline = ctx.secrets_baseline
    if baseline is not None and not baseline.is_file():
        baseline = None
    found = scan_repository(ctx.root, baseline, cache_dir=ctx.cache_dir)
    return ScanOutcome("secrets", found.findings, found.summary)
