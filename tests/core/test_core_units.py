"""Unit tests of the core's pure parts: stages, the gate, settings parsing, the CLI."""

from __future__ import annotations

import json
import typing
from dataclasses import fields, replace
from pathlib import Path

import pytest

from pytest_pipeline import cli
from pytest_pipeline.settingkinds import Setting, SettingError
from pytest_pipeline.settings import SETTINGS, PipelineSettings, SettingName, setting
from pytest_pipeline.stages import (
    Gate,
    Stage,
    StageConflictError,
    stage_from_path,
    stage_may_be_selected,
    stage_of_markers,
)


def test_stage_order_and_descriptions() -> None:
    assert [stage.order for stage in Stage] == [1, 2, 3, 4, 5]
    assert sorted([Stage.MONITORING, Stage.PREDEPLOY, Stage.DEPLOY]) == [
        Stage.PREDEPLOY,
        Stage.DEPLOY,
        Stage.MONITORING,
    ]
    assert all(stage.description.startswith(f"stage {stage.order}: ") for stage in Stage)
    with pytest.raises(ValueError, match="unknown stage 'deploi'"):
        Stage.from_name("deploi")


@pytest.mark.parametrize(
    ("path", "stage"),
    [
        ("suites/infra/test_stack.py", Stage.INFRA),
        ("suites/postdeploy/images/test_crop.py", Stage.POSTDEPLOY),
        ("/repo/suites/deploy/test_x.py", Stage.DEPLOY),
        ("tests/deploy/test_bundle.py", None),
        ("suites/test_misc.py", None),
        ("suites/deploy", None),
        ("suites/staging/test_x.py", None),
    ],
)
def test_stage_from_path(path: str, stage: Stage | None) -> None:
    assert stage_from_path(path) is stage


def test_stage_of_markers() -> None:
    assert stage_of_markers(["slow", "infra", "infra"]) is Stage.INFRA
    assert stage_of_markers(["slow"]) is None
    with pytest.raises(StageConflictError, match="marked predeploy, deploy"):
        stage_of_markers(["deploy", "predeploy"])


def test_gate_halts_later_stages_on_the_earliest_failure() -> None:
    gate = Gate()
    assert gate.halt_for(Stage.MONITORING) is None
    gate.record_failure(Stage.DEPLOY, "suites/deploy/t.py::a", "\nRuntimeError: boom\nmore")
    gate.record_failure(Stage.DEPLOY, "suites/deploy/t.py::b", "second")
    assert gate.halt_for(Stage.DEPLOY) is None  # a stage does not gate itself
    halt = gate.halt_for(Stage.POSTDEPLOY)
    assert halt is not None
    assert halt.reason() == (
        "pipeline halted: deploy failed (suites/deploy/t.py::a: RuntimeError: boom)"
    )
    gate.record_failure(Stage.PREDEPLOY, "p::x", "E")
    assert gate.halt_for(Stage.POSTDEPLOY).stage is Stage.PREDEPLOY  # type: ignore[union-attr]
    assert gate.failed_stages() == [Stage.PREDEPLOY, Stage.DEPLOY]
    assert Gate(enabled=False).halt_for(Stage.INFRA) is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("", True),
        ("predeploy", True),
        ("not predeploy", False),
        ("infra or deploy", False),
        ("not slow", True),
        ("predeploy(tool='bandit') and not slow", True),
        ("infra(x=1)", False),
        ("slow and not slow", False),
        ("((", True),  # malformed: pytest reports it
    ],
)
def test_stage_may_be_selected_for_predeploy(expression: str, expected: bool) -> None:
    assert stage_may_be_selected(expression, Stage.PREDEPLOY) is expected


def test_setting_declarations_are_consistent() -> None:
    names = [spec.name for spec in SETTINGS]
    assert len(names) == len(set(names))
    for spec in SETTINGS:
        assert spec.help, spec.name
        assert spec.env_var == "PIPELINE_" + spec.name.upper().replace("-", "_")
    with pytest.raises(ValueError, match="unknown kind"):
        Setting("x", "number")
    with pytest.raises(KeyError, match="did you mean 'aws-region'"):
        setting("aws-regio")


