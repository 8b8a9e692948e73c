"""Which fixture modules a session loads: each only when a selected test asks for one of its
fixtures; the table that says so matches the modules. A session that selects no pipeline test
does not even import the run."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from pytest_pipeline.plugin import fixtures

# Fixtures pytest itself provides that the plugin's fixtures ask for.
PYTEST_FIXTURES = {"request", "pytestconfig", "tmp_path", "record_property"}


def _fixtures_of(module: str) -> tuple[set[str], set[str]]:
    """(fixtures the module defines, fixture names its fixtures ask for), from its source."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module)))
    defined: set[str] = set()
    asked: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
        if any(ast.unparse(d) == "pytest.fixture" for d in decorators):
            defined.add(node.name)
            asked.update(a.arg for a in node.args.args)
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "getfixturevalue"
                and isinstance(call.args[0], ast.Constant)
            ):
                asked.add(str(call.args[0].value))
    return defined, asked


def test_the_table_names_every_fixture_and_every_module_a_fixture_asks() -> None:
    """Each module defines exactly the fixtures the table gives it, and every fixture its
    fixtures ask for is its own, pytest's, or of a module registered with it."""
    for key, entry in fixtures.MODULES.items():
        defined, asked = _fixtures_of(entry.module)
        assert defined == set(entry.fixtures), entry.module
        loaded_with = {m.rsplit(".", 1)[1] for m in fixtures.needed_by(entry.fixtures)}
        reachable = set().union(*(fixtures.MODULES[k].fixtures for k in loaded_with))
        assert asked - reachable <= PYTEST_FIXTURES, f"{key} asks for {asked - reachable}"
    together = [
        "pytest_pipeline.plugin.fixtures.core",
        "pytest_pipeline.plugin.fixtures.reporting",
        "pytest_pipeline.plugin.fixtures.aws",
        "pytest_pipeline.plugin.fixtures.deploy",
        "pytest_pipeline.plugin.fixtures.service",
    ]
    assert fixtures.needed_by(["target_url"]) == together
    assert fixtures.needed_by(["stack"]) == together
    assert fixtures.needed_by(["pipeline_record"]) == together[1:2]
    assert fixtures.needed_by(["tmp_path", "pipeline_run"]) == together[:1]
    assert fixtures.needed_by(["tmp_path"]) == []


PROBE = """
import sys

HEAVY = ("boto3", "requests", "numpy", "PIL", "cfnlint", "pytest_pipeline.plugin.run")


def pytest_sessionfinish(session):
    manager = session.config.pluginmanager
    registered = sorted(
        name.rsplit(".", 1)[1]
        for name in {names}
        if manager.has_plugin(name)
    )
    print("\\nregistered:", ",".join(registered))
    print("imported:", ",".join(m for m in HEAVY if m in sys.modules))
"""


# Schemathesis's own pytest plugin imports requests (the project's addopts turn it off too).
NO_SCHEMATHESIS = ("-p", "no:schemathesis")


@pytest.fixture
def probed(project: pytest.Pytester) -> pytest.Pytester:
    """A project whose conftest prints the fixture modules registered and the heavy
    libraries imported at the end of the session."""
    project.makeconftest(PROBE.replace("{names}", repr(fixtures.every_module())))
    return project


