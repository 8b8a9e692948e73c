"""Stages as markers, folder auto-marking, stage order and the gate, through real pytest runs."""

from __future__ import annotations

import json

import pytest

HALT = (
    "pipeline halted: predeploy failed "
    "(suites/predeploy/test_checks.py::test_lint: AssertionError: lint found 3 problems)"
)


def _pipeline(pytester: pytest.Pytester, *, fail_predeploy: bool = True) -> None:
    """A small pipeline whose files are collected in the wrong stage order."""
    pytester.mkpydir("suites")
    for stage in ("predeploy", "infra", "deploy", "postdeploy", "monitoring"):
        pytester.mkdir(f"suites/{stage}")
    assertion = 'assert False, "lint found 3 problems"' if fail_predeploy else "pass"
    pytester.makepyfile(
        **{
            "suites/monitoring/test_alarms.py": "def test_alarm():\n    pass\n",
            "suites/deploy/test_bundle.py": "def test_bundle():\n    pass\n",
            "suites/predeploy/test_checks.py": (
                f"def test_lint():\n    {assertion}\n\ndef test_deps():\n    pass\n"
            ),
            "suites/infra/test_stack.py": "def test_stack():\n    pass\n",
            "suites/postdeploy/test_health.py": "def test_health():\n    pass\n",
        }
    )


def test_selected_tests_run_in_stage_order_across_shuffled_files(project: pytest.Pytester) -> None:
    # Shuffled on purpose: markers and folders disagree with the collection order.
    project.makepyfile(
        test_a="import pytest\n@pytest.mark.monitoring\ndef test_m(): pass\n"
        "@pytest.mark.predeploy\ndef test_p(): pass\n",
        test_b="import pytest\n@pytest.mark.deploy\ndef test_d(): pass\n"
        "@pytest.mark.infra\ndef test_i(): pass\n",
        test_c="import pytest\n@pytest.mark.postdeploy\ndef test_q(): pass\n"
        "@pytest.mark.predeploy\ndef test_p2(): pass\n",
    )
    result = project.runpytest("-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "test_a.py::test_p PASSED*",
            "test_c.py::test_p2 PASSED*",
            "test_b.py::test_i PASSED*",
            "test_b.py::test_d PASSED*",
            "test_c.py::test_q PASSED*",
            "test_a.py::test_m PASSED*",
        ]
    )


def test_unstaged_tests_keep_their_places(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_mix="import pytest\ndef test_u1(): pass\n@pytest.mark.infra\ndef test_i(): pass\n"
        "def test_u2(): pass\n@pytest.mark.predeploy\ndef test_p(): pass\n"
    )
    result = project.runpytest("-v")
    result.stdout.fnmatch_lines(
        ["*::test_u1 PASSED*", "*::test_p PASSED*", "*::test_u2 PASSED*", "*::test_i PASSED*"]
    )


def test_failure_skips_every_later_stage_with_the_exact_reason(project: pytest.Pytester) -> None:
    _pipeline(project)
    result = project.runpytest("-rs")
    result.assert_outcomes(passed=1, failed=1, skipped=4)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    skipped = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert len(skipped) == 4
    for line in skipped:
        assert line.endswith(": " + HALT), line
    for stage in ("infra", "deploy", "postdeploy", "monitoring"):
        assert any(f"suites/{stage}/" in line for line in skipped), stage


def test_terminal_summary_prints_each_stage_and_the_halt(project: pytest.Pytester) -> None:
    _pipeline(project)
    result = project.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*= pipeline stages =*",
            "predeploy * failed * 1 passed, 1 failed  in *s",
            "infra * halted * 1 halted  in *s",
            "deploy * halted * 1 halted  in *s",
            "postdeploy * halted * 1 halted  in *s",
            "monitoring * halted * 1 halted  in *s",
            HALT,
        ]
    )


def test_no_gate_runs_every_stage(project: pytest.Pytester) -> None:
    _pipeline(project)
    result = project.runpytest("--no-gate")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["pipeline failed: predeploy (gate off: later stages ran)"])
    assert "pipeline halted" not in result.stdout.str()


