"""Source bundles: build, label, scan, upload and prune the zip that Elastic Beanstalk deploys.

The zip is deterministic (sorted members, fixed timestamps and modes, fixed compression), so
the same application content always has the same sha256 — that hash is what the pipeline
records, uploads as object metadata and verifies after upload.

Which files go in follows three layers, strongest first:

1. always excluded, whatever ``.ebignore`` says: tests, caches, virtualenvs, VCS folders,
   ``.env*`` files and private keys (shipping those is never right);
2. always included (unless excluded by 1): ``Procfile``, ``requirements.txt``,
   ``.ebextensions/``, ``.platform/`` and model files — the platform cannot run without them;
3. ``.ebignore`` with gitignore semantics (``pathspec``), including the rule that a file
   cannot be re-included when a parent folder is excluded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from pytest_pipeline.findings import Finding, Severity

if TYPE_CHECKING:
    import pathspec

EBIGNORE = ".ebignore"
DEFAULT_PREFIX = "bundles/"
SHA256_METADATA_KEY = "sha256"

# Folder names that never ship, wherever they are.
EXCLUDED_DIRS = frozenset(
    {
        "tests",
        "test",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "virtualenv",
        ".virtualenv",
        "node_modules",
        ".git",
        ".hg",
        ".svn",
        ".idea",
        ".vscode",
        ".aws",
        ".ssh",
        ".elasticbeanstalk",
    }
)
# File-name patterns (gitignore syntax) that never ship: compiled files, env files, keys.
EXCLUDED_FILES = (
    "*.pyc",
    "*.pyo",
    ".env",
    ".env.*",
    ".env*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".pypirc",
    ".coverage",
    ".coverage.*",
    ".DS_Store",
    "*.egg-info/",
)
# What the platform needs; shipped even when .ebignore lists it.
REQUIRED_FILES = ("Procfile",)
FORCED_FILES = ("Procfile", "requirements.txt")
FORCED_DIRS = (".ebextensions", ".platform")
MODEL_SUFFIXES = frozenset(
    {".onnx", ".caffemodel", ".prototxt", ".pb", ".pbtxt", ".tflite", ".pt", ".pth", ".xml"}
)
MODEL_DIRS = frozenset({"models", "model"})

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644  # regular file, rw-r--r--


@functools.cache
def _excluded_files_spec() -> pathspec.GitIgnoreSpec:
    import pathspec  # the optional extra 'aws': imported where it is used

    return pathspec.GitIgnoreSpec.from_lines(EXCLUDED_FILES)


class BundleError(RuntimeError):
    """The bundle could not be built, verified or uploaded; the message says what to do."""


class AwsClientFactory(Protocol):
    """What this module needs from ``aws.clients.AwsContext``."""

    def client(self, service: str) -> Any: ...


@dataclass(frozen=True)
class Bundle:
    """A built source bundle (and, once uploaded, where it lives in S3)."""

    path: Path
    sha256: str
    version_label: str
    files: tuple[str, ...]
    size: int
    s3_bucket: str | None = None
    s3_key: str | None = None
    excluded: tuple[str, ...] = field(default=(), compare=False)

    @property
    def uploaded(self) -> bool:
        return self.s3_bucket is not None and self.s3_key is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (for run state and reports)."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "version_label": self.version_label,
            "files": list(self.files),
            "size": self.size,
            "s3_bucket": self.s3_bucket,
            "s3_key": self.s3_key,
            "excluded": list(self.excluded),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bundle:
        """The inverse of ``to_dict``."""
        return cls(
            path=Path(data["path"]),
            sha256=str(data["sha256"]),
            version_label=str(data["version_label"]),
            files=tuple(data.get("files") or ()),
            size=int(data.get("size", 0)),
            s3_bucket=data.get("s3_bucket"),
            s3_key=data.get("s3_key"),
            excluded=tuple(data.get("excluded") or ()),
        )


def version_label(env: str, commit: str, now: datetime) -> str:
    """``<env>-<short commit>-<UTC %Y%m%dT%H%M%SZ>``, e.g. ``dev-1a2b3c4-20260101T120000Z``.

    ``now`` must be timezone-aware; it is converted to UTC.
    """
    if not env:
        raise ValueError("version_label: env must not be empty")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"version_label: now must be timezone-aware, got {now.isoformat()}")
    short = (commit or "nocommit").strip()[:7] or "nocommit"
    return f"{env}-{short}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def always_excluded(relpath: str) -> bool:
    """True when ``relpath`` (posix, relative to the app folder) must never ship."""
    parts = PurePosixPath(relpath).parts
    if any(part in EXCLUDED_DIRS for part in parts[:-1]):
        return True
    return any(
        _excluded_files_spec().match_file(
            "/".join(parts[: i + 1]) + ("/" if i < len(parts) - 1 else "")
        )
        for i in range(len(parts))
    )


def forced(relpath: str) -> bool:
    """True when ``relpath`` ships even if ``.ebignore`` lists it (platform files, models)."""
    path = PurePosixPath(relpath)
    if relpath in FORCED_FILES or path.parts[0] in FORCED_DIRS:
        return True
    in_model_dir = any(part in MODEL_DIRS for part in path.parts[:-1])
    return path.suffix.lower() in MODEL_SUFFIXES and (in_model_dir or path.suffix != ".xml")


def _load_ebignore(app_dir: Path) -> pathspec.GitIgnoreSpec:
    import pathspec  # the optional extra 'aws'

    ignore_file = app_dir / EBIGNORE
    lines = ignore_file.read_text(encoding="utf-8").splitlines() if ignore_file.is_file() else []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def select_files(app_dir: Path) -> tuple[list[str], list[str]]:
    """The files to ship and the ones left out, both sorted, as posix relative paths.

    Folders that never ship (``tests/``, ``.venv/``, ...) are not descended into and appear
    in the left-out list as the folder path with a trailing ``/``.
    """
    spec = _load_ebignore(app_dir)
    included: list[str] = []
    excluded: list[str] = []
    pruned: list[str] = []  # folders excluded by .ebignore (their files cannot be re-included)
    for root, dirs, files in os.walk(app_dir, followlinks=False):
        rel_root = Path(root).relative_to(app_dir).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        for name in sorted(dirs):
            folder = prefix + name + "/"
            # A placeholder member tests the folder's own path against the never-ship rules.
            if name in EXCLUDED_DIRS or always_excluded(folder + "member"):
                dirs.remove(name)
                excluded.append(folder)
            elif spec.match_file(folder):
                pruned.append(folder)
        for name in files:
            relpath = prefix + name
            if relpath == EBIGNORE or always_excluded(relpath):
                excluded.append(relpath)
            elif forced(relpath):
                included.append(relpath)
            elif any(relpath.startswith(folder) for folder in pruned) or spec.match_file(relpath):
                excluded.append(relpath)
            else:
                included.append(relpath)
    return sorted(included), sorted(excluded)


def _check_member(app_dir: Path, relpath: str) -> Path:
    source = app_dir / relpath
    resolved = source.resolve()
    if not resolved.is_relative_to(app_dir.resolve()):
        raise BundleError(
            f"{source} is a symbolic link to {resolved}, outside the application folder "
            f"{app_dir}; copy the file into the application or add it to {EBIGNORE}"
        )
    return source


def write_deterministic_zip(app_dir: Path, members: Iterable[str], target: Path) -> None:
    """Write ``members`` of ``app_dir`` to ``target`` so the same content gives the same bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(
            tmp_name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
        ) as zf:
            for relpath in sorted(members):
                source = _check_member(app_dir, relpath)
                info = zipfile.ZipInfo(relpath, date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so external_attr carries the mode
                info.external_attr = _FILE_MODE << 16
                zf.writestr(info, source.read_bytes(), compresslevel=9)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def build_bundle(app_dir: Path | str, out_dir: Path | str, version_label: str) -> Bundle:
    """Build ``<out_dir>/<version_label>.zip`` from ``app_dir`` (see the module docstring)."""
    app = Path(app_dir)
    if not app.is_dir():
        raise BundleError(f"application folder {app} does not exist; set app-dir to the app")
    if not version_label or "/" in version_label:
        raise BundleError(f"invalid version label {version_label!r}: must be non-empty, no '/'")
    included, excluded = select_files(app)
    missing = [name for name in REQUIRED_FILES if name not in included]
    if missing:
        raise BundleError(
            f"{app} has no {', '.join(missing)}: Elastic Beanstalk needs a Procfile with a "
            f"'web:' command at the root of the bundle"
        )
    target = Path(out_dir) / f"{version_label}.zip"
    write_deterministic_zip(app, included, target)
    return Bundle(
        path=target,
        sha256=sha256_file(target),
        version_label=version_label,
        files=tuple(included),
        size=target.stat().st_size,
        excluded=tuple(excluded),
    )


def bundle_members(bundle: Bundle) -> list[zipfile.ZipInfo]:
    """The zip's members as written (for checks that inspect the archive itself)."""
    with zipfile.ZipFile(bundle.path) as zf:
        return zf.infolist()


def scan_bundle_for_secrets(
    bundle: Bundle, baseline: Path | None = None, prefix: str = ""
) -> list[Finding]:
    """Secrets in the bundle: ``predeploy.secrets.scan_files`` (detect-secrets) over every member,
    plus members that must never ship (keys, env files, tests, caches).

    ``prefix`` (the app folder relative to the repository, e.g. ``app/``) is put before each
    member's path so that entries of the repository's detect-secrets ``baseline`` apply.
    Locations are those prefixed paths; messages never hold a secret's value.
    """
    # detect-secrets, the optional extra 'scanners': imported where it is used
    from pytest_pipeline.predeploy import secrets

    findings: list[Finding] = []
    with zipfile.ZipFile(bundle.path) as zf:
        members = [info for info in zf.infolist() if not info.is_dir()]
        for info in members:
            if always_excluded(info.filename):
                findings.append(
                    Finding(
                        scanner="bundle",
                        rule_id="PIPE-BUNDLE-001",
                        severity=Severity.HIGH,
                        message=f"{info.filename} must never ship (test, cache, env or key file) "
                        f"but is in {bundle.path.name}",
                        fix="rebuild the bundle with build_bundle(), which excludes it",
                        location=info.filename,
                    )
                )
        scan = secrets.scan_files(
            ((prefix + info.filename, zf.read(info)) for info in members),
            origin=f"bundle {bundle.path.name}",
            baseline=baseline,
        )
    return findings + scan.findings


def upload(
    ctx: AwsClientFactory, bundle: Bundle, bucket: str, prefix: str = DEFAULT_PREFIX
) -> Bundle:
    """Upload the bundle to ``s3://bucket/<prefix><label>.zip`` and verify it by reading it back.

    The sha256 is stored as object metadata; after upload the object is downloaded, hashed and
    compared with the bundle and with that metadata. Returns the bundle with its S3 location.
    """
    s3 = ctx.client("s3")
    key = f"{prefix}{bundle.version_label}.zip"
    actual = sha256_file(bundle.path)
    if actual != bundle.sha256:
        raise BundleError(
            f"{bundle.path} changed after it was built (sha256 {actual} != {bundle.sha256}); "
            "rebuild the bundle"
        )
    with bundle.path.open("rb") as body:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/zip",
            Metadata={SHA256_METADATA_KEY: bundle.sha256},
        )
    response = s3.get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    for chunk in iter(lambda: response["Body"].read(1 << 20), b""):
        digest.update(chunk)
    stored = response.get("Metadata", {}).get(SHA256_METADATA_KEY)
    if digest.hexdigest() != bundle.sha256 or stored != bundle.sha256:
        raise BundleError(
            f"s3://{bucket}/{key} does not match the bundle after upload (content sha256 "
            f"{digest.hexdigest()}, metadata sha256 {stored}, expected {bundle.sha256}); "
            "upload again and check for a proxy or bucket policy rewriting objects"
        )
    return replace(bundle, s3_bucket=bucket, s3_key=key)