# What mypy is told each kind parses to (the parsers in settingkinds return these types; a
# choice is a Literal of its choices).
KIND_TYPES = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "choice": str,
    "path": Path,
    "url": str,
    "list": tuple[str, ...],
}


def test_the_settings_object_declares_exactly_the_settings_with_their_types() -> None:
    # SETTINGS is read from the fields of PipelineSettings; the two non-setting fields are
    # its sources and rootdir. SettingName (the argument of source()) lists the same names.
    hints = typing.get_type_hints(PipelineSettings)
    declared = [item.name for item in fields(PipelineSettings)]
    assert declared == [spec.attr for spec in SETTINGS] + ["sources", "rootdir"]
    assert list(typing.get_args(SettingName)) == [spec.attr for spec in SETTINGS]
    for spec in SETTINGS:
        expected: object = KIND_TYPES[spec.kind]
        if spec.kind == "choice":  # its choices are the values of its Literal annotation
            assert spec.choices and spec.default in spec.choices, spec.name
            expected = typing.Literal[spec.choices]
        if spec.default is None:
            expected = expected | None  # type: ignore[operator]
        assert hints[spec.attr] == expected, (spec.name, hints[spec.attr], expected)
    # the defaults resolve to values of the declared types
    defaults = PipelineSettings.resolve(rootdir=Path("/project"))
    for spec in SETTINGS:
        value = getattr(defaults, spec.attr)
        origin = typing.get_origin(KIND_TYPES[spec.kind]) or KIND_TYPES[spec.kind]
        assert value is None or isinstance(value, origin), (spec.name, value)


def test_every_default_passes_its_validator(tmp_path: Path) -> None:
    # Defaults are not validated at start-up (that would load what validators need in every
    # run): they must be valid here. Given explicitly, each default is accepted as it is.
    defaults = PipelineSettings.resolve(rootdir=tmp_path)
    for spec in SETTINGS:
        if spec.default is None or spec.kind == "path":
            continue  # paths: the default file may be absent until a test needs it
        raw = list(spec.default) if isinstance(spec.default, tuple) else spec.default
        if spec.name == "stack-name":
            raw = defaults.stack_name
        given = PipelineSettings.resolve(flags={spec.name: raw}, rootdir=tmp_path)
        assert getattr(given, spec.attr) == getattr(defaults, spec.attr), spec.name
        assert given.sources[spec.name] != defaults.sources[spec.name]
    with pytest.raises(SettingError, match="threshold"):
        PipelineSettings.resolve(flags={"threshold": "p95<<8"}, rootdir=tmp_path)


def test_list_env_vars_split_on_commas_and_semicolons(tmp_path: Path) -> None:
    options = PipelineSettings.resolve(
        environ={"PIPELINE_NOTIFICATION_CHANNELS": "sns; webhook,log", "PIPELINE_ALERT_ONLY": ""},
        rootdir=tmp_path,
    )
    assert options.notification_channels == ("sns", "webhook", "log")
    assert options.source("notification_channels") == "env PIPELINE_NOTIFICATION_CHANNELS"
    assert options.source("alert_only") == "default"  # an empty variable counts as unset
    assert options.reports_dir == tmp_path / "reports"
    assert options.stack_name == "passport-photo-dev"
    with pytest.raises(KeyError, match="did you mean 'env'"):
        options.source("evn")  # type: ignore[arg-type]


def test_stack_name_template_and_typed_properties(tmp_path: Path) -> None:
    options = PipelineSettings.resolve(
        flags={"env": "prod", "stack-name": "photos-{env}-blue", "no-gate": "true"},
        rootdir=tmp_path,
    )
    assert options.stack_name == "photos-prod-blue"
    assert options.no_gate is True
    assert options.gate_timeout == 1800.0
    assert options.vuln_db is None
    assert options.target_url is None