def test_a_run_asking_for_no_pipeline_fixture_imports_no_heavy_library(
    probed: pytest.Pytester,
) -> None:
    """Staged and unstaged tests without pipeline fixtures: options, markers, the run; no
    boto3, requests, numpy, Pillow or cfn-lint, and no fixture module."""
    probed.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.deploy
        def test_staged():
            pass

        def test_unstaged(tmp_path):
            pass
        """
    )
    result = probed.runpytest_subprocess(*NO_SCHEMATHESIS)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["registered: ", "imported: pytest_pipeline.plugin.run"])


def test_a_session_without_pipeline_tests_does_not_start_a_run(probed: pytest.Pytester) -> None:
    """Only unstaged tests that ask for no pipeline fixture: the header line and nothing
    else; the run is not even imported, and no run folder, log or record is written. Bad
    settings still stop it (exit 4)."""
    probed.makepyfile(test_plain="def test_unstaged(tmp_path):\n    pass\n")
    result = probed.runpytest_subprocess(*NO_SCHEMATHESIS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "pipeline: env dev, aws-backend auto, deploy-target * (-v: every setting)",
            "registered: ",
            "imported: ",
        ]
    )
    text = result.stdout.str()
    assert "pipeline stages" not in text and "pipeline reports" not in text, text
    assert not (probed.path / ".pipeline").exists()
    assert not (probed.path / "reports").exists()
    bad = probed.runpytest_subprocess("--env=no such env", *NO_SCHEMATHESIS)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*pipeline setting 'env'*"])


def test_a_pipeline_test_starts_the_run_after_collection(probed: pytest.Pytester) -> None:
    """A staged test starts the run when collection ends (one line names it); so does an
    unstaged test asking for a pipeline fixture; ``--collect-only`` starts none."""
    probed.makepyfile(
        test_mixed="""
        import pytest

        @pytest.mark.predeploy
        def test_staged():
            pass
        """
    )
    listed = probed.runpytest_subprocess("--collect-only", *NO_SCHEMATHESIS)
    assert listed.ret == pytest.ExitCode.OK
    assert not (probed.path / ".pipeline").exists()
    result = probed.runpytest_subprocess(*NO_SCHEMATHESIS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["pipeline: run * (single) in *", "predeploy *passed*"])
    assert (probed.path / "reports" / "deployment.json").is_file()
    (probed.path / "test_mixed.py").write_text(
        "def test_settings(pipeline_settings):\n    assert pipeline_settings.env == 'dev'\n"
    )
    asked = probed.runpytest_subprocess(*NO_SCHEMATHESIS)
    asked.assert_outcomes(passed=1)
    asked.stdout.fnmatch_lines(["pipeline: run * (single) in *", "registered: core"])


def test_a_fixture_asked_for_registers_its_module_after_collection(
    probed: pytest.Pytester,
) -> None:
    """``pipeline_record`` registers the reporting fixtures (and nothing of AWS); a fixture
    the test asks for through another module's fixture is found when the test is set up."""
    probed.makepyfile(
        test_recorded="""
        def test_figure(pipeline_record, pipeline_run):
            pipeline_record.figure("answer", 42)
            assert pipeline_run.options.env == "dev"
        """
    )
    result = probed.runpytest_subprocess(*NO_SCHEMATHESIS)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["registered: core,reporting"])
    assert "boto3" not in result.stdout.str().split("imported:")[1]


def test_fixture_listings_show_every_fixture(project: pytest.Pytester) -> None:
    """``pytest --fixtures`` lists the fixtures of every module, registered or not.

    In a subprocess: an in-process run would import cfn-lint and boto3 into this process only
    for pytester to drop them from ``sys.modules`` afterwards, which cfn-lint does not survive."""
    result = project.runpytest_subprocess("--fixtures", *NO_SCHEMATHESIS)
    result.stdout.fnmatch_lines(["*stack*", "*target_url*", "*pipeline_record*"])


def test_the_rootdirs_conftest_overrides_a_fixture_of_a_module_registered_later(
    project: pytest.Pytester,
) -> None:
    """A fixture of the rootdir's conftest wins over the plugin's of the same name, also when
    the plugin's module registers after collection and asks for it at set-up."""
    project.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def target_url():
            return "http://127.0.0.1:9/from-conftest"
        """
    )
    project.makepyfile(
        test_override="""
        def test_asks_through_the_plugin(service_availability):
            assert service_availability.client.base_url.endswith("/from-conftest")
        """
    )
    result = project.runpytest("--health-timeout", "0.2")
    result.assert_outcomes(passed=1)
