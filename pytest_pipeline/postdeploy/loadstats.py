"""A load run's figures per endpoint: counts, error rate, requests per second and latency
percentiles (numpy), from the raw ``(latency_ms, ok)`` samples of the load engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointStats:
    """Figures for one endpoint (or ``overall``) over a load run."""

    name: str
    count: int
    errors: int
    duration_s: float
    latencies_ms: tuple[float, ...]

    @property
    def error_rate(self) -> float:
        """Failed requests / all requests (0 when there were none)."""
        return self.errors / self.count if self.count else 0.0

    @property
    def rps(self) -> float:
        """Requests per second over the run."""
        return self.count / self.duration_s if self.duration_s > 0 else 0.0

    def metric(self, name: str) -> float:
        """The value of ``p95``, ``avg``, ``min``, ``max``, ``error_rate`` or ``rps``."""
        if name == "rps":
            return self.rps
        if name == "error_rate":
            return self.error_rate
        if not self.latencies_ms:
            return float("nan")
        import numpy as np  # the optional extra 'load': imported where it is used

        values = np.asarray(self.latencies_ms)
        if name == "avg":
            return float(values.mean())
        if name == "min":
            return float(values.min())
        if name == "max":
            return float(values.max())
        return float(np.percentile(values, float(name[1:])))

    def summary(self) -> dict[str, float]:
        """The usual figures: count, rps, error rate, p50/p90/p95/p99, max."""
        return {
            "count": float(self.count),
            "rps": round(self.rps, 2),
            "error_rate": round(self.error_rate, 4),
            **{p: round(self.metric(p), 1) for p in ("p50", "p90", "p95", "p99", "max")},
        }


def compute_stats(
    samples: Mapping[str, Sequence[tuple[float, bool]]], duration_s: float
) -> dict[str, EndpointStats]:
    """Per-endpoint and ``overall`` stats from raw ``(latency_ms, ok)`` samples."""
    stats: dict[str, EndpointStats] = {}
    everything: list[tuple[float, bool]] = []
    for name, rows in sorted(samples.items()):
        everything.extend(rows)
        stats[name] = _stats(name, rows, duration_s)
    stats["overall"] = _stats("overall", everything, duration_s)
    return stats


def _stats(name: str, rows: Sequence[tuple[float, bool]], duration_s: float) -> EndpointStats:
    errors = sum(1 for _, ok in rows if not ok)
    return EndpointStats(name, len(rows), errors, duration_s, tuple(ms for ms, _ in rows))
