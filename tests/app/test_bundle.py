"""The Elastic Beanstalk bundle layout of app/: entry point, Procfile, pins, settings files."""

from __future__ import annotations

import json
import subprocess

import pytest
from packaging.utils import canonicalize_name
from pins import read_pins

from pytest_pipeline.aws.emulated.venvs import ensure_venv

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


# What a virtualenv holds besides what requirements.txt asks for.
VENV_TOOLS = {"pip", "setuptools", "wheel"}

LIST_DISTRIBUTIONS = (
    "import json, importlib.metadata as m; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


@pytest.mark.slow
def test_requirements_pin_what_the_app_environment_installs() -> None:
    """The app's own environment, built from app/requirements.txt as the deploy stage builds
    it (the emulated Elastic Beanstalk's cached virtualenv), holds exactly the pinned
    versions and nothing unpinned: every instance runs the same code. The plugin's own
    environment does not matter here."""
    pins = read_pins(APP_DIR / "requirements.txt")
    for name in ("flask", "flask-cors", "gunicorn", "boto3", "email-validator", "numpy"):
        assert name in pins
    assert "opencv-python-headless" in pins and "pillow" in pins
    venv = ensure_venv(APP_DIR)
    listed = subprocess.run(
        [str(venv.bin_dir / "python"), "-I", "-c", LIST_DISTRIBUTIONS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    installed = {canonicalize_name(n): v for n, v in json.loads(listed.stdout).items()}
    assert "flask" in installed, f"not the app's environment: {sorted(installed)}"
    wrong = {n: (v, installed.get(n)) for n, v in pins.items() if installed.get(n) != v}
    assert not wrong, f"pinned (version, installed): {wrong}"
    unpinned = sorted(set(installed) - set(pins) - VENV_TOOLS)
    assert not unpinned, f"installed in the app's environment but not pinned: {unpinned}"


def test_ebextensions_and_ebignore() -> None:
    config = (APP_DIR / ".ebextensions" / "01_python.config").read_text()
    assert "WSGIPath: application:application" in config
    assert "HealthCheckPath: /health" in config
    ignored = (APP_DIR / ".ebignore").read_text().split()
    for pattern in ("tests/", "__pycache__/", ".venv/", ".env*", "*.pem"):
        assert pattern in ignored