def apply_retention(
    ctx: AwsClientFactory,
    bucket: str,
    keep: int,
    serving_key: str | None,
    prefix: str = DEFAULT_PREFIX,
    protect: Collection[str] = (),
) -> list[str]:
    """Delete all but the newest ``keep`` bundles under ``prefix``; never the serving one
    nor one in ``protect`` (the bundles of application versions that remain).

    Returns the deleted keys, oldest first.
    """
    if keep < 1:
        raise ValueError(f"bundle-retention must keep at least 1 bundle, got {keep}")
    s3 = ctx.client("s3")
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend(page.get("Contents", []))
    objects.sort(key=lambda item: (item["LastModified"], item["Key"]), reverse=True)
    doomed = [
        item["Key"]
        for item in objects[keep:]
        if item["Key"] != serving_key and item["Key"] not in protect
    ]
    doomed.reverse()
    for start in range(0, len(doomed), 1000):
        batch = doomed[start : start + 1000]
        response = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
        )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise BundleError(
                f"could not delete {len(errors)} old bundle(s) from s3://{bucket} "
                f"(first: {first.get('Key')}: {first.get('Code')} {first.get('Message')}); "
                "check the pipeline role's s3:DeleteObject permission"
            )
    return doomed


def file_mode_is_fixed(info: zipfile.ZipInfo) -> bool:
    """True when a member carries the fixed mode and timestamp of a deterministic bundle."""
    return info.date_time == _ZIP_EPOCH and stat.S_IMODE(info.external_attr >> 16) == 0o644
