"""The jobs of ``deploy.yml`` run as GitHub Actions runs them (each its own pytest process in
a fresh checkout, with only the ``needs`` outputs, artifacts and env the workflow passes)
against one embedded AWS whose Elastic Beanstalk really runs the app: a post-deployment job
whose check fails rolls the environment back to the version that served before."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.clients import AwsContext, MotoServer, resolve_context

from .jobs import Runner, evaluate, read_outputs, substitute

pytestmark = pytest.mark.slow
TINYAPP = Path(__file__).resolve().parents[1] / "deploy" / "tinyapp"
ENV, STACK = "staging", "photos-jobs"

APP = """
import os
from pathlib import Path

from flask import Flask, jsonify

application = Flask(__name__)
BROKEN = Path(__file__).with_name("broken.txt")


@application.get("/health")
def health():
    ok = bool(os.environ.get("TABLE_NAME"))
    body = {"status": "ok" if ok else "fail", "version": os.environ.get("APP_VERSION")}
    return jsonify(body), 200 if ok else 503


@application.get("/hello")
def hello():
    if BROKEN.exists():  # healthy, deploys, and fails the post-deployment check
        return jsonify({"error": "this version is broken"}), 500
    return jsonify({"hello": "world"})
"""

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Environment: {Type: String}
  InstanceType: {Type: String, Default: t3.small}
  MinInstances: {Type: Number, Default: 1}
  MaxInstances: {Type: Number, Default: 2}
  AllowedOrigins: {Type: String, Default: ""}
Resources:
  DeploymentBucket:
    Type: AWS::S3::Bucket
    DeletionPolicy: Delete
    UpdateReplacePolicy: Delete
  Application:
    Type: AWS::ElasticBeanstalk::Application
    Properties:
      ApplicationName: !Sub "${AWS::StackName}-app"
  AppEnvironment:
    Type: AWS::ElasticBeanstalk::Environment
    DependsOn: [Application]
    Properties:
      ApplicationName: !Sub "${AWS::StackName}-app"
      EnvironmentName: !Sub "${AWS::StackName}-env"
      SolutionStackName: 64bit Amazon Linux 2023 v4.3.0 running Python 3.11
      OptionSettings:
        - {Namespace: "aws:elasticbeanstalk:command", OptionName: DeploymentPolicy,
           Value: Immutable}
        - {Namespace: "aws:elasticbeanstalk:application:environment", OptionName: TABLE_NAME,
           Value: validations}
Outputs:
  DeploymentBucketName: {Value: !Ref DeploymentBucket}
  ApplicationName: {Value: !Sub "${AWS::StackName}-app"}
  EnvironmentName: {Value: !Sub "${AWS::StackName}-env"}
"""

SUITES = {
    "suites/predeploy/test_source.py": "def test_app_exists():\n    assert True\n",
    "suites/infra/test_stack.py": (
        "def test_stack_has_an_environment(stack):\n    assert stack.outputs['EnvironmentName']\n"
    ),
    "suites/deploy/test_deployed.py": (
        "def test_deployed(deployment):\n    assert deployment.status.value == 'deployed'\n"
    ),
    "suites/postdeploy/test_service.py": (
        "import requests\n\n"
        "def test_hello(target_url):\n"
        "    answer = requests.get(f'{target_url}/hello', timeout=10)\n"
        "    assert answer.status_code == 200, f'/hello answered HTTP {answer.status_code}'\n"
    ),
}

PYPROJECT = f"""
[tool.pytest.ini_options]
testpaths = ["suites"]

[tool.pytest-pipeline]
deploy-target = "elasticbeanstalk"
stack-name = "{STACK}"
template = "infra/template.yaml"
deploy-timeout = 90
health-timeout = 60

[tool.pytest-pipeline.environments.staging]
rollback-enabled = true
"""


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """The repository the workflow checks out: a tiny app, its stack and its suites."""
    repo = tmp_path / "repo"
    app = repo / "app"
    app.mkdir(parents=True)
    shutil.copy(TINYAPP / "requirements.txt", app)  # the emulation's cached virtualenv
    shutil.copy(TINYAPP / "Procfile", app)
    (app / "application.py").write_text(APP)
    (repo / "infra").mkdir()
    (repo / "infra" / "template.yaml").write_text(TEMPLATE)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    for path, text in SUITES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    return repo


