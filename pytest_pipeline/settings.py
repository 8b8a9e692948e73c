"""Every setting of the pipeline, declared once as a typed field of :class:`PipelineSettings`.

A field of :class:`PipelineSettings` declares one setting (:func:`_declare`): its kind,
default, help text and checks. The field ``aws_region`` is then ``--aws-region`` on the
command line, ``PIPELINE_AWS_REGION`` in the environment and ``aws-region`` in
``[tool.pytest-pipeline]`` (with ``[tool.pytest-pipeline.environments.<env>]`` overlaid for
the selected environment). Precedence: flag > environment variable > environment overlay >
table > default. :meth:`PipelineSettings.resolve` builds the frozen object once per run: every
value typed (``settings.target_url`` is ``str | None``), where each came from
(:meth:`PipelineSettings.source`), the rules between settings checked (max-instances >=
min-instances) and a lossless JSON round trip (:meth:`PipelineSettings.to_json`).

The dataclass is the declaration, not a copy of it: :data:`SETTINGS` (the :class:`Setting`
specs the flags, variables, README table and parsers use) is read from its fields, so the
typed attributes and the declared settings cannot drift apart (a ``choice`` setting's
choices are its ``Literal`` annotation's values); a test holds each field's annotation to
its kind. :data:`SettingName` (the attribute names, for ``source()``) is the one list
written twice; the same test checks it.

This module does not import pytest at module level so that scripts can resolve settings
too (``PipelineSettings.resolve``); ``from_config`` and ``add_options`` take pytest objects.
The kinds, parsers and validators live in :mod:`pytest_pipeline.settingkinds`.
"""

from __future__ import annotations

import argparse
import json
import os
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Self

from pytest_pipeline.postdeploy.thresholds import validate_thresholds
from pytest_pipeline.settingkinds import (
    FALSE_WORDS,
    SOURCE_DEFAULT,
    SOURCE_TABLE,
    TRUE_WORDS,
    Setting,
    SettingError,
    Validator,
    at_least,
    did_you_mean,
    matches,
    overlay_source,
    parse_value,
    positive,
    read_table,
)

if TYPE_CHECKING:
    import pytest

__all__ = [
    "SETTINGS",
    "SOURCE_JSON",
    "PipelineSettings",
    "SettingName",
    "add_options",
    "misread_value",
    "pyproject_path",
    "setting",
]

SOURCE_JSON = "settings JSON"
"""The source named by errors in a JSON document of :meth:`PipelineSettings.from_json`."""

