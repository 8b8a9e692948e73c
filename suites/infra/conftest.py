"""Parametrization of the infra suite: one case per template the run deploys."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.state import get_settings
from pytest_pipeline.predeploy.templates import run_templates


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``template``: the configured CloudFormation template and its nested stacks'."""
    if "template" in metafunc.fixturenames:
        configured = get_settings(metafunc.config).template
        found = run_templates(configured) if configured.is_file() else []
        metafunc.parametrize("template", found, ids=[p.name for p in found])
