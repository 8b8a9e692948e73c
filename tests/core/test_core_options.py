"""Settings through real pytest runs: precedence, sources in the header, help, bad values."""

from __future__ import annotations

import textwrap

import pytest

from pytest_pipeline.settings import SETTINGS

STAGED = "import pytest\n\n\n@pytest.mark.predeploy\ndef test_one():\n    pass\n"


def _with_table(pytester: pytest.Pytester, table: str) -> None:
    pytester.makepyprojecttoml(
        textwrap.dedent(
            """
            [tool.pytest.ini_options]
            addopts = "-p no:cacheprovider"
            filterwarnings = ["ignore::pytest.PytestAssertRewriteWarning"]
            """
        )
        + textwrap.dedent(table)
    )
    # a staged test: the run starts (a session without one checks only the settings)
    pytester.makepyfile(test_one=STAGED)


TABLE = """
[tool.pytest-pipeline]
aws-region = "eu-west-1"
instance-type = "t3.medium"
load-users = 7
threshold = ["p95<500ms"]

[tool.pytest-pipeline.environments.prod]
aws-region = "eu-central-1"
load-users = 50
"""


def test_precedence_flag_env_overlay_table_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_table(pytester, TABLE)
    monkeypatch.setenv("PIPELINE_ENV", "prod")
    monkeypatch.setenv("PIPELINE_LOAD_USERS", "9")
    monkeypatch.setenv("PIPELINE_INSTANCE_TYPE", "t3.large")
    result = pytester.runpytest(
        "-v", "--instance-type", "m5.xlarge", "--threshold", "p99<1s", "--threshold", "rps>=5"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "  env *= prod  [[]env PIPELINE_ENV[]]",
            "  instance-type *= m5.xlarge  [[]--instance-type[]]",
            "  load-users *= 9  [[]env PIPELINE_LOAD_USERS[]]",
            "  aws-region *= eu-central-1  "
            "[[]pyproject [[]tool.pytest-pipeline.environments.prod[]][]]",
            "  threshold *= p99<1s, rps>=5  [[]--threshold[]]",
            "  stack-name *= passport-photo-prod  [[]default[]]",
            "  teardown *= always  [[]default[]]",
        ]
    )


def test_table_applies_without_overlay(pytester: pytest.Pytester) -> None:
    _with_table(pytester, TABLE)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines_random(
        [
            "  aws-region *= eu-west-1  [[]pyproject [[]tool.pytest-pipeline[]][]]",
            "  load-users *= 7  [[]pyproject [[]tool.pytest-pipeline[]][]]",
            "  threshold *= p95<500ms  [[]pyproject [[]tool.pytest-pipeline[]][]]",
        ]
    )


def test_header_lists_every_setting_with_v_and_one_line_without(
    pytester: pytest.Pytester,
) -> None:
    _with_table(pytester, "")
    result = pytester.runpytest("-v")
    for spec in SETTINGS:
        result.stdout.fnmatch_lines([f"  {spec.name} *= * [[]*[]]"])
    quiet = pytester.runpytest()
    quiet.stdout.fnmatch_lines(
        ["pipeline: env dev, aws-backend auto, deploy-target elasticbeanstalk (-v: every setting)"]
    )
    header = quiet.stdout.str().split("collected", 1)[0]
    assert not any(f"  {spec.name} " in header for spec in SETTINGS), header


def test_help_shows_a_pipeline_group_and_markers_list_the_stages(
    pytester: pytest.Pytester,
) -> None:
    _with_table(pytester, "")
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["pipeline (pytest-pipeline*", "*--env=*", "*--no-gate*"])
    text = result.stdout.str()
    for spec in SETTINGS:
        assert spec.flag in text, spec.flag
    markers = pytester.runpytest("--markers")
    for stage in ("predeploy", "infra", "deploy", "postdeploy", "monitoring"):
        markers.stdout.fnmatch_lines([f"@pytest.mark.{stage}: stage *"])


