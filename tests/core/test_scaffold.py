"""`pytest-pipeline init`: what it writes, and what it refuses (with what to do)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from pytest_pipeline import scaffold
from pytest_pipeline.settingkinds import read_table
from pytest_pipeline.settings import PipelineSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root)
    return root


def test_writes_settings_the_plugin_reads(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    assert scaffold.main([str(project)]) == 0
    assert "wrote" in capsys.readouterr().out
    text = (project / "pyproject.toml").read_text()
    assert tomllib.loads(text)["project"]["name"] == "shop"  # the user's table is kept
    options = PipelineSettings.resolve(
        environ={}, table=read_table(project / "pyproject.toml"), rootdir=project
    )
    assert options.stack_name == "shop-dev"
    assert options.app_dir == project / "app"
    assert options.template == project / "infra" / "template.yaml"
    for stage in ("predeploy", "infra", "deploy", "postdeploy", "monitoring"):
        modules = list((project / "suites" / stage).glob("test_*.py"))
        assert modules, stage
        for module in modules:  # only public fixtures and libraries, never the plugin's side
            assert "pytest_pipeline.plugin" not in module.read_text(), module


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda root: (root / "app" / "Procfile").unlink(), "no Procfile"),
        (lambda root: (root / "app" / "requirements.txt").unlink(), "no requirements.txt"),
        (lambda root: (root / "infra" / "template.yaml").unlink(), "no CloudFormation template"),
        (
            lambda root: (root / "infra" / "template.yaml").write_text("Resources: {}\n"),
            "no output ApplicationName, EnvironmentName, DeploymentBucketName",
        ),
        (
            lambda root: (root / "pyproject.toml").write_text("[tool.pytest-pipeline]\n"),
            "already has [tool.pytest-pipeline]",
        ),
        (lambda root: (root / "pyproject.toml").write_text("[tool\n"), "not valid TOML"),
    ],
)
def test_refuses_with_what_to_do(
    project: Path, capsys: pytest.CaptureFixture[str], breakage: object, message: str
) -> None:
    breakage(project)  # type: ignore[operator]
    assert scaffold.main([str(project)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-pipeline init: ") and message in err, err
    assert not (project / "suites").exists()


def test_never_overwrites_without_force(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = project / "suites" / "postdeploy" / "test_service.py"
    mine.parent.mkdir(parents=True)
    mine.write_text("# mine\n")
    assert scaffold.main([str(project)]) == 2
    assert "would overwrite suites/postdeploy/test_service.py" in capsys.readouterr().err
    assert mine.read_text() == "# mine\n" and not (project / "pyproject.toml").exists()
    assert scaffold.main([str(project), "--force"]) == 0
    assert "def test_health" in mine.read_text()


def test_a_name_that_cannot_name_a_stack(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert scaffold.main([str(project), "--name", "my_shop"]) == 2
    assert "name 'my_shop'" in capsys.readouterr().err
