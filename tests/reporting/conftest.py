"""Helpers of the reporting tests: a small pipeline project run through pytester."""

from __future__ import annotations

import os

import pytest

SAMPLE = """
import io
import pytest
from PIL import Image


def png(colour):
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.predeploy
def test_photo(pipeline_record):
    pipeline_record.figure("error_rate", 0.5, "%")
    pipeline_record.side_by_side(
        "input and output",
        [("input", png("red"), "image/png"), ("output", png("blue"), "image/png")],
    )
    pipeline_record.histogram("POST /api/v1/photos", [12.0, 15.0, 20.0, 22.0, 40.0, 90.0])
    pipeline_record.text("leak", "key AKIAIOSFODNN7EXAMPLE and PLANTED-SECRET-VALUE-123")


@pytest.mark.infra
def test_stack():
    assert FAIL_INFRA is False, "stack is broken"


@pytest.mark.deploy
def test_deploy():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project with one test per stage (infra passes unless told otherwise).

    Pipeline settings and GitHub variables of the outer run (``make test`` sets
    ``PIPELINE_REPORTS_DIR``) are removed so the inner runs use their defaults.
    """
    for name in list(os.environ):
        if name.startswith(("PIPELINE_", "GITHUB_")):
            monkeypatch.delenv(name)
    addopts = (
        "-p no:cacheprovider --html=reports/report.html --self-contained-html "
        "--junitxml=reports/junit.xml"
    )
    pytester.makepyprojecttoml(
        f"""
[tool.pytest.ini_options]
addopts = "{addopts}"
junit_family = "xunit1"
render_collapsed = "never"
"""
    )
    pytester.makepyfile(test_pipeline=SAMPLE.replace("FAIL_INFRA", "False"))
    pytester.makeconftest(
        """
import logging
import pytest

@pytest.fixture(autouse=True)
def step():
    logging.getLogger("pytest_pipeline.deploy").info("health wait done", extra={"status": "ok"})
"""
    )
    return pytester
