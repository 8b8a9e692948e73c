"""Kinds of pipeline settings: the ``Setting`` declaration, parsing and validation.

Pure Python (no pytest import) so that scripts and other modules can parse values too.
``settings.py`` declares the settings (the fields of ``PipelineSettings``) and resolves them.
"""

from __future__ import annotations

import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = "tool.pytest-pipeline"
KINDS = ("str", "int", "float", "bool", "choice", "path", "url", "list")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
SOURCE_DEFAULT = "default"
SOURCE_TABLE = f"pyproject [{TABLE}]"


class SettingError(ValueError):
    """A setting has a value the pipeline cannot use; one line names it and its source."""

    def __init__(self, setting: str, source: str, message: str) -> None:
        self.setting = setting
        self.source = source
        self.message = message
        super().__init__(f"pipeline setting {setting!r} (from {source}): {message}")


Validator = Callable[[Any], object]
"""Raises ``ValueError`` with a short message when a parsed value is not acceptable (its
return value is ignored)."""


@dataclass(frozen=True)
class Setting:
    """One setting: its name, kind, default, help text and optional parse/validate hooks.

    ``kind`` is one of :data:`KINDS`. ``choices`` restricts a ``choice`` setting, or every
    item of a ``list`` setting. ``parse`` replaces the kind's parser for a raw string
    (it may raise ``ValueError``); ``validate`` checks the parsed value (raises
    ``ValueError``). ``must_exist`` makes a ``path`` setting fail when the file is missing,
    but only when the user set it (a default may be absent). ``area`` says which part of
    the pipeline reads it (shown in the README's reference).
    """

    name: str
    kind: str = "str"
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    parse: Callable[[str], Any] | None = None
    validate: Validator | None = None
    must_exist: bool = False
    area: str = "core"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"setting {self.name}: unknown kind {self.kind!r} (kinds: {KINDS})")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"setting {self.name}: a choice setting needs choices")
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", self.name):
            raise ValueError(f"setting name {self.name!r} must be lower-case-with-dashes")

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--aws-region``."""
        return f"--{self.name}"

    @property
    def env_var(self) -> str:
        """The environment variable, e.g. ``PIPELINE_AWS_REGION``."""
        return "PIPELINE_" + self.name.upper().replace("-", "_")

    @property
    def dest(self) -> str:
        """The attribute of ``config.option`` holding the raw flag value."""
        return "pipeline_" + self.name.replace("-", "_")

    @property
    def attr(self) -> str:
        """The Python identifier of the setting, e.g. ``aws_region``."""
        return self.name.replace("-", "_")


# -- validators other areas can reuse ------------------------------------------------------


def at_least(minimum: float) -> Validator:
    """A validator accepting numbers >= ``minimum``."""

    def check(value: Any) -> None:
        if value < minimum:
            raise ValueError(f"must be >= {minimum:g}, got {value:g}")

    return check


def positive(value: Any) -> None:
    """A validator accepting numbers > 0."""
    if value <= 0:
        raise ValueError(f"must be > 0, got {value:g}")


def matches(pattern: str, what: str) -> Validator:
    """A validator accepting strings that fully match ``pattern`` (``what`` names the format)."""
    compiled = re.compile(pattern)

    def check(value: Any) -> None:
        if value is not None and not compiled.fullmatch(str(value)):
            raise ValueError(f"{value!r} is not {what}")

    return check


def did_you_mean(word: str, candidates: Sequence[str] | Mapping[str, Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    import difflib  # only for a bad name

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# -- parsing ------------------------------------------------------------------------------------


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return raw.strip().lower() in TRUE_WORDS
    raise ValueError(f"{raw!r} is not a boolean (use true/false, 1/0, yes/no)")


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not an integer")
    if isinstance(raw, int):
        return raw
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not an integer") from None


def _parse_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a number")
    if isinstance(raw, int | float):
        return float(raw)
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def _parse_url(raw: Any) -> str:
    text = _parse_str(raw).strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    return text.rstrip("/") if parts.path in ("", "/") else text


def _parse_str(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    raise ValueError(f"expected a string, got {type(raw).__name__} {raw!r}")


def _parse_list(raw: Any, from_env: bool) -> tuple[str, ...]:
    if isinstance(raw, str):
        pieces = re.split(r"[;,]", raw) if from_env else [raw]
        return tuple(piece.strip() for piece in pieces if piece.strip())
    if isinstance(raw, list | tuple):
        items: list[str] = []
        for item in raw:
            if not isinstance(item, str):
                raise ValueError(f"list items must be strings, got {type(item).__name__} {item!r}")
            items.append(item.strip())
        return tuple(items)
    raise ValueError(f"expected a list of strings, got {type(raw).__name__} {raw!r}")


def parse_value(
    spec: Setting, raw: Any, source: str, rootdir: Path, *, from_env: bool = False
) -> Any:
    """Parse and validate one raw value of ``spec`` (raises :class:`SettingError`)."""
    try:
        value: Any
        if raw is None:
            value = None
        elif spec.parse is not None and isinstance(raw, str):
            value = spec.parse(raw)
        elif spec.kind == "bool":
            value = _parse_bool(raw)
        elif spec.kind == "int":
            value = _parse_int(raw)
        elif spec.kind == "float":
            value = _parse_float(raw)
        elif spec.kind == "url":
            value = _parse_url(raw)
        elif spec.kind == "list":
            value = _parse_list(raw, from_env)
            bad = [item for item in value if spec.choices and item not in spec.choices]
            if bad:
                raise ValueError(
                    f"{bad[0]!r} is not one of {', '.join(spec.choices)}"
                    f"{did_you_mean(bad[0], spec.choices)}"
                )
        elif spec.kind == "path":
            text = _parse_str(raw) if not isinstance(raw, Path) else str(raw)
            if not text.strip():
                raise ValueError("empty path")
            value = (rootdir / Path(text).expanduser()).resolve()
            if spec.must_exist and source != SOURCE_DEFAULT and not value.exists():
                raise ValueError(f"{value} does not exist")
        elif spec.kind == "choice":
            value = _parse_str(raw).strip()
            if value not in spec.choices:
                raise ValueError(
                    f"{value!r} is not one of {', '.join(spec.choices)}"
                    f"{did_you_mean(value, spec.choices)}"
                )
        else:
            value = _parse_str(raw)
        # Defaults are valid (a test holds every default to its validator); not validating
        # them spares loading what the validators need in runs that keep the defaults.
        if value is not None and spec.validate is not None and source != SOURCE_DEFAULT:
            spec.validate(value)
    except (ValueError, TypeError) as error:
        raise SettingError(spec.name, source, str(error)) from None
    return value


# -- the pyproject table ----------------------------------------------------------------------


def overlay_source(env: str) -> str:
    """The source string of a value from the ``env`` overlay table."""
    return f"pyproject [{TABLE}.environments.{env}]"


def read_table(path: Path | None) -> dict[str, Any]:
    """``[tool.pytest-pipeline]`` of a pyproject.toml (empty when the file or table is absent)."""
    if path is None or not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SettingError("pyproject", str(path), f"invalid TOML: {error}") from None
    table = document.get("tool", {}).get("pytest-pipeline", {})
    if not isinstance(table, dict):
        raise SettingError("pyproject", str(path), f"[{TABLE}] must be a table")
    return table
