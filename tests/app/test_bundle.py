"""The Elastic Beanstalk bundle layout of app/: entry point, Procfile, pins, settings files."""

from __future__ import annotations

import re
from importlib import metadata

import pytest

from .helpers import APP_DIR


def test_entry_point_and_procfile() -> None:
    source = (APP_DIR / "application.py").read_text()
    assert "application = create_app()" in source
    procfile = (APP_DIR / "Procfile").read_text().strip()
    assert procfile == "web: gunicorn --config gunicorn.conf.py application:application"


def test_gunicorn_config_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("BIND_HOST", "127.0.0.1")
    monkeypatch.setenv("GUNICORN_THREADS", "3")
    namespace: dict[str, object] = {}
    exec((APP_DIR / "gunicorn.conf.py").read_text(), namespace)
    assert namespace["bind"] == "127.0.0.1:8123"
    assert namespace["threads"] == 3 and namespace["worker_class"] == "gthread"
    assert isinstance(namespace["workers"], int) and namespace["workers"] >= 1
    pixels = int(str(namespace["raw_env"]).split("MAX_IMAGE_PIXELS=")[1].split("'")[0])
    assert 4_000_000 <= pixels <= 40_000_000
    assert '"request_id"' in str(namespace["access_log_format"])


def test_requirements_pinned_to_what_is_tested() -> None:
    pins = {}
    for line in (APP_DIR / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        assert match, f"not pinned with ==: {line!r}"
        pins[match.group(1)] = match.group(2)
    for name in ("Flask", "flask-cors", "gunicorn", "boto3", "email-validator", "numpy"):
        assert name in pins
    assert "opencv-python-headless" in pins and "pillow" in pins
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}: pinned {version}, tested another"


def test_ebextensions_and_ebignore() -> None:
    config = (APP_DIR / ".ebextensions" / "01_python.config").read_text()
    assert "WSGIPath: application:application" in config
    assert "HealthCheckPath: /health" in config
    ignored = (APP_DIR / ".ebignore").read_text().split()
    for pattern in ("tests/", "__pycache__/", ".venv/", ".env*", "*.pem"):
        assert pattern in ignored
