"""k6-style thresholds: parsing, evaluation, and a bad one stopping the run at start-up."""

from __future__ import annotations

import pytest

from pytest_pipeline.postdeploy.loadstats import compute_stats
from pytest_pipeline.postdeploy.thresholds import ThresholdError, evaluate, parse_threshold


@pytest.mark.parametrize(
    ("text", "endpoint", "metric", "op", "value"),
    [
        ("p95<800ms", None, "p95", "<", 800.0),
        ("p99<=1.5s", None, "p99", "<=", 1500.0),
        ("error_rate<1%", None, "error_rate", "<", 0.01),
        ("error_rate<0.05", None, "error_rate", "<", 0.05),
        ("rps>=20", None, "rps", ">=", 20.0),
        ("photos:p95<2000ms", "photos", "p95", "<", 2000.0),
        (" specs : avg < 300 ", "specs", "avg", "<", 300.0),
        ("med<200", None, "p50", "<", 200.0),
        ("p99.9<3s", None, "p99.9", "<", 3000.0),
    ],
)
def test_parse(text: str, endpoint: str | None, metric: str, op: str, value: float) -> None:
    t = parse_threshold(text)
    assert (t.endpoint, t.metric, t.op) == (endpoint, metric, op)
    assert t.value == pytest.approx(value)


@pytest.mark.parametrize(
    "text", ["p95<8xx", "p95", "p100<1s", "rps>=20ms", "error_rate<5ms", "p95<10%", "latency<1s"]
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ThresholdError, match="threshold"):
        parse_threshold(text)


def test_evaluate_per_endpoint_and_overall() -> None:
    samples = {
        "specs": [(10.0, True)] * 95 + [(900.0, True)] * 5,
        "photos": [(1500.0, True)] * 9 + [(100.0, False)],
    }
    stats = compute_stats(samples, duration_s=10.0)
    assert evaluate(parse_threshold("rps>=11"), stats).passed
    assert not evaluate(parse_threshold("rps>=12"), stats).passed
    assert evaluate(parse_threshold("specs:p90<50ms"), stats).passed
    breached = evaluate(parse_threshold("photos:p95<1s"), stats)
    assert not breached.passed
    assert "photos p95 = 1500.0 ms" in breached.message
    rate = evaluate(parse_threshold("photos:error_rate<5%"), stats)
    assert not rate.passed and "10.00%" in rate.message
    assert evaluate(parse_threshold("error_rate<1%"), stats).actual == pytest.approx(1 / 110)


def test_evaluate_unknown_endpoint_fails_with_reason() -> None:
    stats = compute_stats({"specs": [(1.0, True)]}, 1.0)
    verdict = evaluate(parse_threshold("background:p95<1s"), stats)
    assert not verdict.passed
    assert "no requests to 'background'" in verdict.message


def test_bad_threshold_is_a_one_line_exit_4(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    # In-process: the run stops while reading settings, before any fixture touches AWS.
    result = pytester.runpytest_inprocess("--threshold", "p95<8xx", "-p", "no:cacheprovider")
    assert result.ret == 4
    output = result.stdout.str() + result.stderr.str()
    assert "threshold" in output and "'p95<8xx' does not parse" in output, output
    assert "Traceback" not in output
