"""The aws and stack fixtures in real pytest runs (subprocesses: moto and boto3 patch
process state)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from pytest_pipeline.aws import inventory
from pytest_pipeline.aws.clients import AwsContext, MotoServer

from .conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with this repository's infra/ templates and infra suite."""
    pytester.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        addopts = "-p no:cacheprovider"
        """
    )
    shutil.copytree(ROOT / "infra", pytester.path / "infra")
    shutil.copytree(
        ROOT / "suites" / "infra",
        pytester.path / "suites" / "infra",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return pytester


@pytest.fixture
def on_server(monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer) -> str:
    """Runs use the module's moto server, so the test can look at the account afterwards."""
    monkeypatch.setenv("PIPELINE_AWS_BACKEND", "endpoint")
    monkeypatch.setenv("PIPELINE_AWS_ENDPOINT_URL", moto_server.endpoint_url)
    return moto_server.endpoint_url


def _once(project: pytest.Pytester, name: str) -> list[dict[str, object]]:
    return [
        json.loads(p.read_text())
        for p in (project.path / ".pipeline" / "runs").glob(f"*/once/{name}.json")
    ]


def test_infra_stage_provisions_checks_and_tears_down(
    project: pytest.Pytester, on_server: str, ctx: AwsContext
) -> None:
    """``pytest -m infra`` provisions, streams events, passes with honest skips, and
    leaves the account as it found it."""
    before = inventory.snapshot(ctx)
    result = project.runpytest_subprocess("-m", "infra", "-rs")
    result.assert_outcomes(passed=29, skipped=12)
    result.stdout.fnmatch_lines(
        [
            "*[[]stack[]] * passport-photo-dev (AWS::CloudFormation::Stack) CREATE_COMPLETE*",
            "*SKIPPED*PointInTimeRecoverySpecification*ignored by moto*",
            "*SKIPPED*does not implement iam:SimulatePrincipalPolicy*",
        ]
    )
    (record,) = _once(project, "stack")
    assert record["status"] == "destroyed"
    after = inventory.snapshot(ctx)
    assert after.new_since(before) == {} and before.new_since(after) == {}


def test_predeploy_never_starts_the_moto_server(project: pytest.Pytester) -> None:
    """Lazy fixtures: a predeploy run with the default backend starts no server."""
    project.makepyfile(
        test_pre="""
        import pytest

        @pytest.mark.predeploy
        def test_template_exists():
            assert True
        """
    )
    result = project.runpytest_subprocess("-m", "predeploy", "test_pre.py", "suites/infra")
    result.assert_outcomes(passed=1)
    assert _once(project, "moto-server") == [] and _once(project, "stack") == []


def test_target_url_runs_never_provision(project: pytest.Pytester, on_server: str) -> None:
    """With --target-url the stack fixture skips instead of creating anything."""
    result = project.runpytest_subprocess(
        "-m", "infra", "--target-url", "http://127.0.0.1:9", "suites/infra/test_stack.py", "-rs"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == 0 and outcomes["skipped"] > 0
    result.stdout.fnmatch_lines(["*never provisions a stack*"])
    assert _once(project, "stack") == []


def test_under_xdist_the_stack_is_provisioned_once(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-n 2``: one detached moto server and one stack for both workers; both are gone
    after the run."""
    seen_dir = project.path / "seen"
    seen_dir.mkdir()
    monkeypatch.setenv("SEEN_DIR", str(seen_dir))
    project.makepyfile(
        **{
            f"suites/infra/test_seen_{n}.py": f"""
            import os
            from pathlib import Path

            def test_seen(stack, aws):
                line = f"{{os.getpid()}} {{stack.stack_id}} {{aws.endpoint_url}}"
                (Path(os.environ["SEEN_DIR"]) / "seen-{n}.txt").write_text(line)
            """
            for n in range(4)
        }
    )
    result = project.runpytest_subprocess(
        "-n", "2", "-p", "xdist", *(f"suites/infra/test_seen_{n}.py" for n in range(4))
    )
    result.assert_outcomes(passed=4)
    (server,) = _once(project, "moto-server")
    (stack,) = _once(project, "stack")
    assert server["status"] == "destroyed" and stack["status"] == "destroyed"
    state = server["state"]
    assert isinstance(state, dict) and state["detached"]
    with pytest.raises(ProcessLookupError):
        os.kill(int(state["pid"]), 0)
    seen = [p.read_text().split() for p in sorted(seen_dir.glob("seen-*.txt"))]
    assert len(seen) == 4
    assert len({pid for pid, _, _ in seen}) == 2, seen
    assert len({stack_id for _, stack_id, _ in seen}) == 1
    assert {url for _, _, url in seen} == {state["endpoint_url"]}


def test_teardown_failure_is_a_warning_naming_what_was_left(
    project: pytest.Pytester, on_server: str, ctx: AwsContext
) -> None:
    """When deleting the stack fails, the run warns and names the stack left behind."""
    project.makeconftest(
        """
        from pytest_pipeline.aws import stacks

        def _refuse(ctx, stack_name, timeout=0, **kwargs):
            raise stacks.StackError(stack_name, "DELETE_FAILED", "delete it by hand",
                                    leftovers=[f"stack {stack_name}"])

        stacks.delete = _refuse
        """
    )
    project.makepyfile(
        **{"suites/infra/test_uses_stack.py": "def test_uses(stack):\n    assert stack.outputs\n"}
    )
    result = project.runpytest_subprocess("suites/infra/test_uses_stack.py")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*teardown of 'stack'*failed*LEFT BEHIND: stack passport-photo-dev*"]
    )
    from pytest_pipeline.aws import stacks

    stacks.delete(ctx, "passport-photo-dev", 30)
