"""Source bundles: selection rules, determinism, secret scan, upload verification, retention."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from pytest_pipeline.aws import bundles
from pytest_pipeline.aws.bundles import BundleError, build_bundle, version_label

DIRS = ["lib", "docs", "static", "tests", "__pycache__", ".venv", "models", ".ebextensions"]
FILES = [
    "app.py",
    "README.md",
    "data.json",
    "notes.log",
    "keep.md",
    ".env",
    ".env.local",
    "id_rsa",
    "server.pem",
    "x.pyc",
    "face.onnx",
    "01.config",
    "requirements.txt",
]
NEVER_DIRS = {"tests", "__pycache__", ".venv"}
NEVER_FILES = {".env", ".env.local", "id_rsa", "server.pem", "x.pyc"}
PATTERNS = ["*.log", "docs/", "/README.md", "data.json", "!docs/keep.md", "requirements.txt"]


def expected_in_bundle(path: str, patterns: list[str]) -> bool:
    """An independent oracle of the selection rules for the generated names and patterns."""
    parts = path.split("/")
    folders, name = parts[:-1], parts[-1]
    if NEVER_DIRS & set(folders) or name in NEVER_FILES:
        return False
    if path in ("Procfile", "requirements.txt") or parts[0] == ".ebextensions":
        return True
    if name.endswith(".onnx"):
        return True
    ignored = (
        ("*.log" in patterns and name.endswith(".log"))
        # gitignore: a file under an excluded folder cannot be re-included by "!docs/keep.md"
        or ("docs/" in patterns and "docs" in folders)
        or ("/README.md" in patterns and path == "README.md")
        or ("data.json" in patterns and name == "data.json")
        or ("requirements.txt" in patterns and name == "requirements.txt")
    )
    return not ignored


paths = st.lists(
    st.tuples(st.lists(st.sampled_from(DIRS), max_size=2), st.sampled_from(FILES)).map(
        lambda item: "/".join([*item[0], item[1]])
    ),
    min_size=1,
    max_size=12,
    unique=True,
)


def write_tree(root: Path, files: dict[str, bytes], reverse: bool, mode: int) -> None:
    for index, (relpath, content) in enumerate(sorted(files.items(), reverse=reverse)):
        target = root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(mode)
        stamp = 1_000_000_000 + index * 977 + (5_000_000 if reverse else 0)
        os.utime(target, (stamp, stamp))


# Feature: ci-cd-pipeline, Property 3: a bundle holds exactly the files the rules allow, and the
# same content gives the same sha256 whatever the file order, timestamps and modes.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=paths,
    contents=st.lists(st.binary(max_size=64), min_size=12, max_size=12),
    patterns=st.lists(st.sampled_from(PATTERNS), unique=True, max_size=len(PATTERNS)),
)
def test_bundle_selection_and_determinism(
    tree: list[str], contents: list[bytes], patterns: list[str]
) -> None:
    files = {path: contents[i] for i, path in enumerate(tree)}
    files["Procfile"] = b"web: gunicorn application:application\n"
    if patterns:
        files[".ebignore"] = ("\n".join(patterns) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        first, second, out = Path(tmp, "a"), Path(tmp, "b"), Path(tmp, "out")
        write_tree(first, files, reverse=False, mode=0o644)
        write_tree(second, files, reverse=True, mode=0o755)
        one = build_bundle(first, out / "1", "dev-abc1234-20260101T000000Z")
        two = build_bundle(second, out / "2", "dev-abc1234-20260101T000000Z")

        assert one.sha256 == two.sha256
        assert one.path.read_bytes() == two.path.read_bytes()
        expected = sorted(
            path for path in files if path != ".ebignore" and expected_in_bundle(path, patterns)
        )
        assert list(one.files) == expected
        with zipfile.ZipFile(one.path) as zf:
            infos = zf.infolist()
            assert [info.filename for info in infos] == expected
            for info in infos:
                assert bundles.file_mode_is_fixed(info)
                assert zf.read(info) == files[info.filename]


def test_version_label_format() -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    assert version_label("prod", "1a2b3c4d5e6f", now) == "prod-1a2b3c4-20260304T030607Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        version_label("prod", "1a2b3c4", datetime(2026, 1, 1))


def make_app(root: Path, extra: dict[str, str] | None = None) -> Path:
    files = {
        "Procfile": "web: gunicorn application:application\n",
        "application.py": "application = None\n",
        "requirements.txt": "flask\n",
        ".ebextensions/01-env.config": "option_settings: []\n",
        "models/haarcascade_frontalface.xml": "<opencv_storage/>\n",
        "tests/test_app.py": "def test(): pass\n",
        ".env": "SECRET=1\n",
        "notes.md": "local notes\n",
        ".ebignore": "*.md\nmodels/\n",
        **(extra or {}),
    }
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_forced_files_survive_ebignore_and_never_ship_files_do_not(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    bundle = build_bundle(app, tmp_path / "out", "dev-x-1")
    assert set(bundle.files) == {
        "Procfile",
        "application.py",
        "requirements.txt",
        ".ebextensions/01-env.config",
        "models/haarcascade_frontalface.xml",
    }
    assert "tests/" in bundle.excluded and ".env" in bundle.excluded


def test_missing_procfile_and_outside_symlink_are_errors(tmp_path: Path) -> None:
    app = make_app(tmp_path / "app")
    (app / "Procfile").unlink()
    with pytest.raises(BundleError, match="no Procfile"):
        build_bundle(app, tmp_path / "out", "dev-x-1")
    (app / "Procfile").write_text("web: x\n")
    (tmp_path / "outside.py").write_text("x = 1\n")
    (app / "linked.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises(BundleError, match="outside the application folder"):
        build_bundle(app, tmp_path / "out", "dev-x-1")


def test_secret_scan_reports_member_without_the_value(tmp_path: Path) -> None:
    secret = "AKIAIOSFODNN7EXAMPLE"
    app = make_app(tmp_path / "app", {"settings.py": f'aws_access_key_id = "{secret}"\n'})
    bundle = build_bundle(app, tmp_path / "out", "dev-x-1")
    findings = bundles.scan_bundle_for_secrets(bundle)
    assert any(
        "AWS" in f.rule_id and f.location == "settings.py" and f.line == 1 for f in findings
    ), findings
    assert all(secret not in f.describe() for f in findings)

    clean = build_bundle(make_app(tmp_path / "clean"), tmp_path / "out2", "dev-x-1")
    assert bundles.scan_bundle_for_secrets(clean) == []


def test_secret_scan_flags_never_ship_files_in_foreign_zip(tmp_path: Path) -> None:
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Procfile", "web: x\n")
        zf.writestr("deploy/id_rsa", "not really a key\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    foreign = bundles.Bundle(path, digest, "x", ("Procfile", "deploy/id_rsa"), 1)
    rules = {(f.rule_id, f.location) for f in bundles.scan_bundle_for_secrets(foreign)}
    assert ("PIPE-BUNDLE-001", "deploy/id_rsa") in rules


class Ctx:
    """The part of AwsContext the bundle functions use, over moto (optionally tampering)."""

    def __init__(self, tamper: bool = False) -> None:
        self.s3 = boto3.client("s3", region_name="us-east-1")
        self.tamper = tamper

    def client(self, service: str) -> Any:
        assert service == "s3"
        if not self.tamper:
            return self.s3
        real = self.s3

        class Tampering:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def put_object(self, **kwargs: Any) -> Any:
                kwargs["Body"] = b"rewritten on the way"
                return real.put_object(**kwargs)

        return Tampering()


@pytest.fixture
def s3_ctx(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        ctx = Ctx()
        ctx.s3.create_bucket(Bucket="deployments")
        yield ctx


def test_upload_records_and_verifies_sha256(tmp_path: Path, s3_ctx: Ctx) -> None:
    bundle = build_bundle(make_app(tmp_path / "app"), tmp_path / "out", "dev-x-1")
    uploaded = bundles.upload(s3_ctx, bundle, "deployments")
    assert (uploaded.s3_bucket, uploaded.s3_key) == ("deployments", "bundles/dev-x-1.zip")
    head = s3_ctx.s3.head_object(Bucket="deployments", Key="bundles/dev-x-1.zip")
    assert head["Metadata"]["sha256"] == bundle.sha256

    with pytest.raises(BundleError, match="does not match the bundle after upload"):
        bundles.upload(Ctx(tamper=True), bundle, "deployments")

    bundle.path.write_bytes(b"changed")
    with pytest.raises(BundleError, match="changed after it was built"):
        bundles.upload(s3_ctx, bundle, "deployments")


def test_retention_keeps_newest_and_serving(tmp_path: Path, s3_ctx: Ctx) -> None:
    app = make_app(tmp_path / "app")
    base = datetime(2026, 1, 1, tzinfo=UTC)
    keys = []
    for i in range(5):
        label = version_label("dev", "abc1234", base + timedelta(minutes=i))
        keys.append(
            bundles.upload(s3_ctx, build_bundle(app, tmp_path / "o", label), "deployments").s3_key
        )
    s3_ctx.s3.put_object(Bucket="deployments", Key="other/keep.txt", Body=b"x")

    deleted = bundles.apply_retention(s3_ctx, "deployments", keep=2, serving_key=keys[0])
    assert deleted == [keys[1], keys[2]]
    left = s3_ctx.s3.list_objects_v2(Bucket="deployments")["Contents"]
    assert sorted(item["Key"] for item in left) == sorted(
        [keys[0], keys[3], keys[4], "other/keep.txt"]
    )
    with pytest.raises(ValueError, match="at least 1"):
        bundles.apply_retention(s3_ctx, "deployments", keep=0, serving_key=None)
