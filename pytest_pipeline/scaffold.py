"""``pytest-pipeline init``: put a project's application under the pipeline.

Writes, in the project folder, the ``[tool.pytest-pipeline]`` table of ``pyproject.toml`` (and
pytest's own table when there is none), a ``suites/`` skeleton with one module per stage that
uses only the plugin's public fixtures, and ``.github/workflows/pipeline.yml``. The project
brings its application (a folder with a ``Procfile`` and a ``requirements.txt``) and its
CloudFormation template (an Elastic Beanstalk application and environment with the outputs
``ApplicationName``, ``EnvironmentName`` and ``DeploymentBucketName``). Nothing existing is
overwritten unless ``--force`` says so.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pytest_pipeline.extras import DISTRIBUTION

REQUIRED_OUTPUTS = ("ApplicationName", "EnvironmentName", "DeploymentBucketName")


class ScaffoldError(ValueError):
    """The project cannot be scaffolded as asked; the message says what and what to do."""


@dataclass(frozen=True)
class Project:
    """What ``init`` needs to know about the project, checked."""

    root: Path
    name: str
    app_dir: str
    template: str


def _pytest_table() -> str:
    return """
[tool.pytest.ini_options]
testpaths = ["suites"]
addopts = "-ra --html=reports/report.html --self-contained-html --junitxml=reports/junit.xml"
"""


def _pipeline_table(project: Project) -> str:
    return f"""
# The pipeline of this project (`pytest-pipeline settings` shows every setting and its source).
[tool.pytest-pipeline]
env = "dev"
stack-name = "{project.name}-{{env}}"
app-dir = "{project.app_dir}"
template = "{project.template}"
deploy-target = "elasticbeanstalk"

[tool.pytest-pipeline.environments.prod]
rollback-enabled = true
"""


HEADER = '"""{doc}\n\nWritten by `pytest-pipeline init`: edit freely, it is yours now."""\n'

SUITES: dict[str, str] = {
    "predeploy/test_scans.py": '''
from __future__ import annotations

import pytest


@pytest.mark.security_scan("secrets")
def test_no_secret(security_case):
    """One failing test per secret found in the repository (detect-secrets)."""
    security_case.check()


@pytest.mark.security_scan("code")
def test_no_insecure_code(security_case):
    """One failing test per bandit issue in the application's code."""
    security_case.check()


@pytest.mark.security_scan("dependencies")
def test_dependencies_pinned(security_case):
    """Every requirement of the application pinned to one version."""
    security_case.check()


@pytest.mark.security_scan("templates")
def test_template_is_valid_and_secure(security_case):
    """cfn-lint and the pipeline's rules over the template the run deploys."""
    security_case.check()
