"""pytest hooks of pytest-pipeline; each hook delegates to the modules that hold the logic."""

from __future__ import annotations

pytest_plugins = [
    "pytest_pipeline.fixtures.core",
    "pytest_pipeline.fixtures.aws",
    "pytest_pipeline.fixtures.deploy",
    "pytest_pipeline.fixtures.service",
    "pytest_pipeline.fixtures.security",
    "pytest_pipeline.fixtures.reporting",
]