_REGION = matches(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", "an AWS region name like us-east-1")
_INSTANCE = matches(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type like t3.small")
_BUCKET = matches(
    r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
    "a valid S3 bucket name (3-63 lower-case letters, digits, dots, hyphens)",
)
_STACK = matches(
    r"[A-Za-z][A-Za-z0-9-]{0,127}",
    "a CloudFormation stack name (a letter, then letters, digits, hyphens; <= 128)",
)
_SPEC = "pytest_pipeline.setting"
"""The key of a settings field's metadata holding its declaration."""


def _valid_thresholds(values: Sequence[str]) -> None:
    validate_thresholds(values)


def _declare(
    kind: str,
    default: Any,
    help: str,
    choices: tuple[str, ...] = (),
    *,
    validate: Validator | None = None,
    must_exist: bool = False,
    area: str = "core",
) -> Any:
    """A field of :class:`PipelineSettings` declaring one setting (see :class:`Setting`; the
    setting's name is the field's, with dashes; ``choices`` limits the items of a ``list``, a
    ``choice`` setting takes its choices from its ``Literal`` annotation). The field has no
    dataclass default: every value comes from :meth:`PipelineSettings.resolve`, which applies
    ``default``."""
    spec = {
        "kind": kind,
        "default": default,
        "help": help,
        "choices": choices,
        "validate": validate,
        "must_exist": must_exist,
        "area": area,
    }
    return field(metadata={_SPEC: spec})


@dataclass(frozen=True, kw_only=True)
class PipelineSettings:
    """The effective settings of a run, typed, and where each came from (frozen, built once).

    Built by :meth:`resolve` (or :meth:`from_config`, :meth:`from_json`); a hand-made or
    ``dataclasses.replace``-d one is checked the same way (:meth:`validate`).
    """

    # fmt: off
    # -- core ----------------------------------------------------------------------------------
    env: Literal["dev", "staging", "prod"] = _declare("choice", "dev", "pipeline environment")
    target_url: str | None = _declare("url", None, "test an already running service at this URL")
    aws_backend: Literal["auto", "moto", "endpoint", "aws"] = _declare("choice", "auto",
        "auto (real AWS when credentials exist, else moto), moto, endpoint or aws")
    aws_endpoint_url: str | None = _declare("url", None, "AWS endpoint for --aws-backend=endpoint")
    aws_region: str = _declare("str", "us-east-1", "AWS region", validate=_REGION)
    stack_name: str = _declare("str", "passport-photo-{env}",
        "CloudFormation stack name ({env} is replaced by the environment)", validate=_STACK)
    deploy_target: Literal["elasticbeanstalk", "local"] = _declare("choice", "elasticbeanstalk",
        "where the service is deployed: Elastic Beanstalk (emulated on the embedded backend); "
        "local is a name for the emulated one only")
    teardown: Literal["always", "on-success", "never"] = _declare("choice", "always",
        "remove the stack and deployment at the end: always, on-success or never")
    no_gate: bool = _declare("bool", False, "run later stages even when an earlier stage failed")
    vuln_db: Path | None = _declare("path", None,
        "offline OSV vulnerability database (a directory)", must_exist=True)
    gate_timeout: float = _declare("float", 1800.0,
        "seconds an xdist worker waits for the tests of earlier stages", validate=positive)
    reports_dir: Path = _declare("path", "reports", "where the pipeline writes its reports")
    # -- the deployment of the environment ------------------------------------------------------
    instance_type: str = _declare("str", "t3.small", "EC2 instance type", validate=_INSTANCE)
    min_instances: int = _declare("int", 1, "minimum instances of the environment",
        validate=at_least(1))
    max_instances: int = _declare("int", 2, "maximum instances (>= min-instances)",
        validate=at_least(1))
    deployment_bucket: str | None = _declare("str", None, "S3 bucket for source bundles",
        validate=_BUCKET)
    template: Path = _declare("path", "infra/template.yaml", "CloudFormation template of the stack",
        must_exist=True)
    notification_channels: tuple[str, ...] = _declare("list", ("log",),
        "where deployment notifications go", ("sns", "webhook", "log"))
    rollback_enabled: bool = _declare("bool", False, "roll back automatically on failure")
    monitoring_enabled: bool = _declare("bool", True, "set up and check monitoring")
    # -- infra ---------------------------------------------------------------------------------
    stack_timeout: float = _declare("float", 300.0, "seconds to wait for a stack operation",
        validate=positive, area="infra")
    janitor: bool = _declare("bool", False, "remove expired ephemeral stacks left by earlier runs",
        area="infra")
    protected_environments: tuple[str, ...] = _declare("list", ("staging", "prod"),
        "environments whose stacks never expire and the janitor never deletes", area="infra")
    # -- deploy --------------------------------------------------------------------------------
    app_dir: Path = _declare("path", "app", "the application to bundle and deploy", must_exist=True,
        area="deploy")
    deploy_timeout: float = _declare("float", 120.0, "seconds to wait for a deployment",
        validate=positive, area="deploy")
    bundle_retention: int = _declare("int", 10, "application versions to keep",
        validate=at_least(1), area="deploy")
    eb_strategy: Literal["update", "swap"] = _declare("choice", "update",
        "Elastic Beanstalk deployment: update or swap", area="deploy")
    eb_application: str | None = _declare("str", None, "Elastic Beanstalk application name",
        area="deploy")
    eb_environment: str | None = _declare("str", None, "Elastic Beanstalk environment name",
        area="deploy")
    # -- predeploy -----------------------------------------------------------------------------
    audit_strict: bool = _declare("bool", False,
        "fail the vulnerability audit when nothing could be audited (no service, no vuln-db)",
        area="predeploy")
    waivers: Path = _declare("path", "pipeline-waivers.toml", "accepted findings with expiry dates",
        area="predeploy")
    bandit_severity: Literal["low", "medium", "high"] = _declare("choice", "medium",
        "lowest bandit severity that fails", area="predeploy")
    secrets_baseline: Path = _declare("path", ".secrets.baseline", "detect-secrets baseline",
        area="predeploy")
    # -- postdeploy ----------------------------------------------------------------------------
    health_timeout: float = _declare("float", 60.0, "seconds to wait for /health",
        validate=positive, area="postdeploy")
    load_users: int = _declare("int", 10, "concurrent users of the load test", validate=at_least(1),
        area="postdeploy")
    load_spawn_rate: float = _declare("float", 10.0, "users started per second", validate=positive,
        area="postdeploy")
    load_duration: float = _declare("float", 10.0, "seconds of load", validate=positive,
        area="postdeploy")
    threshold: tuple[str, ...] = _declare("list",
        ("p95<800ms", "photos:p95<2500ms", "error_rate<1%", "rps>=20"),
        "k6-style load thresholds, e.g. p95<800ms", area="postdeploy", validate=_valid_thresholds)
    memory_ceiling_mb: int = _declare("int", 1024, "largest acceptable service memory (MB)",
        validate=at_least(1), area="postdeploy")
    allowed_origin: str = _declare("str", "https://app.example.com", "an origin CORS must allow",
        area="postdeploy")
    contract: Path = _declare("path", "app/openapi.yaml",
        "OpenAPI 3.1 document of the service contract (what the fuzzing tests send and expect)",
        must_exist=True, area="postdeploy")
    fuzz_examples: int = _declare("int", 30,
        "generated requests per operation of the contract's fuzzing tests (Schemathesis)",
        validate=at_least(1), area="postdeploy")
    fuzz_seed: int = _declare("int", 22,
        "seed of the fuzzing tests' generator: the same seed sends the same requests",
        validate=at_least(0), area="postdeploy")
    # -- reporting / monitoring ----------------------------------------------------------------
    webhook_url: str | None = _declare("url", None, "webhook for notifications", area="reporting")
    # -- rollback ------------------------------------------------------------------------------
    rollback_on_failure: bool = _declare("bool", False, "roll back when a gating test fails",
        area="rollback")
    rollback_on: tuple[str, ...] = _declare("list", ("postdeploy", "monitoring"),
        "markers or node-id globs whose failure triggers a rollback", area="rollback")
    alert_only: tuple[str, ...] = _declare("list", (),
        "markers or node-id globs that alert but never roll back", area="rollback")
    deployment_record: Path | None = _declare("path", None,
        "deployment.json of the job that deployed: a later job rolls back to the version "
        "that served before it, and only while the version it tested still serves",
        area="rollback", must_exist=True)
    # fmt: on
    sources: Mapping[str, str] = field(repr=False, hash=False)
    """Where each setting came from, by setting name (``--flag``, ``env PIPELINE_X``,
    ``pyproject [...]``, ``default``); see :meth:`source`."""
    rootdir: Path = field(default_factory=Path.cwd)
    """The folder relative paths were resolved against."""

    def __post_init__(self) -> None:
        self.validate()

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def resolve(
        cls,
        *,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        table: Mapping[str, Any] | None = None,
        rootdir: Path | None = None,
    ) -> PipelineSettings:
        """Resolve every setting from raw flag values, an environment and a pyproject table.

        ``flags`` maps setting names to raw values (``None`` = not given); ``environ``
        defaults to an empty mapping (pass ``os.environ`` explicitly); ``table`` is the
        ``[tool.pytest-pipeline]`` table. Raises :class:`SettingError` on a bad value.
        """
        known = _BY_NAME
        flags = {k: v for k, v in (flags or {}).items() if v is not None}
        for name in flags:
            if name not in known:
                raise SettingError(name, "flags", f"unknown setting{did_you_mean(name, known)}")
        environ = environ or {}
        root = (rootdir or Path.cwd()).resolve()
        base, overlays = _split_table(table or {}, known)

        def pick(spec: Setting, env: str | None) -> tuple[Any, str, bool]:
            if spec.name in flags:
                return flags[spec.name], spec.flag, False
            raw_env = environ.get(spec.env_var)
            if raw_env is not None and raw_env.strip() != "":
                return raw_env, f"env {spec.env_var}", True
            if env is not None and spec.name in overlays.get(env, {}):
                return overlays[env][spec.name], overlay_source(env), False
            if spec.name in base:
                return base[spec.name], SOURCE_TABLE, False
            return spec.default, SOURCE_DEFAULT, False

        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        env_spec = known["env"]
        raw, source, from_env = pick(env_spec, None)
        env = parse_value(env_spec, raw, source, root, from_env=from_env)
        values["env"], sources["env"] = env, source
        for spec in SETTINGS:
            if spec.name == "env":
                continue
            raw, source, from_env = pick(spec, env)
            if spec.name == "stack-name" and isinstance(raw, str):
                raw = raw.replace("{env}", env)
            values[spec.attr] = parse_value(spec, raw, source, root, from_env=from_env)
            sources[spec.name] = source
        return cls(**values, sources=MappingProxyType(sources), rootdir=root)

    @classmethod
    def from_config(cls, config: pytest.Config) -> PipelineSettings:
        """Read every setting from pytest's options, ``os.environ`` and the pyproject table."""
        flags = {spec.name: getattr(config.option, spec.dest, None) for spec in SETTINGS}
        return cls.resolve(
            flags=flags,
            environ=os.environ,
            table=read_table(pyproject_path(config)),
            rootdir=config.rootpath,
        )

    # -- the whole configuration --------------------------------------------------------------

    def validate(self) -> None:
        """Check every value against its setting and the rules between settings (raises
        :class:`SettingError` naming the setting and where it came from)."""
        missing = [spec.name for spec in SETTINGS if spec.name not in self.sources]
        if missing:
            raise SettingError(missing[0], "PipelineSettings", "no source recorded")
        for spec in SETTINGS:
            value = getattr(self, spec.attr)
            # Re-parse the typed value through the setting's rules (kind, choices, ranges,
            # formats); whether a path exists was checked where the value was read.
            source = self.sources[spec.name]
            parsed = parse_value(_as_read(spec), _raw(value), source, self.rootdir)
            if parsed != value or type(parsed) is not type(value):
                got = f"{type(value).__name__} {value!r}"
                raise SettingError(spec.name, source, f"expected {spec.kind}, got {got}")
            # parse_value trusts a default; a value that only claims to be one is checked
            changed = source == SOURCE_DEFAULT and _raw(value) != _raw(spec.default)
            if changed and value is not None and spec.validate is not None:
                try:
                    spec.validate(value)
                except ValueError as error:
                    raise SettingError(spec.name, source, str(error)) from None
        if self.max_instances < self.min_instances:
            raise SettingError(
                "max-instances",
                self.source("max_instances"),
                f"must be >= min-instances ({self.min_instances}), got {self.max_instances} "
                f"(min-instances from {self.source('min_instances')})",
            )
        if not self.notification_channels:
            raise SettingError(
                "notification-channels",
                self.source("notification_channels"),
                "needs at least one channel",
            )

    # -- reading ----------------------------------------------------------------------------

    @property
    def reports_path(self) -> Path:
        """The reports folder, absolute (``reports-dir`` is relative to the rootdir)."""
        path = self.reports_dir
        return path if path.is_absolute() else self.rootdir / path

    def source(self, name: SettingName) -> str:
        """Where setting ``name`` (its attribute name) came from: ``--flag``, ``env
        PIPELINE_X``, ``pyproject [...]`` or ``default``."""
        spec = _BY_ATTR.get(name)
        if spec is None:
            raise KeyError(f"unknown pipeline setting {name!r}{did_you_mean(name, _BY_ATTR)}")
        return self.sources[spec.name]

    def explain(self) -> list[tuple[str, Any, str]]:
        """``(name, value, source)`` of every setting, in declaration order."""
        return [(s.name, getattr(self, s.attr), self.sources[s.name]) for s in SETTINGS]

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` of every setting, in declaration order."""
        return ((s.name, getattr(self, s.attr)) for s in SETTINGS)

    # -- JSON -----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary: every value and source by setting name, and the rootdir."""
        return {
            "rootdir": str(self.rootdir),
            "values": {name: _raw(value) for name, value in self.items()},
            "sources": dict(self.sources),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict` (raises :class:`SettingError` on a bad value)."""
        unknown = sorted(set(data) - {"rootdir", "values", "sources"})
        if unknown:
            raise SettingError(unknown[0], SOURCE_JSON, "unknown field")
        values, sources = data.get("values"), data.get("sources")
        if not isinstance(values, dict) or not isinstance(sources, dict):
            raise SettingError("values", SOURCE_JSON, "needs the objects values and sources")
        rootdir = data.get("rootdir")
        if not isinstance(rootdir, str):
            raise SettingError("rootdir", SOURCE_JSON, "must be a string")
        for name in (*values, *sources):
            if name not in _BY_NAME:
                raise SettingError(
                    name, SOURCE_JSON, f"unknown setting{did_you_mean(name, _BY_NAME)}"
                )
        missing = [spec.name for spec in SETTINGS if spec.name not in values]
        if missing:
            raise SettingError(missing[0], SOURCE_JSON, "missing")
        parsed = {
            spec.attr: parse_value(
                _as_read(spec), values[spec.name], SOURCE_JSON, Path(rootdir), from_env=False
            )
            for spec in SETTINGS
        }
        return cls(**parsed, sources=MappingProxyType(dict(sources)), rootdir=Path(rootdir))

    def to_json(self, indent: int | None = 2) -> str:
        """The settings as JSON."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """The inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingError("settings", SOURCE_JSON, f"invalid JSON: {error}") from None
        if not isinstance(data, dict):
            raise SettingError("settings", SOURCE_JSON, "expected an object")
        return cls.from_dict(data)


def _declared() -> tuple[Setting, ...]:
    """The settings the fields of :class:`PipelineSettings` declare; a ``choice`` setting's
    choices are the values of its ``Literal`` annotation."""
    hints = typing.get_type_hints(PipelineSettings)
    specs: list[Setting] = []
    for item in fields(PipelineSettings):
        if _SPEC not in item.metadata:
            continue
        declared = dict(item.metadata[_SPEC])
        if declared["kind"] == "choice":
            declared["choices"] = typing.get_args(hints[item.name])
        specs.append(Setting(item.name.replace("_", "-"), **declared))
    return tuple(specs)


SETTINGS: tuple[Setting, ...] = _declared()
"""Every declared setting, in declaration order (read from :class:`PipelineSettings`)."""

_BY_NAME: Mapping[str, Setting] = MappingProxyType({s.name: s for s in SETTINGS})
_BY_ATTR: Mapping[str, Setting] = MappingProxyType({s.attr: s for s in SETTINGS})


def _raw(value: Any) -> Any:
    """A typed value as a TOML table or JSON would hold it."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _as_read(spec: Setting) -> Setting:
    """``spec`` for a value already read once: a path is not checked for existence again."""
    return replace(spec, must_exist=False) if spec.must_exist else spec


def setting(name: str) -> Setting:
    """The declared setting called ``name`` (KeyError with a did-you-mean otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown pipeline setting {name!r}{did_you_mean(name, _BY_NAME)}") from None


def _check_keys(table: Mapping[str, Any], where: str, known: Mapping[str, Setting]) -> None:
    for key in table:
        if key not in known:
            raise SettingError(key, where, f"unknown key{did_you_mean(key, known)}")


def _split_table(
    table: Mapping[str, Any], known: Mapping[str, Setting]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    base = {k: v for k, v in table.items() if k != "environments"}
    _check_keys(base, SOURCE_TABLE, known)
    environments = table.get("environments", {})
    if not isinstance(environments, dict):
        raise SettingError("environments", SOURCE_TABLE, "must be a table of environment tables")
    envs = known["env"].choices
    overlays: dict[str, dict[str, Any]] = {}
    for name, overlay in environments.items():
        where = overlay_source(name)
        if name not in envs:
            raise SettingError(
                "environments", where, f"unknown environment {name!r}{did_you_mean(name, envs)}"
            )
        if not isinstance(overlay, dict):
            raise SettingError("environments", where, "must be a table")
        _check_keys(overlay, where, known)
        if "env" in overlay:
            raise SettingError("env", where, "an environment overlay cannot select the environment")
        overlays[name] = dict(overlay)
    return base, overlays


SettingName = Literal[  # the attributes of PipelineSettings that are settings
    "env",
    "target_url",
    "aws_backend",
    "aws_endpoint_url",
    "aws_region",
    "stack_name",
    "deploy_target",
    "teardown",
    "no_gate",
    "vuln_db",
    "gate_timeout",
    "reports_dir",
    "instance_type",
    "min_instances",
    "max_instances",
    "deployment_bucket",
    "template",
    "notification_channels",
    "rollback_enabled",
    "monitoring_enabled",
    "stack_timeout",
    "janitor",
    "protected_environments",
    "app_dir",
    "deploy_timeout",
    "bundle_retention",
    "eb_strategy",
    "eb_application",
    "eb_environment",
    "audit_strict",
    "waivers",
    "bandit_severity",
    "secrets_baseline",
    "health_timeout",
    "load_users",
    "load_spawn_rate",
    "load_duration",
    "threshold",
    "memory_ceiling_mb",
    "allowed_origin",
    "contract",
    "fuzz_examples",
    "fuzz_seed",
    "webhook_url",
    "rollback_on_failure",
    "rollback_on",
    "alert_only",
    "deployment_record",
]
"""The attribute name of a setting (a test holds it to the fields of PipelineSettings)."""


def pyproject_path(config: pytest.Config) -> Path | None:
    """The pyproject.toml holding ``[tool.pytest-pipeline]``: the inifile if it is one, else
    the rootdir's."""
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    candidate = config.rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None


_INI_MARKERS = {
    "pytest.ini": "",
    ".pytest.ini": "",
    "pyproject.toml": "[tool.pytest",
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
}


def _ini_dir(start: Path) -> Path | None:
    """The folder of the first pytest configuration file from ``start`` upwards."""
    for folder in (start, *start.parents):
        for name, marker in _INI_MARKERS.items():
            path = folder / name
            try:
                if path.is_file() and marker in path.read_text(encoding="utf-8", errors="ignore"):
                    return folder
            except OSError:
                continue
    return None


def misread_value(args: Sequence[str], rootpath: Path, invocation_dir: Path) -> str | None:
    """Why pytest may have misread the command line, or None.

    pytest decides its rootdir and ini file before plugins' options exist, so in
    ``--reports-dir /some/dir`` it takes ``/some/dir`` for a test path. When that value is an
    existing path and the rootdir is not the one the folder pytest was started in leads to,
    the project's configuration was not read and the wrong tree may be collected.
    """
    takes_value = {spec.flag for spec in SETTINGS if spec.kind != "bool"}
    here = invocation_dir.resolve()
    root = rootpath.resolve()
    for flag, value in pairwise(args):
        if flag not in takes_value or value.startswith("-"):
            continue
        path = (here / value).resolve()
        if not path.exists() or not path.is_relative_to(root):
            continue  # the rootdir did not come from this value
        expected = _ini_dir(here) or here
        if expected.resolve() != root:
            return (
                f"pipeline setting {flag[2:]!r} (from {flag}): pytest took {value!r} for a test "
                f"path before it knew the option, and chose the rootdir {rootpath}; write "
                f"{flag}={value} (with '=')"
            )
    return None


def add_options(parser: pytest.Parser) -> None:
    """Add every setting's flag to the ``pipeline`` group of ``pytest --help``."""
    group = parser.getgroup(
        "pipeline", "pipeline (pytest-pipeline; precedence: flag > PIPELINE_* env var > pyproject)"
    )
    for spec in SETTINGS:
        default = spec.default
        shown = ", ".join(default) if isinstance(default, tuple) else default
        # argparse %-formats help strings
        help_text = f"{spec.help} [env {spec.env_var}; default: {shown}]".replace("%", "%%")
        if spec.kind == "bool":
            group.addoption(
                spec.flag,
                action="store_const",
                const="true",
                dest=spec.dest,
                default=None,
                help=help_text,
            )
            # argparse looks an option string up whole before splitting on "=", so the
            # explicit spellings are hidden aliases rather than an optional argument
            # (which would swallow a following test path).
            group.addoption(
                *(f"{spec.flag}={w}" for w in sorted(TRUE_WORDS)),
                action="store_const",
                const="true",
                dest=spec.dest,
                default=None,
                help=argparse.SUPPRESS,
            )
            group.addoption(
                *(f"{spec.flag}={w}" for w in sorted(FALSE_WORDS)),
                action="store_const",
                const="false",
                dest=spec.dest,
                default=None,
                help=argparse.SUPPRESS,
            )
        elif spec.kind == "list":
            group.addoption(
                spec.flag,
                action="append",
                dest=spec.dest,
                default=None,
                metavar=spec.attr.upper(),
                help=help_text + " (repeatable)",
            )
        else:
            metavar = "{" + ",".join(spec.choices) + "}" if spec.kind == "choice" else None
            group.addoption(
                spec.flag,
                action="store",
                dest=spec.dest,
                default=None,
                metavar=metavar or spec.attr.upper(),
                help=help_text,
            )