def test_explicit_template_must_exist_but_the_default_may_be_absent(tmp_path: Path) -> None:
    PipelineSettings.resolve(rootdir=tmp_path)  # default infra/template.yaml is absent: fine
    with pytest.raises(SettingError, match=r"'template' \(from --template\): .* does not exist"):
        PipelineSettings.resolve(flags={"template": "nope.yaml"}, rootdir=tmp_path)
    (tmp_path / "t.yaml").write_text("Resources: {}\n")
    options = PipelineSettings.resolve(flags={"template": "t.yaml"}, rootdir=tmp_path)
    assert options.template == tmp_path / "t.yaml"
    # a settings object read back from JSON elsewhere does not need the file again
    (tmp_path / "t.yaml").unlink()
    assert PipelineSettings.from_json(options.to_json()).template == tmp_path / "t.yaml"


def test_settings_validation_and_json_errors(tmp_path: Path) -> None:
    base = PipelineSettings.resolve(rootdir=tmp_path)
    with pytest.raises(SettingError, match=r"max-instances.*must be >= min-instances"):
        replace(base, min_instances=3, max_instances=2)
    with pytest.raises(SettingError, match=r"'max-instances' \(from --max-instances\)"):
        PipelineSettings.resolve(flags={"min-instances": "3", "max-instances": "2"})
    with pytest.raises(SettingError, match="'qa' is not one of"):
        replace(base, env="qa")
    with pytest.raises(SettingError, match=r"'min-instances' \(from default\): must be >= 1"):
        replace(base, min_instances=0)
    with pytest.raises(
        SettingError, match=r"'load-users' \(from default\): expected int, got str '7'"
    ):
        replace(base, load_users="7")
    with pytest.raises(SettingError, match="needs at least one channel"):
        replace(base, notification_channels=())
    data = base.to_dict()
    with pytest.raises(SettingError, match="unknown field"):
        PipelineSettings.from_dict({**data, "colour": "blue"})
    with pytest.raises(SettingError, match="did you mean 'aws-region'"):
        PipelineSettings.from_dict({**data, "values": {**data["values"], "aws-regoin": "x"}})
    with pytest.raises(SettingError, match=r"'aws-region' \(from settings JSON\): 'x' is not"):
        PipelineSettings.from_dict({**data, "values": {**data["values"], "aws-region": "x"}})
    with pytest.raises(SettingError, match=r"'target-url' .*missing"):
        PipelineSettings.from_dict({**data, "values": {"env": "dev"}})
    with pytest.raises(SettingError, match="invalid JSON"):
        PipelineSettings.from_json("{")
    with pytest.raises(SettingError, match="expected an object"):
        PipelineSettings.from_json(json.dumps([data]))


def test_cli_dispatches_and_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stages"]) == 0
    assert "1  predeploy" in capsys.readouterr().out
    assert cli.main(["stgaes"]) == 2
    assert "did you mean 'stages'?" in capsys.readouterr().err
    assert cli.main([]) == 2
    assert cli.main(["--help"]) == 0
    assert "settings" in capsys.readouterr().out


