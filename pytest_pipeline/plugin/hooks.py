"""pytest hooks of pytest-pipeline; each hook delegates to the modules that hold the logic."""

from __future__ import annotations

import pytest

from pytest_pipeline import settings
from pytest_pipeline.plugin import collection
from pytest_pipeline.plugin.run import RUN_KEY, PipelineRun
from pytest_pipeline.settingkinds import SettingError

FIXTURE_MODULES = (
    "pytest_pipeline.plugin.fixtures.core",
    "pytest_pipeline.plugin.fixtures.aws",
    "pytest_pipeline.plugin.fixtures.deploy",
    "pytest_pipeline.plugin.fixtures.service",
    "pytest_pipeline.plugin.fixtures.security",
    "pytest_pipeline.plugin.fixtures.reporting",
)
"""Registered as plugins with this one. Not through ``pytest_plugins``: pytest looks each
name of that list up among every installed distribution's entry points first."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """The plugin's own hooks (``pytest_pipeline_*``), for other plugins to implement."""
    from pytest_pipeline.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Every setting as a flag in the ``pipeline`` group; the fixture modules."""
    settings.add_options(parser)
    for name in FIXTURE_MODULES:
        pluginmanager.import_plugin(name)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Stage markers; resolve the settings and register the run (bad settings: exit 4)."""
    collection.register_markers(config)
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
        from pytest_pipeline.plugin.xdist import XdistController

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
    from pytest_pipeline.reporting.redact import redact

    return [redact(line) for line in run.header_lines(config.option.verbose > 0)]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stage of every test (before ``-m`` deselects, so folder stages can be selected)."""
    collection.assign_stages(config, items)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Selected tests in stage order (last word on the order, before xdist reads it)."""
    collection.sort_by_stage(session.items)
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
        from pytest_pipeline.plugin.finish import finish_run

        finish_run(session, run, exitstatus)
