"""`/health`: dependency probes, cached for a couple of seconds so the endpoint stays fast."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Probe = Callable[[], dict[str, Any]]


class HealthMonitor:
    """Runs named probes, caches the combined result for `ttl` seconds."""

    def __init__(self, probes: dict[str, Probe], version: str, ttl: float = 2.0) -> None:
        self.probes = probes
        self.version = version
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, Any]] | None = None
        self.started = time.time()

    def report(self) -> dict[str, Any]:
        """`{"status", "version", "checks": {...}, "uptime_s", "cached"}` (status ok|fail)."""
        now = time.monotonic()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < self.ttl:
                body = dict(self._cached[1])
                body["cached"] = True
                body["uptime_s"] = round(time.time() - self.started, 1)
                return body
            checks: dict[str, dict[str, Any]] = {}
            for name, probe in self.probes.items():
                try:
                    checks[name] = probe()
                except Exception as exc:
                    checks[name] = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"}
            ok = all(c.get("status") == "ok" for c in checks.values())
            body = {
                "status": "ok" if ok else "fail",
                "version": self.version,
                "checks": checks,
            }
            self._cached = (now, body)
        result = dict(body)
        result["cached"] = False
        result["uptime_s"] = round(time.time() - self.started, 1)
        return result
