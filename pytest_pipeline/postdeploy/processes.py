"""The service's own processes during a load run: found by listening port, sampled with psutil.

Plain Python (no pytest): :func:`serving_pids_for` finds the processes serving a loopback
URL; :class:`ResourceSampler` samples their CPU and memory (children included) in a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

__all__ = ["ResourceSample", "ResourceSampler", "serving_pids_for"]

_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]")


def serving_pids_for(url: str) -> list[int]:
    """PIDs of the processes listening on a loopback ``url``'s port (parents only).

    Empty for a remote URL or when the listener is not visible (another user's process).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not (host in _LOOPBACK or host.startswith("127.")):
        return []
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        listeners = {
            conn.pid
            for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN
            and conn.laddr
            and conn.laddr.port == port
            and conn.pid
        }
    except psutil.Error:
        return []
    # The system table names one holder of a shared listening socket (often a worker):
    # climb to the topmost ancestor that listens on the port too (gunicorn's arbiter).
    roots: set[int] = set()
    for pid in listeners:
        roots.add(_listening_ancestor(pid, port))
    return sorted(roots)


def _listens(proc: psutil.Process, port: int) -> bool:
    try:
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
            for c in proc.net_connections(kind="tcp")
        )
    except psutil.Error:
        return False


def _listening_ancestor(pid: int, port: int) -> int:
    try:
        proc = psutil.Process(pid)
        parent = proc.parent()
        while parent is not None and _listens(parent, port):
            proc, parent = parent, parent.parent()
        return proc.pid
    except psutil.Error:
        return pid


@dataclass
class ResourceSample:
    """CPU (percent of one core, summed) and resident memory (MB) of the serving processes."""

    at: float
    cpu_percent: float
    rss_mb: float


class ResourceSampler:
    """Samples CPU and memory of processes (and their children) in a thread with psutil.

    Use as a context manager around a load run; ``samples`` fills while it runs.
    """

    def __init__(self, pids: Sequence[int], interval_s: float = 0.5) -> None:
        self.pids = list(pids)
        self.interval_s = interval_s
        self.samples: list[ResourceSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._procs: dict[int, psutil.Process] = {}

    def _processes(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for pid in self.pids:
            try:
                root = psutil.Process(pid)
                found.extend([root, *root.children(recursive=True)])
            except psutil.Error:
                continue
        procs = []
        for proc in found:
            # Keep one Process object per pid so cpu_percent measures since the last sample.
            procs.append(self._procs.setdefault(proc.pid, proc))
        return procs

    def sample(self) -> ResourceSample:
        """Take one sample now."""
        cpu = rss = 0.0
        for proc in self._processes():
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
            except psutil.Error:
                continue
        return ResourceSample(time.monotonic(), cpu, rss / 2**20)

    def _run(self) -> None:
        self.sample()  # primes cpu_percent
        while not self._stop.wait(self.interval_s):
            self.samples.append(self.sample())

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak_rss_mb(self) -> float:
        """Highest total resident memory seen (MB)."""
        return max((s.rss_mb for s in self.samples), default=0.0)

    @property
    def mean_cpu_percent(self) -> float:
        """Average total CPU (percent of one core) over the samples."""
        return sum(s.cpu_percent for s in self.samples) / len(self.samples) if self.samples else 0.0
