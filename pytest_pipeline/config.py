"""PipelineConfig: what the pipeline builds and deploys, for one environment.

It is made from the resolved settings (``PipelineConfig.from_options``), validated as a
whole (cross-field rules such as max-instances >= min-instances) and round-trips through
JSON losslessly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from pytest_pipeline.settings import SETTINGS, PipelineOptions, SettingError, parse_value

# PipelineConfig field -> setting name
FIELDS: dict[str, str] = {
    "environment": "env",
    "aws_region": "aws-region",
    "instance_type": "instance-type",
    "min_instances": "min-instances",
    "max_instances": "max-instances",
    "deployment_bucket": "deployment-bucket",
    "cloudformation_template": "template",
    "notification_channels": "notification-channels",
    "rollback_enabled": "rollback-enabled",
    "monitoring_enabled": "monitoring-enabled",
}


class ConfigError(SettingError):
    """The configuration as a whole is not usable; names the setting and its source."""


@dataclass(frozen=True)
class PipelineConfig:
    """The deployment configuration of one environment (frozen, validated on construction)."""

    environment: str
    aws_region: str = "us-east-1"
    instance_type: str = "t3.small"
    min_instances: int = 1
    max_instances: int = 2
    deployment_bucket: str | None = None
    cloudformation_template: Path = Path("infra/template.yaml")
    notification_channels: tuple[str, ...] = ("log",)
    rollback_enabled: bool = False
    monitoring_enabled: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field and the rules between fields (raises :class:`ConfigError`)."""
        source = "PipelineConfig"
        by_name = {spec.name: spec for spec in SETTINGS}
        for field_name, setting_name in FIELDS.items():
            value = getattr(self, field_name)
            if value is None:
                continue
            raw = list(value) if isinstance(value, tuple) else value
            try:
                # Re-parse typed values through the setting's rules (choices, ranges,
                # formats); existence of the template is checked where the user set it.
                spec = by_name[setting_name]
                if spec.kind == "path":
                    continue
                parse_value(spec, raw, source, Path.cwd())
            except SettingError as error:
                raise ConfigError(error.setting, error.source, error.message) from None
        if self.max_instances < self.min_instances:
            raise ConfigError(
                "max-instances",
                source,
                f"must be >= min-instances ({self.min_instances}), got {self.max_instances}",
            )
        if not self.notification_channels:
            raise ConfigError("notification-channels", source, "needs at least one channel")

    @classmethod
    def from_options(cls, options: PipelineOptions) -> PipelineConfig:
        """The configuration the resolved settings describe (raises :class:`ConfigError`)."""
        values = {field_name: options.get(name) for field_name, name in FIELDS.items()}
        try:
            return cls(**values)
        except ConfigError as error:
            message = error.message
            if error.setting == "max-instances":
                message += f" (min-instances from {options.source('min-instances')})"
            raise ConfigError(error.setting, options.source(error.setting), message) from None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "environment": self.environment,
            "aws_region": self.aws_region,
            "instance_type": self.instance_type,
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
            "deployment_bucket": self.deployment_bucket,
            "cloudformation_template": str(self.cloudformation_template),
            "notification_channels": list(self.notification_channels),
            "rollback_enabled": self.rollback_enabled,
            "monitoring_enabled": self.monitoring_enabled,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The inverse of :meth:`to_dict` (raises :class:`ConfigError` on a bad value)."""
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ConfigError(unknown[0], "PipelineConfig JSON", "unknown field")
        if "environment" not in data:
            raise ConfigError("env", "PipelineConfig JSON", "missing field environment")
        kwargs: dict[str, Any] = dict(data)
        if "cloudformation_template" in kwargs:
            kwargs["cloudformation_template"] = Path(kwargs["cloudformation_template"])
        if "notification_channels" in kwargs:
            channels = kwargs["notification_channels"]
            if not isinstance(channels, list | tuple):
                raise ConfigError("notification-channels", "PipelineConfig JSON", "must be a list")
            kwargs["notification_channels"] = tuple(channels)
        return cls(**kwargs)

    def to_json(self, indent: int | None = 2) -> str:
        """The configuration as JSON."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """The inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError("PipelineConfig", "JSON", f"invalid JSON: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError("PipelineConfig", "JSON", "expected an object")
        return cls.from_dict(data)
