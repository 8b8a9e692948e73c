"""Shared by the plugin's own tests: real pytest sessions through ``pytester``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_pipeline.plugin import fixtures

pytest_plugins = ["pytester"]

# A pytester run in this process drops from sys.modules whatever it imported, and numpy refuses
# a second import in one process (cfn-lint's parser does not survive one either). A run
# imports the fixture modules with those libraries when its tests ask for their fixtures: they
# are imported here once (through pytest's assertion rewriting, as a run imports them), so every
# in-process run finds them loaded.
pytest.register_assert_rewrite(*fixtures.every_module())
for _module in fixtures.every_module():
    importlib.import_module(_module)
# The embedded backend too (moto, and the Elastic Beanstalk emulation plugged into it): a run
# in this process that started it first would leave half of moto imported twice.
importlib.import_module("moto.server")
importlib.import_module("pytest_pipeline.aws.emulated.install")

# What makes boto3 find credentials (and so the ``auto`` backend choose real AWS).
_AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The plugin's tests never reach a real AWS account, whatever the developer's shell
    holds: no credentials in the environment or in ~/.aws, and no instance metadata (tests
    that need credentials set fake ones for moto); and no ``PIPELINE_*`` setting leaks into
    the pytest sessions they start."""
    empty = tmp_path_factory.mktemp("no-aws") / "none"
    with pytest.MonkeyPatch.context() as patch:
        # This run's own settings (e.g. make test's PIPELINE_REPORTS_DIR) were read at start-up;
        # the pytest sessions the tests start must see only the settings each test gives them.
        for name in [name for name in os.environ if name.startswith("PIPELINE_")]:
            patch.delenv(name)
        for name in _AWS_CREDENTIAL_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path(empty)))
        patch.setenv("AWS_CONFIG_FILE", str(Path(empty)))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield
