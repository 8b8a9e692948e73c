"""Instance logs streamed to CloudWatch Logs, named as Elastic Beanstalk names them.

With ``aws:elasticbeanstalk:cloudwatch:logs StreamLogs=true`` Elastic Beanstalk's agent
ships each instance's logs to log groups ``/aws/elasticbeanstalk/<environment>/<file>``,
one stream per instance id. On the Python platform the application's stdout and stderr
are ``/var/log/web.stdout.log``; the emulation ships each instance's captured output there,
once a second, through the embedded CloudWatch Logs backend.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

INTERVAL = 1.0
MAX_BATCH = 5000


class LogShipper:
    """Ships new lines of instance log files to CloudWatch Logs from one daemon thread.

    ``logs`` returns the moto Logs backend of the environment's account and region.
    """

    def __init__(self, logs: Callable[[], Any]) -> None:
        self._logs = logs
        self._files: dict[tuple[str, str], tuple[Path, int]] = {}
        self._retention: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, group: str, stream: str, path: Path, retention: int | None) -> None:
        """Ship ``path`` (from its start) to ``group``/``stream`` from now on."""
        with self._lock:
            self._files[(group, stream)] = (path, 0)
            self._retention[group] = retention
            self._ensure(group, stream)  # the group exists as soon as streaming starts
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="eb-logs", daemon=True)
                self._thread.start()

    def forget(self, stream: str) -> None:
        """Ship what is left of ``stream``'s file, then stop following it."""
        self.flush()
        with self._lock:
            for key in [key for key in self._files if key[1] == stream]:
                del self._files[key]

    def flush(self) -> None:
        """Ship every file's new lines now."""
        with self._lock:
            items = list(self._files.items())
        for (group, stream), (path, offset) in items:
            offset = self._ship(group, stream, path, offset)
            with self._lock:
                if (group, stream) in self._files:
                    self._files[(group, stream)] = (path, offset)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL):
            with contextlib.suppress(Exception):  # a shipping hiccup never kills the thread
                self.flush()

    def _ship(self, group: str, stream: str, path: Path, offset: int) -> int:
        try:
            with path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except OSError:
            return offset
        end = data.rfind(b"\n")
        if end < 0:
            return offset
        lines = [line for line in data[: end + 1].decode("utf-8", "replace").splitlines() if line]
        if lines:
            self._put(group, stream, lines)
        return offset + end + 1

    def _ensure(self, group: str, stream: str) -> Any:
        logs = self._logs()
        if group not in logs.groups:
            with contextlib.suppress(Exception):
                logs.create_log_group(group, {})
                retention = self._retention.get(group)
                if retention:
                    logs.put_retention_policy(group, retention)
        if stream not in logs.groups[group].streams:
            logs.create_log_stream(group, stream)
        return logs

    def _put(self, group: str, stream: str, lines: list[str]) -> None:
        logs = self._ensure(group, stream)
        now = int(time.time() * 1000)
        for start in range(0, len(lines), MAX_BATCH):
            batch = lines[start : start + MAX_BATCH]
            logs.put_log_events(group, stream, [{"timestamp": now, "message": m} for m in batch])
