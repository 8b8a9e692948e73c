"""Performance thresholds in k6's style, and the verdict on a load run's figures
(:mod:`pytest_pipeline.postdeploy.loadstats`).

Syntax: ``[endpoint:]metric op value[unit]`` —

- ``p95<800ms``, ``p99<=1.5s``, ``avg<300ms``, ``med<200``, ``max<5s`` (latency; ``ms`` by
  default, ``s`` accepted; ``med`` is ``p50``);
- ``error_rate<1%`` (``%`` or a fraction: ``error_rate<0.01``);
- ``rps>=20`` (requests per second over the run);
- prefixed by an endpoint name to apply to that endpoint only: ``photos:p95<2000ms``.

Operators: ``<``, ``<=``, ``>``, ``>=``, ``==``. Parsing is pure and raises
:class:`ThresholdError` with a one-line message, so a bad threshold in configuration stops
the run at start-up.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_pipeline.postdeploy.loadstats import EndpointStats

__all__ = [
    "Threshold",
    "ThresholdError",
    "evaluate",
    "parse_threshold",
    "validate_thresholds",
]

_SYNTAX = re.compile(
    r"^\s*(?:(?P<endpoint>[A-Za-z_][\w-]*)\s*:\s*)?"
    r"(?P<metric>p\d{1,2}(?:\.\d+)?|avg|med|min|max|error_rate|rps)\s*"
    r"(?P<op><=|>=|==|<|>)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_HELP = (
    "expected [endpoint:]metric op value, e.g. p95<800ms, photos:p99<=1.5s, error_rate<1%, rps>=20"
)


class ThresholdError(ValueError):
    """A threshold that does not parse; the message says which and what is expected."""


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold. ``value`` is in ms (latency), a fraction (error_rate) or req/s."""

    text: str
    endpoint: str | None
    metric: str
    op: str
    value: float

    @property
    def unit(self) -> str:
        """Unit of ``value`` for messages and JUnit properties."""
        if self.metric == "rps":
            return "req/s"
        if self.metric == "error_rate":
            return "%"
        return "ms"

    @property
    def scope(self) -> str:
        """The endpoint this threshold applies to, or ``overall``."""
        return self.endpoint or "overall"

    @property
    def label(self) -> str:
        """Canonical spelling without spaces, used as the test id."""
        shown = self.value * 100 if self.metric == "error_rate" else self.value
        number = f"{shown:g}"
        unit = {"ms": "ms", "%": "%", "req/s": ""}[self.unit]
        prefix = f"{self.endpoint}:" if self.endpoint else ""
        return f"{prefix}{self.metric}{self.op}{number}{unit}"

    def holds(self, actual: float) -> bool:
        """Whether the measured value satisfies the threshold."""
        return _OPS[self.op](actual, self.value)


def parse_threshold(text: str) -> Threshold:
    """Parse one k6-style threshold; raise :class:`ThresholdError` naming the problem."""
    match = _SYNTAX.match(text)
    if not match:
        raise ThresholdError(f"threshold {text!r} does not parse: {_HELP}")
    metric, unit = match["metric"], match["unit"]
    value = float(match["value"])
    if metric.startswith("p") and not 0 < float(metric[1:]) < 100:
        raise ThresholdError(f"threshold {text!r}: percentile must be between 0 and 100")
    if metric in ("rps",) and unit:
        raise ThresholdError(f"threshold {text!r}: rps takes no unit ({_HELP})")
    if metric == "error_rate":
        if unit in ("ms", "s"):
            raise ThresholdError(f"threshold {text!r}: error_rate takes % or a fraction")
        value = value / 100 if unit == "%" else value
        if value > 1:
            raise ThresholdError(f"threshold {text!r}: error_rate above 100% makes no sense")
    elif metric != "rps":
        if unit == "%":
            raise ThresholdError(f"threshold {text!r}: latency takes ms or s, not %")
        value = value * 1000 if unit == "s" else value
    metric = "p50" if metric == "med" else metric
    return Threshold(text.strip(), match["endpoint"], metric, match["op"], value)


def validate_thresholds(values: Sequence[str]) -> list[Threshold]:
    """Parse every threshold, raising on the first bad one (for the settings' validate hook)."""
    return [parse_threshold(v) for v in values]


@dataclass(frozen=True)
class Verdict:
    """A threshold judged: the measured value, whether it holds, and one line saying so."""

    threshold: Threshold
    actual: float
    passed: bool
    message: str


def evaluate(threshold: Threshold, stats: Mapping[str, EndpointStats]) -> Verdict:
    """Judge one threshold against the run's stats; an endpoint with no requests fails."""
    scope = stats.get(threshold.scope)
    if scope is None or scope.count == 0:
        known = ", ".join(sorted(stats)) or "none"
        return Verdict(
            threshold,
            float("nan"),
            False,
            f"{threshold.label}: no requests to {threshold.scope!r} were made "
            f"(endpoints measured: {known})",
        )
    actual = scope.metric(threshold.metric)
    passed = threshold.holds(actual)
    if threshold.metric == "error_rate":
        shown, limit = f"{actual:.2%}", f"{threshold.value:.2%}"
    else:
        unit = "" if threshold.unit == "req/s" else " ms"
        shown, limit = f"{actual:.1f}{unit}", f"{threshold.value:g}{unit}"
    verdict = "holds" if passed else "breached"
    return Verdict(
        threshold,
        actual,
        passed,
        f"{threshold.label} {verdict}: {threshold.scope} {threshold.metric} = {shown} "
        f"(limit {threshold.op} {limit}; {scope.count} requests, {scope.errors} failed)",
    )
