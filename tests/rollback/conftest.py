"""Fixtures of the rollback end-to-end runs (see ``project.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .project import APP, CONFTEST, PROCFILE, TESTS, Project, Webhook, serve_aws, write_template


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
    """The pipeline project on its own long-lived embedded backend (``serve-aws``), which
    is stopped afterwards with every environment it runs.

    The runs see only the project's settings: ``PIPELINE_*`` variables of the calling
    environment (``make test`` sets ``PIPELINE_REPORTS_DIR``) are removed.
    """
    for name in list(os.environ):
        if name.startswith("PIPELINE_") and name != "PIPELINE_EB_CACHE":
            monkeypatch.delenv(name)
    server, endpoint = serve_aws()
    try:
        pytester.makepyprojecttoml(
            f"""
[tool.pytest.ini_options]
addopts = "-p no:cacheprovider --html=reports/report.html --self-contained-html"

[tool.pytest-pipeline]
env = "dev"
aws-backend = "endpoint"
aws-endpoint-url = "{endpoint}"
notification-channels = ["log", "webhook"]

[tool.pytest-pipeline.environments.staging]
rollback-enabled = true
"""
        )
        pytester.makeconftest(CONFTEST)
        pytester.makepyfile(test_pipeline=TESTS)
        write_template(pytester.path)
        app = pytester.mkdir("app")
        (app / "application.py").write_text(APP)
        (app / "Procfile").write_text(PROCFILE)
        (app / "requirements.txt").write_text("flask\ngunicorn\n")
        yield Project(pytester, webhook, endpoint)
    finally:
        server.terminate()
        server.wait(30)
