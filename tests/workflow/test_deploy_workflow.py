"""The GitHub Actions workflow: valid for actionlint, and the job graph the design asks for."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "deploy.yml"
Lint = Callable[[Path], list[dict[str, Any]]]

# (job id, pytest marker) in pipeline order
STAGE_JOBS = [
    ("predeploy", "predeploy"),
    ("infrastructure", "infra"),
    ("deployment", "deploy"),
    ("post-deployment", "postdeploy"),
    ("monitoring", "monitoring"),
]
AWS_JOBS = [job for job, _ in STAGE_JOBS[1:]]


def _steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def _uses(workflow: dict[str, Any], job: str, action: str) -> list[dict[str, Any]]:
    return [s for s in _steps(workflow, job) if str(s.get("uses", "")).startswith(action + "@")]


def test_actionlint_reports_nothing(actionlint: Lint) -> None:
    assert actionlint(WORKFLOW) == []


def test_actionlint_catches_a_broken_job_graph(actionlint: Lint, tmp_path: Path) -> None:
    # The same workflow with the deployment job depending on a job that does not exist.
    broken = tmp_path / "deploy.yml"
    text = WORKFLOW.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("needs: [predeploy, infrastructure]", "needs: [predeploy, infra]")
    )
    findings = actionlint(broken)
    assert any(f["kind"] == "job-needs" and "infra" in f["message"] for f in findings), findings


def test_triggers(workflow: dict[str, Any]) -> None:
    on = workflow["on"]
    assert on["push"]["branches"] == ["main", "develop"]
    assert on["pull_request"]["branches"] == ["main"]
    inputs = on["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "choice"
    assert set(inputs["environment"]["options"]) == {"dev", "staging", "prod"}
    assert inputs["rollback"]["type"] == "boolean"


def test_jobs_follow_the_stage_order(workflow: dict[str, Any]) -> None:
    assert list(workflow["jobs"]) == [job for job, _ in STAGE_JOBS]
    for (previous, _), (job, _) in itertools.pairwise(STAGE_JOBS):
        spec = workflow["jobs"][job]
        assert previous in spec["needs"], f"{job} must need {previous}"
        gate = f"needs.{previous}.outputs.ready == 'true'"
        assert gate in spec["if"], f"{job} must run only when {previous} is ready: {spec['if']}"
        assert "always()" not in spec["if"], f"{job} must be skipped when {previous} is"


@pytest.mark.parametrize(("job", "marker"), STAGE_JOBS)
def test_each_job_runs_its_marker(workflow: dict[str, Any], job: str, marker: str) -> None:
    commands = [s["run"] for s in _steps(workflow, job) if "pytest" in str(s.get("run", ""))]
    assert commands == [f"pytest -m {marker}"]
    stage_step = next(s for s in _steps(workflow, job) if s.get("id") == "stage")
    assert stage_step["run"] == f"pytest -m {marker}"
    # the job's gate output is what the plugin writes to $GITHUB_OUTPUT
    assert workflow["jobs"][job]["outputs"]["ready"] == "${{ steps.stage.outputs.ready }}"


def test_deployment_exports_url_and_version(workflow: dict[str, Any]) -> None:
    outputs = workflow["jobs"]["deployment"]["outputs"]
    assert outputs["url"] == "${{ steps.stage.outputs.url }}"
    assert outputs["version"] == "${{ steps.stage.outputs.version }}"
    env = workflow["jobs"]["post-deployment"]["env"]
    assert env["PIPELINE_TARGET_URL"] == "${{ needs.deployment.outputs.url }}"


@pytest.mark.parametrize("job", ["post-deployment", "monitoring"])
def test_later_jobs_get_what_a_rollback_needs(workflow: dict[str, Any], job: str) -> None:
    # the Elastic Beanstalk names from the deployment job's outputs, its record as artifact
    outputs = workflow["jobs"]["deployment"]["outputs"]
    spec = workflow["jobs"][job]
    assert "deployment" in spec["needs"]
    for name in ("eb-application", "eb-environment"):
        assert outputs[name] == f"${{{{ steps.stage.outputs.{name} }}}}"
        variable = "PIPELINE_" + name.upper().replace("-", "_")
        assert spec["env"][variable] == f"${{{{ needs.deployment.outputs.{name} }}}}"
    (upload,) = _uses(workflow, "deployment", "actions/upload-artifact")
    (download,) = _uses(workflow, job, "actions/download-artifact")
    assert download["with"]["name"] == upload["with"]["name"]
    record = spec["env"]["PIPELINE_DEPLOYMENT_RECORD"]
    assert record == download["with"]["path"].rstrip("/") + "/deployment.json"
    names = [s.get("uses", s.get("run", "")) for s in _steps(workflow, job)]
    assert names.index(download["uses"]) < names.index(f"pytest -m {dict(STAGE_JOBS)[job]}")


@pytest.mark.parametrize("job", AWS_JOBS)
def test_stack_kept_between_jobs(workflow: dict[str, Any], job: str) -> None:
    # each job is its own pytest run: none may delete the stack the next job needs
    env = workflow["jobs"][job]["env"]
    assert env.get("PIPELINE_TEARDOWN") == "never" or "PIPELINE_TARGET_URL" in env


def _choose_environment(workflow: dict[str, Any], tmp_path: Path, **env: str) -> dict[str, str]:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    step = next(s for s in _steps(workflow, "predeploy") if s.get("id") == "target")
    output = tmp_path / "github_output"
    output.write_text("")
    subprocess.run(
        [bash, "-e", "-c", step["run"]],
        env={"GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin", **env},
        check=True,
        timeout=30,
    )
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


@pytest.mark.parametrize(
    ("event", "ref", "chosen", "environment", "deploy"),
    [
        ("push", "main", "", "prod", "true"),
        ("push", "develop", "", "staging", "true"),
        ("pull_request", "42/merge", "", "dev", "false"),
        ("workflow_dispatch", "feature", "staging", "staging", "true"),
        ("workflow_dispatch", "main", "dev", "dev", "true"),
        ("push", "feature/x", "", "dev", "false"),
    ],
)
def test_environment_by_branch_and_input(
    workflow: dict[str, Any],
    tmp_path: Path,
    event: str,
    ref: str,
    chosen: str,
    environment: str,
    deploy: str,
) -> None:
    outputs = _choose_environment(
        workflow, tmp_path, EVENT=event, REF_NAME=ref, INPUT_ENVIRONMENT=chosen
    )
    assert outputs == {"environment": environment, "deploy": deploy}


def test_pull_requests_run_predeploy_only(workflow: dict[str, Any]) -> None:
    # A pull request gets deploy=false (see above); infrastructure requires deploy == 'true'
    # and every later job requires its predecessor's ready output, so all of them skip.
    assert "needs.predeploy.outputs.deploy == 'true'" in workflow["jobs"]["infrastructure"]["if"]
    assert "if" not in workflow["jobs"]["predeploy"]


def test_environment_and_concurrency(workflow: dict[str, Any]) -> None:
    for job in AWS_JOBS:
        assert workflow["jobs"][job]["environment"] == "${{ needs.predeploy.outputs.environment }}"
    group = workflow["concurrency"]["group"]
    for fragment in ("inputs.environment", "'prod'", "'staging'", "pull_request"):
        assert fragment in group
    # a deployment in progress is never cancelled by the next push
    assert (
        workflow["concurrency"]["cancel-in-progress"]
        == "${{ github.event_name == 'pull_request' }}"
    )


def test_aws_credentials_by_oidc_only(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert "id-token" not in workflow["jobs"]["predeploy"]["permissions"]
    for job in AWS_JOBS:
        assert workflow["jobs"][job]["permissions"]["id-token"] == "write"
        (step,) = _uses(workflow, job, "aws-actions/configure-aws-credentials")
        assert step["with"]["role-to-assume"] == "${{ secrets.AWS_DEPLOY_ROLE_ARN }}"
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(step["with"])
    text = WORKFLOW.read_text(encoding="utf-8")
    assert not re.search(r"AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)|AKIA[0-9A-Z]{16}", text)


@pytest.mark.parametrize("job", [job for job, _ in STAGE_JOBS])
def test_timeouts_cache_and_artifacts(workflow: dict[str, Any], job: str) -> None:
    spec = workflow["jobs"][job]
    assert 0 < spec["timeout-minutes"] <= 60
    (python,) = _uses(workflow, job, "actions/setup-python")
    assert python["with"]["cache"] == "pip"
    (upload,) = _uses(workflow, job, "actions/upload-artifact")
    assert upload["if"] == "${{ always() }}"
    assert upload["with"]["path"] == "reports/"
    assert upload["with"]["name"] == f"reports-{job}"


def test_sarif_uploaded_to_code_scanning(workflow: dict[str, Any]) -> None:
    assert workflow["jobs"]["predeploy"]["permissions"]["security-events"] == "write"
    (upload,) = _uses(workflow, "predeploy", "github/codeql-action/upload-sarif")
    assert upload["with"]["sarif_file"] == "reports/security.sarif"
    assert "always()" in upload["if"]


def test_third_party_actions_are_pinned_by_commit_with_the_version_named() -> None:
    lines = [line for line in WORKFLOW.read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_a_manual_run_deploys_to_prod_only_from_main(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    assert _choose_environment(
        workflow, tmp_path, EVENT="workflow_dispatch", REF_NAME="main", INPUT_ENVIRONMENT="prod"
    ) == {"environment": "prod", "deploy": "true"}
    step = next(s for s in _steps(workflow, "predeploy") if s.get("id") == "target")
    output = tmp_path / "refused_output"
    output.write_text("")
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        env={
            "GITHUB_OUTPUT": str(output),
            "PATH": "/usr/bin:/bin",
            "EVENT": "workflow_dispatch",
            "REF_NAME": "feature/x",
            "INPUT_ENVIRONMENT": "prod",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "::error title=prod deploys only from main::" in done.stdout
    assert output.read_text() == ""  # no environment chosen, so no later job runs