def test_bool_flags_do_not_swallow_test_paths(pytester: pytest.Pytester) -> None:
    _with_table(pytester, "")
    pytester.makepyfile(test_two="def test_two(): pass\n")
    result = pytester.runpytest("-v", "--janitor", "test_two.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["  janitor *= True  [[]--janitor[]]"])
    result = pytester.runpytest("-v", "--monitoring-enabled=false")
    result.stdout.fnmatch_lines(["  monitoring-enabled *= False  [[]--monitoring-enabled[]]"])


BAD = [
    pytest.param(
        ["--env", "qa"],
        {},
        "",
        "pipeline setting 'env' (from --env): 'qa' is not one of dev, staging, prod",
        id="unknown-env-flag",
    ),
    pytest.param(
        [],
        {"PIPELINE_ENV": "stagign"},
        "",
        "pipeline setting 'env' (from env PIPELINE_ENV): 'stagign' is not one of dev, staging, "
        "prod; did you mean 'staging'?",
        id="unknown-env-var",
    ),
    pytest.param(
        ["--target-url", "localhost:8080"],
        {},
        "",
        "pipeline setting 'target-url' (from --target-url): 'localhost:8080' is not an "
        "http(s) URL with a host",
        id="malformed-url",
    ),
    pytest.param(
        [],
        {},
        '[tool.pytest-pipeline]\ntemplate = "infra/missing.yaml"\n',
        "pipeline setting 'template' (from pyproject [[]tool.pytest-pipeline[]]): "
        "*/infra/missing.yaml does not exist",
        id="missing-template",
    ),
    pytest.param(
        [],
        {},
        '[tool.pytest-pipeline]\naws-regoin = "eu-west-1"\n',
        "pipeline setting 'aws-regoin' (from pyproject [[]tool.pytest-pipeline[]]): unknown "
        "key; did you mean 'aws-region'?",
        id="unknown-key",
    ),
    pytest.param(
        [],
        {},
        "[tool.pytest-pipeline.environments.prd]\nrollback-enabled = true\n",
        "pipeline setting 'environments' (from pyproject "
        "[[]tool.pytest-pipeline.environments.prd[]]): unknown environment 'prd'; "
        "did you mean 'prod'?",
        id="unknown-environment-table",
    ),
    pytest.param(
        [],
        {},
        "[tool.pytest-pipeline.environments.dev]\nmin-instance = 2\n",
        "pipeline setting 'min-instance' (from pyproject "
        "[[]tool.pytest-pipeline.environments.dev[]]): unknown key; did you mean "
        "'min-instances'?",
        id="unknown-key-in-overlay",
    ),
    pytest.param(
        [],
        {"PIPELINE_MIN_INSTANCES": "zero"},
        "",
        "pipeline setting 'min-instances' (from env PIPELINE_MIN_INSTANCES): 'zero' is not an "
        "integer",
        id="not-an-int",
    ),
    pytest.param(
        ["--min-instances", "0"],
        {},
        "",
        "pipeline setting 'min-instances' (from --min-instances): must be >= 1, got 0",
        id="below-minimum",
    ),
    pytest.param(
        ["--min-instances", "4"],
        {},
        "",
        "pipeline setting 'max-instances' (from default): must be >= min-instances (4), got 2 "
        "(min-instances from --min-instances)",
        id="max-below-min",
    ),
    pytest.param(
        [],
        {"PIPELINE_NO_GATE": "maybe"},
        "",
        "pipeline setting 'no-gate' (from env PIPELINE_NO_GATE): 'maybe' is not a boolean*",
        id="bad-bool",
    ),
    pytest.param(
        ["--gate-timeout", "-1"],
        {},
        "",
        "pipeline setting 'gate-timeout' (from --gate-timeout): must be > 0, got -1",
        id="negative-timeout",
    ),
    pytest.param(
        [],
        {},
        '[tool.pytest-pipeline]\nload-users = "many"\n',
        "pipeline setting 'load-users' (from pyproject [[]tool.pytest-pipeline[]]): 'many' is "
        "not an integer",
        id="wrong-toml-type",
    ),
    pytest.param(
        ["--notification-channels", "pager"],
        {},
        "",
        "pipeline setting 'notification-channels' (from --notification-channels): 'pager' is "
        "not one of sns, webhook, log",
        id="bad-list-item",
    ),
    pytest.param(
        [],
        {},
        '[tool.pytest-pipeline.environments.prod]\nenv = "dev"\n',
        "pipeline setting 'env' (from pyproject [[]tool.pytest-pipeline.environments.prod[]]): "
        "an environment overlay cannot select the environment",
        id="env-in-overlay",
    ),
    pytest.param(
        ["--aws-region", "Europe"],
        {},
        "",
        "pipeline setting 'aws-region' (from --aws-region): 'Europe' is not an AWS region name "
        "like us-east-1",
        id="bad-region",
    ),
    pytest.param(
        ["--reports-dir=pyproject.toml"],
        {},
        "",
        "pipeline setting 'reports-dir' (from --reports-dir): */pyproject.toml is a file, not a "
        "folder; name a writable folder with --reports-dir=PATH or PIPELINE_REPORTS_DIR",
        id="reports-dir-is-a-file",
    ),
    pytest.param(
        [],
        {"PIPELINE_REPORTS_DIR": "pyproject.toml/reports"},
        "",
        "pipeline setting 'reports-dir' (from env PIPELINE_REPORTS_DIR): */pyproject.toml/reports "
        "cannot take the run's reports (Not a directory); name a writable folder *",
        id="reports-dir-cannot-be-made",
    ),
    pytest.param(
        ["--app-dir=no-such-app"],
        {},
        "",
        "pipeline setting 'app-dir' (from --app-dir): */no-such-app does not exist",
        id="missing-app-dir",
    ),
]


@pytest.mark.parametrize(("args", "env", "table", "message"), BAD)
def test_bad_configuration_is_one_line_and_exit_4(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    table: str,
    message: str,
) -> None:
    _with_table(pytester, table)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1, errors
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_invalid_toml_is_exit_4(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(): pass\n")
    (pytester.path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n"
        "[tool.pytest-pipeline]\nenv = \n"
    )
    result = pytester.runpytest_subprocess()
    # pytest itself reads the file first; either way: exit 4, one line, no traceback
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in result.stderr.str()


def test_help_still_works_with_a_bad_setting(pytester: pytest.Pytester) -> None:
    _with_table(pytester, '[tool.pytest-pipeline]\nenv = "qa"\n')
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK


def test_a_path_value_given_as_a_separate_word_is_caught_not_misread(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _with_table(pytester, '[tool.pytest-pipeline]\nenv = "staging"\n')
    pytester.makepyfile(test_one="def test_one(): pass\n")
    elsewhere = tmp_path_factory.mktemp("reports-elsewhere")
    result = pytester.runpytest_subprocess("--reports-dir", str(elsewhere))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: pipeline setting 'reports-dir' (from --reports-dir): pytest took "
            f"'{elsewhere}' for a test path before it knew the option, and chose the rootdir *; "
            f"write --reports-dir={elsewhere} (with '=')"
        ]
    )
    fixed = pytester.runpytest_subprocess(f"--reports-dir={elsewhere}", "-v")
    fixed.assert_outcomes(passed=1)
    fixed.stdout.fnmatch_lines(["  env *= staging  [[]pyproject *"])  # the project's table


def test_an_immutable_reports_folder_is_exit_4_not_an_internal_error(
    pytester: pytest.Pytester,
) -> None:
    import shutil
    import subprocess

    _with_table(pytester, "")
    frozen = pytester.mkdir("frozen-reports")
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(frozen)]).returncode != 0:
        pytest.skip("chattr +i is not available here (needs root and a file system with it)")
    try:
        result = pytester.runpytest_subprocess("--reports-dir=frozen-reports")
    finally:
        subprocess.run([chattr, "-i", str(frozen)], check=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: pipeline setting 'reports-dir' (from --reports-dir): */frozen-reports cannot "
            "take the run's reports (Operation not permitted); name a writable folder *"
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
