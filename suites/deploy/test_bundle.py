"""The source bundle holds what the platform needs, nothing it must not, and is what S3 holds."""

from __future__ import annotations

import fnmatch
import hashlib
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("aws", "the bundle checks")

from pytest_pipeline.aws.bundles import Bundle, scan_bundle_for_secrets  # noqa: E402
from pytest_pipeline.settings import PipelineSettings  # noqa: E402

# What must never ship, stated independently of the code that builds the bundle.
NEVER_FOLDERS = {"tests", "test", "__pycache__", ".pytest_cache", ".venv", "venv", ".git", ".aws"}
NEVER_FILES = ["*.pyc", ".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*", ".netrc"]
MODEL_SUFFIXES = {".tflite", ".onnx", ".caffemodel", ".prototxt", ".pb"}


def members(bundle: Bundle) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(bundle.path) as zf:
        return zf.infolist()


def test_bundle_has_the_platform_files(bundle: Bundle, pipeline_settings: PipelineSettings) -> None:
    """Procfile (with a web command) and requirements.txt at the root, every .ebextensions
    file and every model file of the application."""
    app = pipeline_settings.app_dir
    names = {info.filename for info in members(bundle)}
    with zipfile.ZipFile(bundle.path) as zf:
        procfile = zf.read("Procfile").decode() if "Procfile" in names else ""
    assert any(line.startswith("web:") for line in procfile.splitlines()), "no 'web:' Procfile"
    assert "requirements.txt" in names
    wanted = [
        path.relative_to(app).as_posix()
        for path in app.rglob("*")
        if path.is_file()
        and (path.relative_to(app).parts[0] == ".ebextensions" or path.suffix in MODEL_SUFFIXES)
        and not NEVER_FOLDERS & set(path.relative_to(app).parts)
    ]
    missing = sorted(set(wanted) - names)
    assert not missing, f"bundle {bundle.path.name} lacks {missing}"


def test_bundle_ships_nothing_it_must_not(bundle: Bundle) -> None:
    """No tests, caches, virtualenvs, VCS folders, env files or keys."""
    offending = []
    for info in members(bundle):
        path = PurePosixPath(info.filename)
        if NEVER_FOLDERS & set(path.parts[:-1]) or any(
            fnmatch.fnmatch(path.name, pattern) for pattern in NEVER_FILES
        ):
            offending.append(info.filename)
    assert not offending, f"bundle {bundle.path.name} ships {offending}"


def test_bundle_has_no_secrets(bundle: Bundle, pipeline_settings: PipelineSettings) -> None:
    """detect-secrets finds nothing in any member (the repository's baseline applies)."""
    app = pipeline_settings.app_dir.resolve()
    try:
        prefix = app.relative_to(pipeline_settings.rootdir.resolve()).as_posix() + "/"
    except ValueError:
        prefix = ""
    baseline = pipeline_settings.secrets_baseline
    findings = scan_bundle_for_secrets(bundle, Path(baseline) if baseline else None, prefix)
    assert not findings, "\n".join(finding.describe() for finding in findings)


def test_bundle_is_deterministic(bundle: Bundle) -> None:
    """Sorted members with fixed timestamps and modes; the recorded sha256 is the file's."""
    infos = members(bundle)
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    loose = [
        i.filename
        for i in infos
        if i.date_time != (1980, 1, 1, 0, 0, 0) or stat.S_IMODE(i.external_attr >> 16) != 0o644
    ]
    assert not loose, f"members with varying timestamp or mode: {loose}"
    assert hashlib.sha256(bundle.path.read_bytes()).hexdigest() == bundle.sha256


def test_uploaded_object_matches(bundle: Bundle, aws: Any) -> None:
    """The S3 object's content and its sha256 metadata both match the bundle."""
    if not bundle.uploaded:
        pytest.fail(f"bundle {bundle.version_label} was not uploaded")
    s3 = aws.client("s3")
    obj = s3.get_object(Bucket=bundle.s3_bucket, Key=bundle.s3_key)
    digest = hashlib.sha256(obj["Body"].read()).hexdigest()
    assert obj["Metadata"].get("sha256") == bundle.sha256
    assert digest == bundle.sha256, f"s3://{bundle.s3_bucket}/{bundle.s3_key} differs"
