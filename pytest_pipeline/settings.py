"""Every setting of the pipeline: a flag, an environment variable and a pyproject key.

A setting is declared once, as a :class:`Setting` in :data:`SETTINGS`. It is then
``--<name>`` on the command line, ``PIPELINE_<NAME>`` in the environment and ``<name>`` in
``[tool.pytest-pipeline]`` (with ``[tool.pytest-pipeline.environments.<env>]`` overlaid for
the selected environment). Precedence: flag > environment variable > environment overlay >
table > default. :class:`PipelineOptions` holds the parsed values and where each came from;
it is built once per run and frozen.

This module does not import pytest at module level so that scripts can resolve settings
too (``PipelineOptions.resolve``); ``from_config`` and ``add_options`` take pytest objects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

from pytest_pipeline.settingkinds import (
    FALSE_WORDS,
    KINDS,
    SOURCE_DEFAULT,
    SOURCE_TABLE,
    TABLE,
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

__all__ = [
    "KINDS",
    "SETTINGS",
    "SOURCE_DEFAULT",
    "SOURCE_TABLE",
    "TABLE",
    "PipelineOptions",
    "Setting",
    "SettingError",
    "Validator",
    "add_options",
    "at_least",
    "did_you_mean",
    "matches",
    "overlay_source",
    "parse_value",
    "positive",
    "pyproject_path",
    "read_table",
    "setting",
]

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


def _valid_thresholds(values: Sequence[str]) -> None:
    from pytest_pipeline.postdeploy.thresholds import validate_thresholds

    validate_thresholds(values)


# fmt: off

SETTINGS: tuple[Setting, ...] = (
    # -- core ----------------------------------------------------------------------------------
    Setting("env", "choice", "dev", "pipeline environment", ("dev", "staging", "prod")),
    Setting("target-url", "url", None, "test an already running service at this URL"),
    Setting("aws-backend", "choice", "auto",
            "auto (real AWS when credentials exist, else moto), moto, endpoint or aws",
            ("auto", "moto", "endpoint", "aws")),
    Setting("aws-endpoint-url", "url", None, "AWS endpoint for --aws-backend=endpoint"),
    Setting("aws-region", "str", "us-east-1", "AWS region", validate=_REGION),
    Setting("stack-name", "str", "passport-photo-{env}",
            "CloudFormation stack name ({env} is replaced by the environment)", validate=_STACK),
    Setting("deploy-target", "choice", "local", "where the service is deployed",
            ("local", "elasticbeanstalk")),
    Setting("teardown", "choice", "always",
            "remove the stack and deployment at the end: always, on-success or never",
            ("always", "on-success", "never")),
    Setting("no-gate", "bool", False, "run later stages even when an earlier stage failed"),
    Setting("vuln-db", "path", None, "offline OSV vulnerability database (a directory)",
            must_exist=True),
    Setting("gate-timeout", "float", 1800.0,
            "seconds an xdist worker waits for the tests of earlier stages", validate=positive),
    Setting("reports-dir", "path", "reports", "where the pipeline writes its reports"),
    # -- PipelineConfig ------------------------------------------------------------------------
    Setting("instance-type", "str", "t3.small", "EC2 instance type", validate=_INSTANCE),
    Setting("min-instances", "int", 1, "minimum instances of the environment",
            validate=at_least(1)),
    Setting("max-instances", "int", 2, "maximum instances (>= min-instances)",
            validate=at_least(1)),
    Setting("deployment-bucket", "str", None, "S3 bucket for source bundles", validate=_BUCKET),
    Setting("template", "path", "infra/template.yaml", "CloudFormation template of the stack",
            must_exist=True),
    Setting("notification-channels", "list", ("log",), "where deployment notifications go",
            ("sns", "webhook", "log")),
    Setting("rollback-enabled", "bool", False, "roll back automatically on failure"),
    Setting("monitoring-enabled", "bool", True, "set up and check monitoring"),
    # -- infra ---------------------------------------------------------------------------------
    Setting("stack-timeout", "float", 300.0, "seconds to wait for a stack operation",
            validate=positive, area="infra"),
    Setting("janitor", "bool", False, "remove expired ephemeral stacks left by earlier runs",
            area="infra"),
    Setting("protected-environments", "list", ("staging", "prod"),
            "environments whose stacks never expire and the janitor never deletes",
            area="infra"),
    # -- deploy --------------------------------------------------------------------------------
    Setting("app-dir", "path", "app", "the application to bundle and deploy",
            must_exist=True, area="deploy"),
    Setting("deploy-timeout", "float", 120.0, "seconds to wait for a deployment",
            validate=positive, area="deploy"),
    Setting("bundle-retention", "int", 10, "application versions to keep",
            validate=at_least(1), area="deploy"),
    Setting("eb-strategy", "choice", "update", "Elastic Beanstalk deployment: update or swap",
            ("update", "swap"), area="deploy"),
    Setting("eb-application", "str", None, "Elastic Beanstalk application name", area="deploy"),
    Setting("eb-environment", "str", None, "Elastic Beanstalk environment name", area="deploy"),
    # -- predeploy -----------------------------------------------------------------------------
    Setting("audit-strict", "bool", False,
            "fail the vulnerability audit when nothing could be audited (no service, no vuln-db)",
            area="predeploy"),
    Setting("waivers", "path", "pipeline-waivers.toml", "accepted findings with expiry dates",
            area="predeploy"),
    Setting("bandit-severity", "choice", "medium", "lowest bandit severity that fails",
            ("low", "medium", "high"), area="predeploy"),
    Setting("secrets-baseline", "path", ".secrets.baseline", "detect-secrets baseline",
            area="predeploy"),
    # -- postdeploy ----------------------------------------------------------------------------
    Setting("health-timeout", "float", 60.0, "seconds to wait for /health",
            validate=positive, area="postdeploy"),
    Setting("load-users", "int", 10, "concurrent users of the load test",
            validate=at_least(1), area="postdeploy"),
    Setting("load-spawn-rate", "float", 10.0, "users started per second",
            validate=positive, area="postdeploy"),
    Setting("load-duration", "float", 10.0, "seconds of load", validate=positive,
            area="postdeploy"),
    Setting("threshold", "list", ("p95<800ms", "photos:p95<2500ms", "error_rate<1%", "rps>=20"),
            "k6-style load thresholds, e.g. p95<800ms", area="postdeploy",
            validate=_valid_thresholds),
    Setting("memory-ceiling-mb", "int", 1024, "largest acceptable service memory (MB)",
            validate=at_least(1), area="postdeploy"),
    Setting("allowed-origin", "str", "https://app.example.com", "an origin CORS must allow",
            area="postdeploy"),
    Setting("contract", "path", "app/openapi.yaml",
            "OpenAPI 3.1 document of the service contract (what the fuzzing tests send and expect)",
            must_exist=True, area="postdeploy"),
    Setting("fuzz-examples", "int", 30,
            "generated requests per operation of the contract's fuzzing tests (Schemathesis)",
            validate=at_least(1), area="postdeploy"),
    Setting("fuzz-seed", "int", 22,
            "seed of the fuzzing tests' generator: the same seed sends the same requests",
            validate=at_least(0), area="postdeploy"),
    # -- reporting / monitoring ----------------------------------------------------------------
    Setting("webhook-url", "url", None, "webhook for notifications", area="reporting"),
    # -- rollback ------------------------------------------------------------------------------
    Setting("rollback-on-failure", "bool", False, "roll back when a gating test fails",
            area="rollback"),
    Setting("rollback-on", "list", ("postdeploy", "monitoring"),
            "markers or node-id globs whose failure triggers a rollback", area="rollback"),
    Setting("alert-only", "list", (), "markers or node-id globs that alert but never roll back",
            area="rollback"),
    Setting("deployment-record", "path", None,
            "deployment.json of the job that deployed: a later job rolls back to the version "
            "that served before it, and only while the version it tested still serves",
            area="rollback", must_exist=True),
)
# fmt: on

_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(name: str) -> Setting:
    """The declared setting called ``name`` (KeyError with a did-you-mean otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown pipeline setting {name!r}{did_you_mean(name, _BY_NAME)}") from None


def _known_settings() -> dict[str, Setting]:
    # SETTINGS may be extended after import (tests, other areas): rebuild when it grew.
    if len(_BY_NAME) != len(SETTINGS):
        _BY_NAME.clear()
        _BY_NAME.update({s.name: s for s in SETTINGS})
    return _BY_NAME


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


# -- the frozen result --------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineOptions:
    """The effective settings of a run and where each came from (frozen, read once)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    rootdir: Path = field(default_factory=Path.cwd)

    @classmethod
    def resolve(
        cls,
        *,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        table: Mapping[str, Any] | None = None,
        rootdir: Path | None = None,
    ) -> PipelineOptions:
        """Resolve every setting from raw flag values, an environment and a pyproject table.

        ``flags`` maps setting names to raw values (``None`` = not given); ``environ``
        defaults to an empty mapping (pass ``os.environ`` explicitly); ``table`` is the
        ``[tool.pytest-pipeline]`` table. Raises :class:`SettingError` on a bad value.
        """
        known = _known_settings()
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
        for spec in known.values():
            if spec.name == "env":
                continue
            raw, source, from_env = pick(spec, env)
            if spec.name == "stack-name" and isinstance(raw, str):
                raw = raw.replace("{env}", env)
            values[spec.name] = parse_value(spec, raw, source, root, from_env=from_env)
            sources[spec.name] = source
        return cls(MappingProxyType(values), MappingProxyType(sources), root)

    @classmethod
    def from_config(cls, config: pytest.Config) -> PipelineOptions:
        """Read every setting from pytest's options, ``os.environ`` and the pyproject table."""
        flags = {spec.name: getattr(config.option, spec.dest, None) for spec in SETTINGS}
        return cls.resolve(
            flags=flags,
            environ=os.environ,
            table=read_table(pyproject_path(config)),
            rootdir=config.rootpath,
        )

    def get(self, name: str) -> Any:
        """The parsed value of setting ``name``."""
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(
                f"unknown pipeline setting {name!r}{did_you_mean(name, self.values)}"
            ) from None

    def source(self, name: str) -> str:
        """Where ``name`` came from: ``--flag``, ``env PIPELINE_X``, ``pyproject [..]``, default."""
        self.get(name)
        return self.sources[name]

    def items(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` of every setting, in declaration order."""
        return iter(self.values.items())

    def explain(self) -> list[tuple[str, Any, str]]:
        """``(name, value, source)`` of every setting, in declaration order."""
        return [(name, value, self.sources[name]) for name, value in self.values.items()]

    # typed properties of the core settings
    @property
    def env(self) -> str:
        """The pipeline environment (dev, staging or prod)."""
        return str(self.values["env"])

    @property
    def target_url(self) -> str | None:
        """The URL of an already running service, if given."""
        value = self.values["target-url"]
        return None if value is None else str(value)

    @property
    def aws_backend(self) -> str:
        """auto, moto, endpoint or aws."""
        return str(self.values["aws-backend"])

    @property
    def aws_endpoint_url(self) -> str | None:
        """The AWS endpoint URL, if given."""
        value = self.values["aws-endpoint-url"]
        return None if value is None else str(value)

    @property
    def aws_region(self) -> str:
        """The AWS region."""
        return str(self.values["aws-region"])

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack name, ``{env}`` already replaced."""
        return str(self.values["stack-name"])

    @property
    def deploy_target(self) -> str:
        """local or elasticbeanstalk."""
        return str(self.values["deploy-target"])

    @property
    def teardown(self) -> str:
        """always, on-success or never."""
        return str(self.values["teardown"])

    @property
    def no_gate(self) -> bool:
        """True when the gate is off."""
        return bool(self.values["no-gate"])

    @property
    def vuln_db(self) -> Path | None:
        """The offline OSV database directory, if given."""
        value = self.values["vuln-db"]
        return None if value is None else Path(value)

    @property
    def gate_timeout(self) -> float:
        """Seconds an xdist worker waits for earlier stages."""
        return float(self.values["gate-timeout"])

    @property
    def reports_dir(self) -> Path:
        """Where reports are written (absolute)."""
        return Path(self.values["reports-dir"])


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
    import argparse

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
