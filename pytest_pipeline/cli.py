"""The ``pytest-pipeline`` console script: a dispatcher of small subcommands.

Each subcommand is one entry of :data:`COMMANDS`: its name maps to
``("package.module:function", "one-line help")``; the function takes the remaining
arguments (``list[str]``) and returns the exit status. Modules are imported only when their
command runs, so a command's dependencies never slow the others down.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_pipeline.settingkinds import SettingError, did_you_mean, read_table
from pytest_pipeline.settings import SETTINGS, PipelineSettings
from pytest_pipeline.stages import Stage

COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "pytest_pipeline.scaffold:main",
        "put a project's app under the pipeline: [tool.pytest-pipeline], suites/, a workflow",
    ),
    "settings": (
        "pytest_pipeline.cli:show_settings",
        "every setting, its value and its source (--markdown: the README table)",
    ),
    "stages": ("pytest_pipeline.cli:show_stages", "the pipeline's stages in order"),
    "serve-aws": (
        "pytest_pipeline.aws.emulated.server:main",
        "serve the embedded AWS backend (Elastic Beanstalk included) until SIGTERM/SIGINT; "
        "prints its endpoint URL first",
    ),
    "janitor": (
        "pytest_pipeline.aws.janitor:main",
        "delete expired stacks the pipeline created (by their tags), nothing else",
    ),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: pytest-pipeline <command> [arguments]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run the pipeline itself with pytest (see README.md)."]
    return "\n".join(lines)


def _load(ref: str) -> Callable[[list[str]], int]:
    module_name, _, attr = ref.partition(":")
    function: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), attr)
    return function


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to its subcommand; return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(
            f"pytest-pipeline: unknown command {name!r}{did_you_mean(name, COMMANDS)}",
            file=sys.stderr,
        )
        print(_usage(), file=sys.stderr)
        return 2
    try:
        return int(_load(COMMANDS[name][0])(rest) or 0)
    except ModuleNotFoundError as error:
        from pytest_pipeline.extras import extra_of, problem  # only when an extra is missing

        extra = extra_of(error.name or "")
        message = problem(extra, f"pytest-pipeline {name}") if extra else None
        if message is None:  # not an extra's package, or the extra is there: a real bug
            raise
        print(f"pytest-pipeline: {message}", file=sys.stderr)
        return 2


def show_settings(argv: list[str]) -> int:
    """``pytest-pipeline settings [DIR]``: resolve the settings as pytest would in DIR
    (its pyproject.toml and the PIPELINE_* environment; no flags) and print them."""
    if argv[:1] == ["--markdown"]:
        print(settings_markdown())
        return 0
    rootdir = Path(argv[0]) if argv else Path.cwd()
    try:
        options = PipelineSettings.resolve(
            environ=os.environ, table=read_table(rootdir / "pyproject.toml"), rootdir=rootdir
        )
    except SettingError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 4
    for name, value, source in options.explain():
        shown = ", ".join(value) if isinstance(value, tuple) else value
        print(f"{name} = {shown}  [{source}]")
    return 0


def settings_markdown() -> str:
    """The README's option reference: one table row per setting."""
    rows = [
        "| flag | environment variable | kind | default | area | what |",
        "|---|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        choices = ", ".join(spec.choices)
        kind = f"{spec.kind}: {choices}" if choices else spec.kind
        default = spec.default
        if isinstance(default, tuple):
            default = ", ".join(default) if default else "(none)"
        shown = "(none)" if default is None else f"`{default}`"
        rows.append(
            f"| `{spec.flag}` | `{spec.env_var}` | {kind} | {shown} | {spec.area} | {spec.help} |"
        )
    return "\n".join(rows)


def show_stages(argv: list[str]) -> int:
    """``pytest-pipeline stages``: the stages, in order, with what each proves."""
    for stage in Stage:
        print(f"{stage.order}  {stage.value:<10}  {stage.description.split(': ', 1)[1]}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
