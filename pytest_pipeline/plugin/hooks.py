"""pytest hooks of pytest-pipeline; each hook delegates to the modules that hold the logic."""

from __future__ import annotations

import pytest

from pytest_pipeline import settings
from pytest_pipeline.plugin import collection, fixtures, hookspecs
from pytest_pipeline.plugin.finish import finish_run
from pytest_pipeline.plugin.run import RUN_KEY, PipelineRun
from pytest_pipeline.plugin.xdist import XdistController
from pytest_pipeline.reporting.redact import redact
from pytest_pipeline.settingkinds import SettingError


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


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Every setting as a flag in the ``pipeline`` group; the fixture modules that cost
    nothing to import (the others register when a selected test asks for their fixtures)."""
    settings.add_options(parser)
    _register(pluginmanager, fixtures.at_start())


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Stage markers; resolve the settings and register the run (bad settings: exit 4)."""
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
        run = PipelineRun.start(config)
    except SettingError as error:
        if config.option.help or config.option.version:
            return  # let --help and --version work in a misconfigured project
        raise pytest.UsageError(str(error)) from None
    if run.role == "controller":
        config.pluginmanager.register(XdistController(run), "pipeline-xdist")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Unregister the run's hooks (``get_run`` keeps working for late readers)."""
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.term.uninstall()
        run.release()
    if run is not None and config.pluginmanager.is_registered(run):
        config.pluginmanager.unregister(run)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line of where the run goes; with ``-v`` every effective setting and its source."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return []
    return [redact(line) for line in run.header_lines(config.option.verbose > 0)]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stage of every test (before ``-m`` deselects, so folder stages can be selected)."""
    collection.assign_stages(config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Selected tests in stage order (last word on the order, before xdist reads it); the
    fixture modules the selected tests ask for register now."""
    collection.sort_by_stage(session.items)
    if not session.config.option.collectonly:  # (nothing is set up)
        requested = {n for item in session.items for n in getattr(item, "fixturenames", ())}
        _register(session.config.pluginmanager, fixtures.needed_by(requested))
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:
        run.selection(session.items)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """One line per stage: outcome, counts, duration; then the stage that halted."""
    run = config.stash.get(RUN_KEY, None)
    lines = [] if run is None else run.summary_lines()
    if lines:
        terminalreporter.section("pipeline stages")
        for line in lines:
            terminalreporter.line(line, red=line.startswith("pipeline "))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The end of the run: rollback, record, notifications, teardown (plugin/finish.py)."""
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:
        finish_run(session, run, exitstatus)
