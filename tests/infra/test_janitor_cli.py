"""The ``pytest-pipeline janitor`` command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.clients import AwsContext, MotoServer
from pytest_pipeline.cli import main

from .helpers import unique, write

TINY = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}


def test_janitor_command_deletes_expired_pipeline_stacks(
    ctx: AwsContext, moto_server: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Expired pipeline stacks go, others stay; the output says what was deleted."""
    path = write(tmp_path / "tiny.json", TINY)
    old, kept = unique("old"), unique("kept")
    past = datetime.now(UTC) - timedelta(hours=3)
    stacks.provision(
        ctx, path, old, {}, stacks.pipeline_tags("r", "c", "dev", timedelta(hours=1), past), 30
    )
    stacks.provision(ctx, path, kept, {}, {}, 30)
    url = moto_server.endpoint_url
    assert main(["janitor", "--aws-backend", "endpoint", "--aws-endpoint-url", url]) == 0
    out = capsys.readouterr().out
    assert f"deleted 1 expired stack(s): {old}" in out
    assert stacks.describe(ctx, old) is None and stacks.describe(ctx, kept) is not None
    stacks.delete(ctx, kept, 30)


def test_janitor_command_refuses_the_embedded_server(capsys: pytest.CaptureFixture[str]) -> None:
    """An embedded server would be empty: the command says what to use instead."""
    assert main(["janitor", "--aws-backend", "moto"]) == 4
    assert "--aws-endpoint-url" in capsys.readouterr().err