def test_no_gate_false_and_env_var_keep_the_gate(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pipeline(project)
    project.runpytest("--no-gate=false").assert_outcomes(passed=1, failed=1, skipped=4)
    monkeypatch.setenv("PIPELINE_NO_GATE", "yes")
    project.runpytest().assert_outcomes(passed=5, failed=1)


def test_folders_mark_their_tests_and_markers_select_them(project: pytest.Pytester) -> None:
    _pipeline(project, fail_predeploy=False)
    result = project.runpytest("-m", "infra or deploy", "-v")
    result.assert_outcomes(passed=2, deselected=4)
    result.stdout.fnmatch_lines(["*test_stack.py::test_stack PASSED*", "*test_bundle.py::*"])


def test_a_passing_pipeline_has_no_halt(project: pytest.Pytester) -> None:
    _pipeline(project, fail_predeploy=False)
    result = project.runpytest()
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["predeploy * passed * 2 passed  in *s"])
    assert "pipeline halted" not in result.stdout.str()


def test_two_stage_markers_are_a_collection_error_naming_the_test(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_two="import pytest\n@pytest.mark.infra\n@pytest.mark.deploy\n"
        "def test_both(): pass\n\ndef test_fine(): pass\n"
    )
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_two.py*",
            "test_two.py::test_both: a test belongs to one stage, this one is marked infra, deploy",
            "ERROR test_two.py::test_both - *",
            "*1 error during collection*",
        ]
    )


def test_an_explicit_marker_wins_over_the_folder(project: pytest.Pytester) -> None:
    project.mkpydir("suites")
    project.mkdir("suites/infra")
    project.makepyfile(
        **{
            "suites/infra/test_x.py": "import pytest\n@pytest.mark.predeploy\n"
            "def test_early(): assert 0\n\ndef test_stack(): pass\n"
        }
    )
    project.runpytest().assert_outcomes(failed=1, skipped=1)


