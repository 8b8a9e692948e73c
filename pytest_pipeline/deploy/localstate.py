"""The state file of a local environment (``<root>/local/<env>/state.json``).

Written atomically (temporary file, then rename), so a process attaching to the environment
never reads half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_pipeline.deploy.base import DeployError

MAX_EVENTS = 500


@dataclass
class LocalState:
    """Versions (oldest first), serving and previous labels, proxy and app processes, events."""

    versions: list[dict[str, Any]] = field(default_factory=list)
    serving: str | None = None
    previous: str | None = None
    proxy: dict[str, Any] | None = None
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def labels(self) -> list[str]:
        """Version labels, oldest first."""
        return [str(item["label"]) for item in self.versions]

    def version(self, label: str) -> dict[str, Any] | None:
        """The record of version ``label``, if known."""
        return next((item for item in self.versions if item["label"] == label), None)

    @classmethod
    def read(cls, path: Path) -> LocalState:
        """The state in ``path``; an empty state when the file does not exist."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except ValueError as error:
            raise DeployError(
                f"{path} is not valid JSON ({error})",
                remediation="stop the processes it listed by hand and delete the file",
            ) from error
        return cls(
            versions=list(data.get("versions") or []),
            serving=data.get("serving"),
            previous=data.get("previous"),
            proxy=data.get("proxy"),
            apps=dict(data.get("apps") or {}),
            events=list(data.get("events") or [])[-MAX_EVENTS:],
        )

    def write(self, path: Path, environment: str) -> None:
        """Replace ``path`` with this state (the last ``MAX_EVENTS`` events)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "environment": environment,
            "versions": self.versions,
            "serving": self.serving,
            "previous": self.previous,
            "proxy": self.proxy,
            "apps": self.apps,
            "events": self.events[-MAX_EVENTS:],
        }
        fd, tmp = tempfile.mkstemp(prefix="state-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
        os.replace(tmp, path)
