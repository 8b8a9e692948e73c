"""GitHub Actions outputs: step summary, job outputs and ``::error`` annotations.

Everything written is redacted. The functions take the environment as a mapping so scripts
and tests can pass their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pytest_pipeline.reporting.redact import redact


def in_github_actions(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a GitHub Actions job (``GITHUB_ACTIONS=true``)."""
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS", "").lower() == "true"


def append_step_summary(markdown: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY``; None when the variable is unset."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(redact(markdown).rstrip("\n") + "\n")
    return path


def format_outputs(outputs: Mapping[str, str]) -> str:
    """``name=value`` lines for ``$GITHUB_OUTPUT`` (multi-line values use a heredoc delimiter)."""
    lines = []
    for name, value in outputs.items():
        value = redact(str(value))
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            lines.append(f"{name}<<{delimiter}\n{value}\n{delimiter}")
        else:
            lines.append(f"{name}={value}")
    return "".join(line + "\n" for line in lines)


def write_outputs(
    outputs: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> Path | None:
    """Append ``outputs`` to ``$GITHUB_OUTPUT``; None when the variable is unset."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_OUTPUT")
    if not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(format_outputs(outputs))
    return path


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


@dataclass(frozen=True)
class Annotation:
    """One failure to show on the pull request's diff."""

    message: str
    file: str | None = None
    line: int | None = None
    title: str | None = None
    level: str = "error"

    def command(self) -> str:
        """The workflow command, e.g. ``::error file=app.py,line=3,title=…::message``."""
        props = []
        if self.file:
            props.append(f"file={_escape_property(redact(self.file))}")
        if self.line is not None and self.line > 0:
            props.append(f"line={self.line}")
        if self.title:
            props.append(f"title={_escape_property(redact(self.title))}")
        head = f"::{self.level}" + (" " + ",".join(props) if props else "")
        return f"{head}::{_escape_data(redact(self.message))}"
