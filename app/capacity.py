"""Worker count and image pixel limit derived from the memory the instance really has.

gunicorn.conf.py calls `plan()` at start-up. The memory is the smallest of the machine's
(`/proc/meminfo` MemTotal) and the container's (cgroup v2 `memory.max`, v1
`memory.limit_in_bytes`). From it, after a reserve for the system (the OS, nginx, the
platform's agents):

- workers: as many as fit when every thread of every worker decodes the largest accepted
  image at once, and no more than one per CPU (the work is CPU-bound image processing; the
  threads of a worker overlap its I/O);
- the pixel limit: what one request may decode within its worker's share, capped at
  `MAX_PIXELS_CAP` (40 MP).

The per-pixel and per-worker figures are measured by `benchmarks/hostile_memory.py`.
`WEB_CONCURRENCY` and `MAX_IMAGE_PIXELS`, when set, win over the plan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
# A worker with its models loaded, after warm-up (measured ~100 MiB; margin for growth).
WORKER_BASELINE_BYTES = 160 * MIB
# Peak bytes per input pixel of one decode beyond the baseline: a 40 MP RGBA PNG (the
# costliest accepted kind, 4 B/px decoded plus working-size arrays) measured ~5 B/px.
PEAK_BYTES_PER_PIXEL = 6
SYSTEM_RESERVE_BYTES = 512 * MIB
MAX_PIXELS_CAP = 40_000_000
MIN_PIXELS = 4_000_000  # below this even ordinary phone photos would be refused

_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


@dataclass(frozen=True)
class Plan:
    """What the memory allows: gunicorn workers and the pixel limit of one upload."""

    memory_bytes: int
    workers: int
    max_pixels: int

    def describe(self) -> str:
        """One line for the log."""
        return (
            f"memory {self.memory_bytes // MIB} MiB -> {self.workers} worker(s), "
            f"pixel limit {self.max_pixels}"
        )


def memory_bytes(
    meminfo: Path = Path("/proc/meminfo"), cgroups: tuple[Path, ...] = _CGROUP_LIMITS
) -> int:
    """The memory this process may use: MemTotal, or a smaller cgroup limit."""
    total = 0
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        total = 0
    limits = [total] if total else []
    for path in cgroups:
        try:
            raw = path.read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < (1 << 60):  # "max" or a huge number: no limit
            limits.append(int(raw))
    return min(limits) if limits else 2048 * MIB


def plan(memory: int, cpus: int, threads: int) -> Plan:
    """Workers and pixel limit for `memory` bytes, `cpus` CPUs and `threads` per worker."""
    threads = max(1, threads)
    usable = max(memory - SYSTEM_RESERVE_BYTES, WORKER_BASELINE_BYTES)
    per_worker_at_cap = WORKER_BASELINE_BYTES + threads * MAX_PIXELS_CAP * PEAK_BYTES_PER_PIXEL
    workers = max(1, min(max(1, cpus), usable // per_worker_at_cap))
    share = usable // workers - WORKER_BASELINE_BYTES
    pixels = share // (threads * PEAK_BYTES_PER_PIXEL)
    return Plan(memory, int(workers), int(max(MIN_PIXELS, min(MAX_PIXELS_CAP, pixels))))


def from_environment(env: dict[str, str] | None = None) -> Plan:
    """The plan for this machine, with `WEB_CONCURRENCY`/`MAX_IMAGE_PIXELS` overrides."""
    env = dict(os.environ) if env is None else env
    threads = int(env.get("GUNICORN_THREADS", "2") or 2)
    derived = plan(memory_bytes(), os.cpu_count() or 1, threads)
    workers = env.get("WEB_CONCURRENCY") or env.get("GUNICORN_WORKERS")
    pixels = env.get("MAX_IMAGE_PIXELS")
    return Plan(
        derived.memory_bytes,
        int(workers) if workers else derived.workers,
        int(pixels) if pixels else derived.max_pixels,
    )
