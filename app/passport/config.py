"""Application settings, read only from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

BACKENDS = ("mediapipe", "rembg", "grabcut")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """An environment variable holds a value the application cannot use."""


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to e.g. {default:g}") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum:g}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


@dataclass(frozen=True)
class Settings:
    """Everything the application reads from its environment."""

    table_name: str = ""
    bucket_name: str = ""
    allowed_origins: tuple[str, ...] = ()
    max_upload_mb: float = 10.0
    max_pixels: int = 40_000_000
    app_version: str = "dev"
    region: str = "us-east-1"
    segmentation_backend: str = "mediapipe"
    app_secret_arn: str = ""
    check_deliverability: bool = False
    health_cache_seconds: float = 2.0

    @property
    def max_upload_bytes(self) -> int:
        """The request body limit in bytes (`MAX_UPLOAD_MB` x 2**20)."""
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: `os.environ`), validating every value."""
        env = os.environ if env is None else env
        backend = env.get("SEGMENTATION_BACKEND", "mediapipe").strip().lower() or "mediapipe"
        if backend not in BACKENDS:
            raise ConfigError(
                f"SEGMENTATION_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}"
            )
        origins = tuple(o.strip() for o in env.get("ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            table_name=env.get("TABLE_NAME", "").strip(),
            bucket_name=env.get("BUCKET_NAME", "").strip(),
            allowed_origins=origins,
            max_upload_mb=_number(env, "MAX_UPLOAD_MB", 10.0, 0.01),
            max_pixels=int(_number(env, "MAX_IMAGE_PIXELS", 40_000_000, 1)),
            app_version=env.get("APP_VERSION", "").strip() or "dev",
            region=(
                env.get("AWS_REGION", "").strip()
                or env.get("AWS_DEFAULT_REGION", "").strip()
                or "us-east-1"
            ),
            segmentation_backend=backend,
            app_secret_arn=env.get("APP_SECRET_ARN", "").strip(),
            check_deliverability=_flag(env, "EMAIL_CHECK_DELIVERABILITY"),
            health_cache_seconds=_number(env, "HEALTH_CACHE_SECONDS", 2.0, 0.0),
        )

    def with_overrides(self, overrides: Mapping[str, object]) -> Settings:
        """A copy with the given fields replaced (used by `create_app(config=...)`)."""
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        unknown = set(overrides) - set(values)
        if unknown:
            raise ConfigError(f"unknown settings {sorted(unknown)}; known: {sorted(values)}")
        values.update(overrides)
        return Settings(**values)