''',
    "infra/test_stack.py": """
from __future__ import annotations

import pytest

from pytest_pipeline.models import InfrastructureState


def test_stack_is_ready(stack: InfrastructureState) -> None:
    assert stack.status.value.endswith("_COMPLETE"), stack.status


@pytest.mark.parametrize("name", ["ApplicationName", "EnvironmentName", "DeploymentBucketName"])
def test_stack_names_what_the_deploy_needs(stack: InfrastructureState, name: str) -> None:
    assert stack.output(name), f"the stack has no output {name}"
""",
    "deploy/test_deployment.py": """
from __future__ import annotations

import requests

from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus


def test_deployed(deployment: DeploymentMetadata) -> None:
    assert deployment.status is DeploymentStatus.DEPLOYED, deployment.status


def test_new_version_serves(deployment: DeploymentMetadata, target_url: str) -> None:
    answer = requests.get(f"{target_url}/health", timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["version"] == deployment.version_label
""",
    "postdeploy/test_service.py": """
from __future__ import annotations

import requests


def test_health(target_url: str) -> None:
    answer = requests.get(f"{target_url}/health", timeout=10)
    assert answer.status_code == 200, answer.text[:300]
    body = answer.json()
    assert body["status"] == "ok", body
    assert body["version"], body


def test_unknown_path_is_404(target_url: str) -> None:
    answer = requests.get(f"{target_url}/no-such-path", timeout=10)
    assert answer.status_code == 404, answer.status_code
""",
    "monitoring/test_environment.py": """
from __future__ import annotations

from pytest_pipeline.deploy.base import DeployTarget
from pytest_pipeline.models import DeploymentMetadata


def test_environment_is_green(deploy_target: DeployTarget, deployment: DeploymentMetadata) -> None:
    health = deploy_target.health()
    assert health["status"] == "ok", health
    assert health["version"] == deployment.version_label, health


def test_no_error_event_since_the_deploy(
    deploy_target: DeployTarget, deployment: DeploymentMetadata
) -> None:
    errors = [
        f"{event.timestamp:%H:%M:%S} {event.message}"
        for event in deploy_target.events()
        if event.severity in ("ERROR", "FATAL") and event.timestamp >= deployment.started_at
    ]
    assert not errors, errors
""",
}

DOCS = {
    "predeploy/test_scans.py": "Before anything is created: secrets, insecure code, unpinned "
    "dependencies, an invalid or insecure template.",
    "infra/test_stack.py": "The CloudFormation stack is created and names what the deploy needs.",
    "deploy/test_deployment.py": "The bundle of the app is deployed and its version serves.",
    "postdeploy/test_service.py": "The running service answers (with --target-url: any "
    "running deployment).",
    "monitoring/test_environment.py": "After the deploy: the environment is healthy and "
    "reported no error.",
}

AWS_ACTION = (
    "aws-actions/configure-aws-credentials@7474bc4690e29a8392af63c5b98e7449536d5c3a # v4.3.1"
)

WORKFLOW = """# The CI/CD pipeline of {name} (written by `pytest-pipeline init`).
# Pull requests run the whole pipeline on the embedded default (no cloud account needed);
# pushes to main run predeploy, then the later stages on AWS (credentials from OIDC: the
# role in the secret AWS_DEPLOY_ROLE_ARN).
name: pipeline

on:
  push:
    branches: [main]
  pull_request:
    branches: [main]

permissions:
  contents: read

jobs:
  embedded:
    if: ${{{{ github.event_name == 'pull_request' }}}}
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0
        with:
          python-version: "3.11"
      - name: Install the pipeline
        run: python -m pip install '{dist}[all]'
      - name: The whole pipeline on the embedded default
        run: pytest
      - name: Upload reports
        if: ${{{{ always() }}}}
        uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: reports-embedded
          path: reports/

  aws:
    if: ${{{{ github.event_name == 'push' }}}}
    runs-on: ubuntu-latest
    timeout-minutes: 60
    permissions:
      contents: read
      id-token: write
    env:
      PIPELINE_ENV: prod
      PIPELINE_AWS_BACKEND: aws
      PIPELINE_TEARDOWN: never
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0
        with:
          python-version: "3.11"
      - name: Install the pipeline
        run: python -m pip install '{dist}[all]'
      - name: Predeploy
        run: pytest -m predeploy
      - uses: {aws_credentials}
        with:
          role-to-assume: ${{{{ secrets.AWS_DEPLOY_ROLE_ARN }}}}
          aws-region: us-east-1
      - name: Infra, deploy, postdeploy and monitoring on AWS
        run: pytest -m "infra or deploy or postdeploy or monitoring"
      - name: Upload reports
        if: ${{{{ always() }}}}
        uses: actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2
        with:
          name: reports-aws
          path: reports/
"""


def check_project(root: Path, name: str | None, app_dir: str, template: str) -> Project:
    """The project at ``root``, or a ScaffoldError naming what is missing and what to do."""
    if not root.is_dir():
        raise ScaffoldError(f"{root}: no such folder")
    app = root / app_dir
    if not (app / "Procfile").is_file():
        raise ScaffoldError(
            f"{app}: no Procfile: the application folder (--app-dir) needs a Procfile with a "
            "`web:` command (Elastic Beanstalk runs it)"
        )
    if not (app / "requirements.txt").is_file():
        raise ScaffoldError(f"{app}: no requirements.txt (the app's environment is built from it)")
    path = root / template
    if not path.is_file():
        raise ScaffoldError(f"{path}: no CloudFormation template (--template)")
    text = path.read_text(encoding="utf-8")
    absent = [o for o in REQUIRED_OUTPUTS if not re.search(rf"^\s+{o}:", text, re.MULTILINE)]
    if absent:
        raise ScaffoldError(
            f"{path}: the template has no output {', '.join(absent)} (the deploy stage finds "
            "the Elastic Beanstalk application, environment and bundle bucket through them)"
        )
    chosen = name or root.resolve().name
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,80}", chosen):
        raise ScaffoldError(
            f"name {chosen!r}: a stack name starts with a letter and holds letters, digits "
            "and hyphens (--name)"
        )
    return Project(root, chosen, app_dir, template)


def planned_files(project: Project) -> dict[Path, str]:
    """Every file ``init`` writes (besides pyproject.toml) and its content."""
    files: dict[Path, str] = {}
    for rel, body in SUITES.items():
        files[project.root / "suites" / rel] = HEADER.format(doc=DOCS[rel]) + body
    workflow = WORKFLOW.format(name=project.name, dist=DISTRIBUTION, aws_credentials=AWS_ACTION)
    files[project.root / ".github" / "workflows" / "pipeline.yml"] = workflow
    return files


def pyproject_text(project: Project) -> str:
    """The project's pyproject.toml with the pipeline's table (and pytest's when missing)."""
    path = project.root / "pyproject.toml"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError as error:
        raise ScaffoldError(f"{path}: not valid TOML: {error}") from None
    if "pytest-pipeline" in tool:
        raise ScaffoldError(
            f"{path} already has [tool.pytest-pipeline]: init never edits it (remove the "
            "table to write it anew)"
        )
    pieces = [text.rstrip("\n")] if text.strip() else []
    if "pytest" not in tool:
        pieces.append(_pytest_table().strip("\n"))
    pieces.append(_pipeline_table(project).strip("\n"))
    return "\n\n".join(pieces) + "\n"


def init(project: Project, force: bool = False) -> list[Path]:
    """Write the scaffold; return the files written. Refuses to overwrite without ``force``."""
    files = planned_files(project)
    existing = [path for path in files if path.exists()]
    if existing and not force:
        shown = ", ".join(str(p.relative_to(project.root)) for p in existing)
        raise ScaffoldError(f"would overwrite {shown} (--force to overwrite)")
    pyproject = pyproject_text(project)
    written = []
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    (project.root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    written.append(project.root / "pyproject.toml")
    return written


def main(argv: list[str]) -> int:
    """``pytest-pipeline init [DIR] [--name N] [--app-dir app] [--template T] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="pytest-pipeline init", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("root", nargs="?", default=".", help="the project folder (default: .)")
    parser.add_argument("--name", help="stack name prefix (default: the folder's name)")
    parser.add_argument("--app-dir", default="app", help="the application folder (default: app)")
    parser.add_argument(
        "--template", default="infra/template.yaml", help="the CloudFormation template"
    )
    parser.add_argument("--force", action="store_true", help="overwrite the suites and workflow")
    args = parser.parse_args(argv)
    try:
        project = check_project(Path(args.root), args.name, args.app_dir, args.template)
        written = init(project, args.force)
    except ScaffoldError as error:
        print(f"pytest-pipeline init: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"next: pip install '{DISTRIBUTION}[all]' && pytest   (the whole pipeline, embedded)")
    return 0