def test_setup_errors_and_teardown_errors_halt_but_xfail_does_not(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_phases="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("no credentials")

        @pytest.mark.predeploy
        @pytest.mark.xfail(reason="known")
        def test_known(): assert 0

        @pytest.mark.infra
        def test_stack(broken): pass

        @pytest.mark.deploy
        def test_bundle(): pass
        """
    )
    result = project.runpytest("-rs")
    result.assert_outcomes(xfailed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * pipeline halted: infra failed "
            "(test_phases.py::test_stack: RuntimeError: no credentials)"
        ]
    )


def test_results_are_recorded_with_their_stage(project: pytest.Pytester) -> None:
    _pipeline(project)
    project.makeconftest(
        """
        import json
        from pytest_pipeline.plugin.run import get_run

        def pytest_sessionfinish(session):
            run = get_run(session.config)
            run.flush()
            data = {r.nodeid: [r.stage, r.outcome.value] for r in run.results}
            data["halted"] = run.halted_stage.value
            session.config.rootpath.joinpath("results.json").write_text(json.dumps(data))
        """
    )
    project.runpytest()
    data = (project.path / "results.json").read_text()
    assert '"suites/predeploy/test_checks.py::test_lint": ["predeploy", "failed"]' in data
    assert '"suites/infra/test_stack.py::test_stack": ["infra", "skipped"]' in data
    assert '"halted": "predeploy"' in data


XDIST_CONFTEST = """
import json
import pytest
from pytest_pipeline.plugin.run import get_run


def destroy(state):
    with open(state["log"], "a") as handle:
        handle.write(f"destroy {state['by']}\\n")


@pytest.fixture(scope="session")
def shared(pytestconfig):
    run = get_run(pytestconfig)
    log = str(pytestconfig.rootpath / "log.txt")

    def create():
        with open(log, "a") as handle:
            handle.write(f"create {run.worker_id}\\n")
        return {"by": run.worker_id, "log": log}

    state = run.once("shared", create, "conftest:destroy", honour_teardown=False)
    run.record("deployment", {"by": state["by"]})
    return state


def pytest_pipeline_run_recorded(run):
    data = {"recorded": run.recorded("deployment"), "results": len(run.results),
            "role": run.role}
    (run.pytest_config.rootpath / "controller.json").write_text(json.dumps(data))
"""


@pytest.mark.slow
def test_gate_and_order_hold_under_xdist(project: pytest.Pytester) -> None:
    project.mkpydir("suites")
    for stage in ("predeploy", "infra", "deploy"):
        project.mkdir(f"suites/{stage}")
    project.makeconftest(XDIST_CONFTEST)
    project.makepyfile(
        **{
            # The failure comes late, while the other worker could already start infra.
            "suites/predeploy/test_slow.py": "import time\n\ndef test_lint(shared):\n"
            "    time.sleep(1.5)\n    assert False, 'lint found 3 problems'\n\n"
            "def test_deps(shared):\n    pass\n",
            "suites/infra/test_stack.py": "import pytest\n\n"
            "@pytest.mark.parametrize('n', range(6))\ndef test_stack(n):\n    pass\n",
            "suites/deploy/test_bundle.py": "def test_bundle():\n    pass\n",
        }
    )
    result = project.runpytest_subprocess("-n", "2", "-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, skipped=7)
    reason = (
        "pipeline halted: predeploy failed "
        "(suites/predeploy/test_slow.py::test_lint: AssertionError: lint found 3 problems)"
    )
    result.stdout.fnmatch_lines([f"SKIPPED [[]6[]] *: {reason}", f"SKIPPED [[]1[]] *: {reason}"])
    result.stdout.fnmatch_lines(["infra * halted * 6 halted  in *", reason])
    # once per run across workers, torn down by the controller after them; records shared
    log = (project.path / "log.txt").read_text().splitlines()
    assert [line.split()[0] for line in log] == ["create", "destroy"], log
    assert log[0].split()[1].startswith("gw")
    controller = json.loads((project.path / "controller.json").read_text())
    assert controller == {"recorded": {"by": log[0].split()[1]}, "results": 9, "role": "controller"}


LOADED_ONLY_WHEN_USED = (
    # fixture modules whose libraries are heavy: a selected test asks for one of their fixtures
    "pytest_pipeline.plugin.fixtures.aws",
    "pytest_pipeline.plugin.fixtures.deploy",
    "pytest_pipeline.plugin.fixtures.service",
    "pytest_pipeline.plugin.fixtures.reporting",
    "pytest_pipeline.postdeploy.service",  # the service under test: a postdeploy fixture
    "pytest_pipeline.reporting.recorder",  # pipeline_record
    "pytest_pipeline.postdeploy.loadstats",  # a load run's figures
    # each scanner's module: that scanner runs
    "pytest_pipeline.predeploy.dependencies",
    "pytest_pipeline.predeploy.secrets",
    "pytest_pipeline.predeploy.code",
    "pytest_pipeline.predeploy.templates",
    "boto3",
    # acting on processes and locks: a killed run's leftovers, an environment lock, a
    # once-per-run resource (none of them in a run of plain tests)
    "psutil",
    "filelock",
    "requests",
    "numpy",
    "PIL",
    "cfnlint",
    "bandit",
    "detect_secrets",
)


def test_a_run_that_uses_no_area_loads_none_of_them(project: pytest.Pytester) -> None:
    # The plugin's overhead (benchmarks/plugin_overhead.py) stays low because a run loads
    # only the modules its selected tests use: here, plain passing tests in every stage and
    # outside them, none asking for a pipeline fixture.
    _pipeline(project, fail_predeploy=False)
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    project.makeconftest(
        """
        import json, sys

        def pytest_unconfigure(config):
            with open("loaded.json", "w") as handle:
                json.dump(sorted(sys.modules), handle)
        """
    )
    # Schemathesis (a dependency, used as a library by the fuzzing tests) registers its own
    # pytest plugin, which imports requests at start-up; the project's addopts turn it off.
    result = project.runpytest_subprocess("-p", "no:schemathesis")
    result.assert_outcomes(passed=7)
    loaded = set(json.loads((project.path / "loaded.json").read_text()))
    assert "pytest_pipeline.plugin.run" in loaded  # the plugin did run
    assert sorted(loaded & set(LOADED_ONLY_WHEN_USED)) == []