def test_cli_settings_reads_pyproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest-pipeline]\naws-region = "eu-west-1"\n')
    monkeypatch.setenv("PIPELINE_LOAD_USERS", "3")
    assert cli.main(["settings", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "aws-region = eu-west-1  [pyproject [tool.pytest-pipeline]]" in out
    assert "load-users = 3  [env PIPELINE_LOAD_USERS]" in out
    monkeypatch.setenv("PIPELINE_ENV", "qa")
    assert cli.main(["settings", str(tmp_path)]) == 4


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    block = readme.split("<!-- settings:start -->")[1].split("<!-- settings:end -->")[0]
    missing = [spec.flag for spec in SETTINGS if f"| `{spec.flag}` |" not in block]
    assert not missing, (
        f"README.md does not list {', '.join(missing)}: paste the output of "
        "`pytest-pipeline settings --markdown` between the settings markers"
    )


def test_models_reject_bad_values_with_clear_errors() -> None:
    from datetime import datetime

    from pytest_pipeline.models import (
        DeploymentMetadata,
        InfrastructureState,
        ModelError,
        StackStatus,
        TestOutcome,
        TestResult,
    )

    with pytest.raises(ModelError, match="nodeid must not be empty"):
        TestResult(nodeid="", outcome=TestOutcome.PASSED)
    with pytest.raises(ModelError, match="timezone-aware"):
        TestResult(nodeid="a", outcome=TestOutcome.PASSED, started_at=datetime(2026, 1, 1))
    with pytest.raises(ModelError, match="'flaky' is not one of passed"):
        TestResult.from_dict({"nodeid": "a", "outcome": "flaky"})
    with pytest.raises(ModelError, match="missing field"):
        InfrastructureState.from_dict({"stack_name": "s"})
    state = InfrastructureState("s", "us-east-1", StackStatus.CREATE_COMPLETE, "moto")
    with pytest.raises(ModelError, match=r"no output 'Url' \(outputs: none\)"):
        state.output("Url")
    with pytest.raises(ModelError, match="expected a JSON object"):
        DeploymentMetadata.from_json("[]")
    assert StackStatus.ROLLBACK_COMPLETE.is_failed and StackStatus.UPDATE_COMPLETE.is_ready
    assert TestOutcome.ERROR.is_failure and not TestOutcome.XFAILED.is_failure


def test_retry_error_says_what_how_often_and_the_last_error() -> None:
    from pytest_pipeline.retry import Backoff, RetryError, retry

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def refuse() -> None:
        raise ConnectionRefusedError("127.0.0.1:5000")

    with pytest.raises(RetryError) as caught:
        retry(
            refuse,
            what="the moto server",
            deadline=1.0,
            backoff=Backoff(base=0.5, cap=0.5),
            sleep=sleep,
            clock=lambda: now[0],
        )
    message = str(caught.value)
    assert message.startswith("gave up waiting for the moto server after ")
    assert "last error: ConnectionRefusedError: 127.0.0.1:5000" in message
    with pytest.raises(ValueError, match="not retryable"):
        retry(
            lambda: (_ for _ in ()).throw(ValueError("not retryable")),
            what="x",
            deadline=5,
            retry_on=(ConnectionError,),
            sleep=sleep,
            clock=lambda: now[0],
        )
    with pytest.raises(ValueError, match="factor >= 1"):
        Backoff(factor=0.5)


def test_worker_gate_waits_for_earlier_stages_then_gates(tmp_path: Path) -> None:
    import json
    from types import SimpleNamespace

    from pytest_pipeline.plugin.xdist import RESULTS, GateTimeoutError, WorkerGate

    run: object = SimpleNamespace(run_dir=tmp_path, options=SimpleNamespace(gate_timeout=0.3))
    gate = WorkerGate(run)  # type: ignore[arg-type]
    gate.prepare(
        [
            ("p::a", Stage.PREDEPLOY),
            ("p::b", Stage.PREDEPLOY),
            ("u::x", None),
            ("i::c", Stage.INFRA),
            ("d::d", Stage.DEPLOY),
        ]
    )
    assert gate.halt_for(Stage.PREDEPLOY) is None  # nothing earlier: never waits
    with pytest.raises(GateTimeoutError, match=r"2 earlier-stage test\(s\) did not finish"):
        gate.halt_for(Stage.INFRA)
    path = tmp_path / RESULTS
    path.parent.mkdir(parents=True)
    lines = [
        {"nodeid": "p::a", "stage": "predeploy", "failed": False, "message": ""},
        {"nodeid": "p::b", "stage": "predeploy", "failed": False, "message": ""},
    ]
    failure = json.dumps({"nodeid": "i::c", "stage": "infra", "failed": True, "message": "boom"})
    # a line being written is not read until it is complete
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + failure[:20])
    assert gate.halt_for(Stage.INFRA) is None
    with path.open("a") as handle:
        handle.write(failure[20:] + "\n")
    halt = gate.halt_for(Stage.DEPLOY)
    assert halt is not None
    assert halt.reason() == "pipeline halted: infra failed (i::c: boom)"
