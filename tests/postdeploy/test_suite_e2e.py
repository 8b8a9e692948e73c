"""The postdeploy suite run for real (pytester, subprocess): it passes against ``app/`` and
against a second, independently written implementation, and fails on every single-fault
variant of the catalog (``catalog.py``) in the broken rule's own test, naming the rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from catalog import CATALOG, Variant, verdict

# The in-process runs below import these; loaded here first, pytester keeps them between
# runs (numpy and OpenCV cannot be imported twice in one process).
from pytest_pipeline.postdeploy import fuzz, images  # noqa: F401
from pytest_pipeline.postdeploy.service import LocalApp

ROOT = Path(__file__).resolve().parents[2]

SUITE = ROOT / "suites" / "postdeploy"
COMMON = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
    "--allowed-origin",
    "https://app.example.com",
)


def run_suite(
    pytester: pytest.Pytester, url: str, *args: str, path: Path = SUITE, inprocess: bool = False
) -> pytest.RunResult:
    """Run the postdeploy suite against ``url`` (in a subprocess unless ``inprocess``)."""
    run = pytester.runpytest_inprocess if inprocess else pytester.runpytest_subprocess
    return run(str(path), "--target-url", url, *COMMON, *args)


def _passes(result: pytest.RunResult) -> dict[str, int]:
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()[-4000:]
    assert "failed" not in outcomes
    return outcomes


@pytest.mark.slow
def test_suite_passes_against_the_reference_app(
    pytester: pytest.Pytester, reference_app: LocalApp
) -> None:
    outcomes = _passes(run_suite(pytester, reference_app.url, "--load-duration", "4"))
    assert outcomes.get("passed", 0) > 150


@pytest.mark.slow
def test_suite_passes_against_a_second_implementation(
    pytester: pytest.Pytester, second_implementation: str
) -> None:
    """Another crop, detector setup, segmentation and encoder; no uk; tiny faces no_face."""
    result = run_suite(pytester, second_implementation, "--load-duration", "3", "-rs")
    outcomes = _passes(result)
    assert outcomes.get("passed", 0) > 150
    result.stdout.fnmatch_lines(["*spec 'uk' is optional and GET /api/v1/specs does not offer it*"])


@pytest.mark.slow
@pytest.mark.parametrize("variant", [pytest.param(v, id=v.mode) for v in CATALOG])
def test_suite_fails_on_each_single_fault_naming_the_rule(
    pytester: pytest.Pytester, faulty_service: Callable[[str], str], variant: Variant
) -> None:
    url = f"{faulty_service('none')}/v/{variant.mode}"
    select = ("-k", variant.select) if variant.select else ()
    # In-process: a variant's run is a few requests; a fresh interpreter would cost more.
    result = run_suite(pytester, url, "-rf", *select, path=SUITE / variant.module, inprocess=True)
    problems = verdict(variant, result.ret, result.stdout.str())
    assert not problems, (
        f"variant {variant.mode} ({variant.rule}): "
        + "; ".join(problems)
        + "\n"
        + result.stdout.str()[-3000:]
    )


@pytest.mark.slow
def test_slow_service_breaches_a_latency_threshold(
    pytester: pytest.Pytester, faulty_service: Callable[[str], str]
) -> None:
    url = f"{faulty_service('none')}/v/slow-specs"
    result = run_suite(
        pytester, url, "-rf", "--load-duration", "3", path=SUITE / "test_under_load.py"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAILED *test_threshold[[]p95<800ms]*"])
    result.stdout.fnmatch_lines(["*p95<800ms breached: overall p95 = *"])


@pytest.mark.slow
def test_health_never_up_skips_the_rest_with_the_reason(
    pytester: pytest.Pytester, faulty_service: Callable[[str], str]
) -> None:
    # In-process (no moto or boto3 in this run: the service never comes up).
    result = run_suite(
        pytester,
        faulty_service("health-down"),
        "--health-timeout",
        "2",
        "-k",
        "test_health or test_specs or test_denied_origin_simple",
        "-rs",
        inprocess=True,
    )
    outcomes = result.parseoutcomes()
    assert result.ret == 1
    assert outcomes.get("failed") == 1, outcomes
    assert outcomes.get("skipped", 0) >= 4, outcomes
    result.stdout.fnmatch_lines(
        [
            "*did not answer GET /health with 200 within 2s (health-timeout); "
            "last answer: HTTP 503*",
            "SKIPPED*service unavailable: service at http://127.0.0.1:* did not answer*",
        ]
    )
