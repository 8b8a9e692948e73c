"""How long the reporting outputs take: redaction, histogram PNG, summary and record.

Run: ``.venv/bin/python benchmarks/reporting_outputs.py`` (prints one figure per line).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from pytest_pipeline.models import TestOutcome, TestResult
from pytest_pipeline.reporting.histogram import render_histogram
from pytest_pipeline.reporting.record import build_record, record_json
from pytest_pipeline.reporting.redact import Redactor
from pytest_pipeline.reporting.summary import STAGE_ORDER, build_summary, summary_html


def timed(label: str, fn: Callable[[], object], repeat: int = 5) -> None:
    """Print the best of ``repeat`` runs of ``fn`` in milliseconds."""
    best = min(_once(fn) for _ in range(repeat))
    print(f"{label}: {best * 1000:.1f} ms")


def _once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    rng = random.Random(8)
    redactor = Redactor(environ={f"APP_SECRET_{i}": f"value-{i:04d}-xyz" for i in range(20)})
    for index in range(50):
        redactor.register(f"registered-secret-{index:03d}")
    text = " ".join(
        rng.choice(["word", "AKIAIOSFODNN7EXAMPLE", "value-0003-xyz"]) for _ in range(20_000)
    )
    print(f"redaction input: {len(text) / 1e6:.2f} MB, 70 literal secrets")
    timed("redact 1 text", lambda: redactor.redact(text))
    latencies = [rng.lognormvariate(4, 0.6) for _ in range(10_000)]
    timed("histogram PNG, 10k samples", lambda: render_histogram("latency", latencies))
    results = [
        TestResult(f"suites/{s}/test_{i}.py::t", rng.choice(list(TestOutcome)), s, rng.random())
        for i in range(2_000)
        for s in [rng.choice(STAGE_ORDER)]
    ]
    timed(
        "summary HTML, 2000 results",
        lambda: summary_html(build_summary(results, environment="dev")),
    )
    timed(
        "deployment.json, 2000 results",
        lambda: record_json(build_record(results, deployment=None, environment="dev")),
    )


if __name__ == "__main__":
    main()
