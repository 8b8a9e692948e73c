"""Parametrization of the infra suite: one case per template in the template's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_pipeline.checks.templates import template_files
from pytest_pipeline.session import get_run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``template``: every CloudFormation template next to the configured one."""
    if "template" in metafunc.fixturenames:
        configured = Path(get_run(metafunc.config).config.cloudformation_template)
        found = template_files(configured.parent) if configured.parent.is_dir() else []
        metafunc.parametrize("template", found, ids=[p.name for p in found])