@pytest.fixture
def aws() -> Iterator[AwsContext]:
    """The AWS every job reaches (the stand-in for the account the OIDC role opens): the
    embedded backend in a process of its own, as an account is to the jobs (nothing an
    earlier test left in this process's moto can reach it)."""
    with MotoServer(detached=True) as server:
        ctx = resolve_context("endpoint", server.endpoint_url)
        yield ctx
        stacks.delete(ctx, STACK, 60, raise_on_leftovers=False)


def workflow_run(
    workflow: dict[str, Any], repository: Path, tmp_path: Path, aws: AwsContext, number: int
) -> Runner:
    """One run of the workflow for a push to develop (deploys to staging)."""

    def checkout(job: str) -> Path:
        return Path(shutil.copytree(repository, tmp_path / f"run{number}" / job))

    return Runner(
        workflow,
        checkout,
        {"PIPELINE_AWS_ENDPOINT_URL": str(aws.endpoint_url)},
        {"event_name": "push", "ref_name": "develop", "run_id": str(number)},
        artifact_root=tmp_path / f"run{number}" / "artifacts",
    )


def serving(aws: AwsContext) -> tuple[str, str]:
    """(the label the environment runs, the version its URL answers with)."""
    eb = aws.client("elasticbeanstalk")
    (env,) = eb.describe_environments(EnvironmentNames=[f"{STACK}-env"])["Environments"]
    health = requests.get(f"http://{env['CNAME']}/health", timeout=10).json()
    return str(env["VersionLabel"]), str(health["version"])


DEPLOYING = ["predeploy", "infrastructure", "deployment"]


def test_a_failing_post_deployment_job_rolls_back_to_the_previous_version(
    workflow: dict[str, Any], repository: Path, tmp_path: Path, aws: AwsContext
) -> None:
    first = workflow_run(workflow, repository, tmp_path, aws, 1)
    for job in [*DEPLOYING, "post-deployment"]:
        done = first.run(job)
        assert done.ran and done.returncode == 0, f"{job}:\n{done.stdout[-3000:]}"
    v1 = first.jobs["deployment"].outputs["version"]
    assert first.jobs["predeploy"].outputs["environment"] == ENV
    assert serving(aws) == (v1, v1)

    (repository / "app" / "broken.txt").write_text("broken")  # the next push
    second = workflow_run(workflow, repository, tmp_path, aws, 2)
    for job in DEPLOYING:
        done = second.run(job)
        assert done.ran and done.returncode == 0, f"{job}:\n{done.stdout[-3000:]}"
    v2 = second.jobs["deployment"].outputs["version"]
    assert v2 != v1 and serving(aws) == (v2, v2)

    post = second.run("post-deployment")
    assert post.ran and post.returncode != 0, post.stdout[-3000:]
    # the job knew nothing of the deployment job but what the workflow passed it
    assert post.env["PIPELINE_TARGET_URL"] == second.jobs["deployment"].outputs["url"]
    deployment = second.jobs["deployment"].outputs
    assert (deployment["eb-application"], deployment["eb-environment"]) == (
        f"{STACK}-app",
        f"{STACK}-env",
    )
    assert f"ROLLED BACK: {ENV} rolled back from {v2} to {v1}" in post.stdout, post.stdout[-3000:]
    assert serving(aws) == (v1, v1)
    assert post.checkout is not None
    record = json.loads((post.checkout / "reports" / "deployment.json").read_text())
    assert (record["status"], record["rollback_version"]) == ("rolled_back", v1)
    assert post.outputs["ready"] == "false"
    assert second.run("monitoring").ran is False  # gated on post-deployment's ready


def test_expressions_evaluate_as_github_actions_does() -> None:
    context = {
        "github": {"event_name": "push"},
        "inputs": {"rollback": False},
        "needs": {"deployment": {"outputs": {"url": "http://x", "ready": "true"}}},
    }
    rollback = "github.event_name != 'workflow_dispatch' || inputs.rollback"
    assert evaluate(rollback, context) is True
    dispatched = {**context, "github": {"event_name": "workflow_dispatch"}}
    assert evaluate(rollback, dispatched) is False
    assert substitute("${{ needs.deployment.outputs.url }}", context) == "http://x"
    assert evaluate("needs.deployment.outputs.ready == 'true'", context) is True
    assert evaluate("needs.nothing.outputs.ready == 'true'", context) is False
    assert evaluate("!(needs.deployment.outputs.ready == 'true')", context) is False


def test_outputs_are_read_as_the_runner_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("ready=true\nurl=http://a=b\nnotes<<EOF\none\ntwo\nEOF\n")
    assert read_outputs(path) == {"ready": "true", "url": "http://a=b", "notes": "one\ntwo"}
