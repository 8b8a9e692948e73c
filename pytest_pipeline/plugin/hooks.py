"""pytest hooks of pytest-pipeline; each hook delegates to the modules that hold the logic.

This is the plugin's entry point, loaded in every pytest session of a project that installs
it. Until a run starts (see :mod:`pytest_pipeline.plugin.state`) it registers options and
markers and resolves the settings; the run and everything it needs are imported by
:func:`_start` alone, and each fixture module registers when a selected test asks for its
fixtures, so a session that selects no pipeline test pays for nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_pipeline import settings
from pytest_pipeline.plugin import collection, fixtures, hookspecs, state
from pytest_pipeline.plugin.finish import finish_run
from pytest_pipeline.reporting.redact import redact
from pytest_pipeline.settingkinds import SettingError

if TYPE_CHECKING:
    from pytest_pipeline.plugin.run import PipelineRun

PIPELINE_FIXTURES = fixtures.every_fixture()
"""A selected test that asks for one of these starts the run (as a test with a stage does)."""
SECURITY_MODULE = fixtures.MODULES["security"]
"""Registers before collection when a test is parametrized with its cases."""


def _start(config: pytest.Config, *, announce: bool = False) -> PipelineRun:
    """Start the run (once): the one place the entry point imports it. ``announce``: say so
    on the terminal (after collection the header is printed already)."""
    from pytest_pipeline.plugin.run import get_run

    run = get_run(config)
    reporter = config.pluginmanager.get_plugin("terminalreporter") if announce else None
    if reporter is not None:
        for line in [f"pipeline: {run.describe()}", *run.swept_lines()]:
            reporter.write_line(redact(line))
    return run


def _register(pluginmanager: pytest.PytestPluginManager, modules: list[str]) -> None:
    """Register fixture modules as plugins (idempotent; ``-p no:<module>`` is honoured).

    Not through ``pytest_plugins``: pytest looks each name of that list up among every
    installed distribution's entry points first."""
    for name in modules:
        pluginmanager.import_plugin(name)


def _conftest_names(pluginmanager: pytest.PytestPluginManager) -> set[str]:
    """The names the conftests loaded so far define (a fixture's, when it is renamed).

    A fixture module registered after collection would outrank a fixture of the same name in
    the rootdir's conftest (at one level, pytest ranks the later registration higher): the
    modules whose fixtures those conftests override register before collection instead."""
    names: set[str] = set()
    for name, plugin in pluginmanager.list_name_plugin():
        if name and name.endswith("conftest.py"):
            for attribute, value in vars(plugin).items():
                names.add(attribute)
                renamed = getattr(value, "name", None)
                if isinstance(renamed, str):
                    names.add(renamed)
    return names


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The plugin's own hooks (``pytest_pipeline_*``), for other plugins to implement."""
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every setting as a flag in the ``pipeline`` group (the fixture modules register when a
    selected test asks for their fixtures)."""
    settings.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Stage markers; resolve the settings (bad settings: exit 4). Under xdist the run
    starts now: the controller hands it to its workers before anything is collected."""
    collection.register_markers(config)
    if config.option.showfixtures or config.option.show_fixtures_per_test:
        _register(config.pluginmanager, fixtures.every_module())
    _register(config.pluginmanager, fixtures.needed_by(_conftest_names(config.pluginmanager)))
    misread = settings.misread_value(
        config.invocation_params.args, config.rootpath, config.invocation_params.dir
    )
    worker = hasattr(config, "workerinput")  # a worker gets its rootdir from the controller
    if misread and not (worker or config.option.help or config.option.version):
        raise pytest.UsageError(misread)
    try:
        config.stash[state.SETTINGS_KEY] = settings.PipelineSettings.from_config(config)
    except SettingError as error:
        if config.option.help or config.option.version:
            return  # let --help and --version work in a misconfigured project
        raise pytest.UsageError(str(error)) from None
    if collection.may_read_waivers(config, config.stash[state.SETTINGS_KEY]):
        # a malformed waiver file stops the session at its start (the module's
        # pytest_sessionstart), not in the middle of collection
        _register(config.pluginmanager, [SECURITY_MODULE.module])
    distributed = config.getoption("dist", default="no") not in (None, "no")
    if (worker or distributed) and not (config.option.help or config.option.version):
        _start(config)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Unregister the run's hooks (``get_run`` keeps working for late readers)."""
    run = state.current_run(config)
    if run is not None:
        run.term.uninstall()
        run.release()
    if run is not None and config.pluginmanager.is_registered(run):
        config.pluginmanager.unregister(run)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes a security fixture is parametrized by the security fixture module
    (one case per finding): it registers at the first such test and parametrizes the later
    ones itself."""
    if SECURITY_MODULE.fixtures.isdisjoint(metafunc.fixturenames):
        return
    manager = metafunc.config.pluginmanager
    if not manager.has_plugin(SECURITY_MODULE.module):
        _register(manager, [SECURITY_MODULE.module])
        module = manager.get_plugin(SECURITY_MODULE.module)
        if module is not None:  # (None: blocked with -p no:<module>)
            module.pytest_generate_tests(metafunc)  # registered during this hook: call it once


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line of where the run goes; with ``-v`` every effective setting and its source."""
    options = config.stash.get(state.SETTINGS_KEY, None)
    if options is None:
        return []
    lines = state.header_lines(options, state.current_run(config), config.option.verbose > 0)
    return [redact(line) for line in lines]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stage of every test (before ``-m`` deselects, so folder stages can be selected);
    whether the collection has pipeline tests at all (a selection that leaves none of them
    then starts the run for its verdict: no test ran)."""
    collection.assign_stages(config, items)
    if state.current_run(config) is None:  # (only a run not started yet asks)
        collected = collection.wants_run(items, PIPELINE_FIXTURES)
        config.stash[state.PIPELINE_COLLECTED_KEY] = collected


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Selected tests in stage order (last word on the order, before xdist reads it); the
    fixture modules the selected tests ask for register now; the run starts when a selected
    test has a stage or asks for a pipeline fixture, or when the selection left no test of a
    collection that had such tests."""
    config = session.config
    items = session.items
    collection.sort_by_stage(items)
    run = state.current_run(config)
    if not config.option.collectonly:  # (nothing is set up)
        requested = {n for item in items for n in getattr(item, "fixturenames", ())}
        _register(config.pluginmanager, fixtures.needed_by(requested))
        collected = config.stash.get(state.PIPELINE_COLLECTED_KEY, False)
        if run is None and (
            collection.wants_run(items, PIPELINE_FIXTURES) or (collected and not items)
        ):
            run = _start(config, announce=True)
    if run is not None:
        run.selection(items)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """One line per stage: outcome, counts, duration; then the stage that halted."""
    run = state.current_run(config)
    lines = [] if run is None else run.summary_lines()
    if lines:
        terminalreporter.section("pipeline stages")
        for line in lines:
            terminalreporter.line(line, red=line.startswith("pipeline "))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The end of the run: rollback, record, notifications, teardown (plugin/finish.py)."""
    run = state.current_run(session.config)
    if run is not None:
        finish_run(session, run, exitstatus)
