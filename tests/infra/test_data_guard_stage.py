"""The infra stage stops an update that would lose data (real pytest runs on one moto
server, the stack kept between runs as the workflow's jobs keep it)."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.clients import AwsContext, MotoServer

from .conftest import ROOT

pytestmark = pytest.mark.slow
STACK = "photos-guard"
WAIVER = f"""
[[waiver]]
id = "W-RENAME"
rule = "PIPE-DATA-001"
scope = "ValidationsTable"
owner = "team-photos"
reason = "the validations are rebuilt from the sign-up log after the rename"
expires = {dt.date.today() + dt.timedelta(days=30)}
"""


@pytest.fixture
def project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer
) -> pytest.Pytester:
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\naddopts = "-p no:cacheprovider"\n')
    shutil.copytree(ROOT / "infra", pytester.path / "infra")
    pytester.makepyfile(
        **{"suites/infra/test_uses_stack.py": "def test_uses(stack):\n    assert stack.outputs\n"}
    )
    for name, value in {
        "PIPELINE_AWS_BACKEND": "endpoint",
        "PIPELINE_AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "PIPELINE_STACK_NAME": STACK,
        "PIPELINE_TEARDOWN": "never",
    }.items():
        monkeypatch.setenv(name, value)
    return pytester


def test_renaming_the_table_fails_the_infra_stage_until_a_waiver_accepts_it(
    project: pytest.Pytester, ctx: AwsContext
) -> None:
    try:
        project.runpytest_subprocess("-m", "infra").assert_outcomes(passed=1)
        template = project.path / "infra" / "template.yaml"
        text = template.read_text()
        template.write_text(
            text.replace('TableName: !Sub "${AWS::StackName}-validations"',
                         'TableName: !Sub "${AWS::StackName}-email-validations"')
        )  # fmt: skip
        assert template.read_text() != text
        failed = project.runpytest_subprocess("-m", "infra")
        failed.assert_outcomes(errors=1)
        failed.stdout.fnmatch_lines(
            [
                f"*stack {STACK}: change set * would lose data, so it was not executed: "
                "ValidationsTable (AWS::DynamoDB::Table photos-guard-validations) would be "
                "replaced (Replacement: True) because TableName changes*"
            ]
        )
        assert (stacks.describe(ctx, STACK) or {})["StackStatus"] == "CREATE_COMPLETE"

        (project.path / "pipeline-waivers.toml").write_text(WAIVER)
        project.runpytest_subprocess("-m", "infra").assert_outcomes(passed=1)
        assert (stacks.describe(ctx, STACK) or {})["StackStatus"] == "UPDATE_COMPLETE"
    finally:
        stacks.delete(ctx, STACK, 60)
