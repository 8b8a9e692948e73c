"""Fixtures of the rollback end-to-end runs (see ``project.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .project import APP, CONFTEST, PROCFILE, TESTS, Project, Webhook


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A webhook receiver on a loopback port."""
    hook = Webhook()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def project(
    pytester: pytest.Pytester, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """The pipeline project; every local environment it started is stopped afterwards.

    The runs see only the project's settings: ``PIPELINE_*`` variables of the calling
    environment (``make test`` sets ``PIPELINE_REPORTS_DIR``) are removed.
    """
    for name in list(os.environ):
        if name.startswith("PIPELINE_"):
            monkeypatch.delenv(name)
    pytester.makepyprojecttoml(
        """
[tool.pytest.ini_options]
addopts = "-p no:cacheprovider --html=reports/report.html --self-contained-html"

[tool.pytest-pipeline]
env = "dev"
aws-backend = "moto"
notification-channels = ["log", "webhook"]

[tool.pytest-pipeline.environments.staging]
rollback-enabled = true
"""
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_pipeline=TESTS)
    app = pytester.mkdir("app")
    (app / "application.py").write_text(APP)
    (app / "Procfile").write_text(PROCFILE)
    (app / "requirements.txt").write_text("flask\ngunicorn\n")
    made = Project(pytester, webhook)
    try:
        yield made
    finally:
        for env in ("dev", "staging"):
            if (made.root / ".pipeline" / "local" / env).is_dir():
                made.environment(env).destroy()
