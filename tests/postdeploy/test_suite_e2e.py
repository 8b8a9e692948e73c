"""The postdeploy suite run for real (pytester, subprocess): passes against ``app/``, fails on
each deliberately faulty service with a specific message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_pipeline.service import LocalApp

ROOT = Path(__file__).resolve().parents[2]

SUITE = str(ROOT / "suites" / "postdeploy")
COMMON = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
    "--allowed-origin",
    "https://app.example.com",
)


def run_suite(
    pytester: pytest.Pytester, url: str, *args: str, inprocess: bool = False
) -> pytest.RunResult:
    """Run the postdeploy suite against ``url`` (in a subprocess unless ``inprocess``)."""
    run = pytester.runpytest_inprocess if inprocess else pytester.runpytest_subprocess
    return run(SUITE, "--target-url", url, *COMMON, *args)


@pytest.mark.slow
def test_suite_passes_against_the_reference_app(
    pytester: pytest.Pytester, reference_app: LocalApp
) -> None:
    result = run_suite(pytester, reference_app.url, "--load-duration", "4")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) > 80
    assert "failed" not in outcomes


# Each fault, the test it must fail and the specific message it must fail with. The faults
# touch different requests, so one faulty service carries them all and one run checks them.
FAULTS = {
    "cors-star": [
        (
            "test_allowed_origin_simple",
            "*Access-Control-Allow-Origin '*' together with Access-Control-Allow-Credentials*",
        ),
        (
            "test_denied_origin_simple[[]other-site]",
            "*from denied origin 'https://evil.example': expected no Access-Control-Allow-Origin*",
        ),
    ],
    "500-on-image": [
        (
            "test_photo_answer[[]astronaut_dark.jpg-us]",
            "*POST /api/v1/photos (astronaut_dark.jpg, spec=us): expected HTTP 200, got 500*",
        )
    ],
    "grey-background": [
        (
            "test_photo_background_white[[]astronaut_gray.jpg-us]",
            "*background is not white: only 0% of the * background pixels*",
        )
    ],
    "wrong-size": [
        (
            "test_photo_answer[[]astronaut.jpg-us]",
            "*output picture is 560x600 px, the spec says 600x600*",
        )
    ],
    "slow-specs": [("test_threshold[[]p95<800ms]", "*p95<800ms breached: overall p95 = *")],
    "lying-health": [
        (
            "test_health_contract",
            "*health answers 200 'ok' but its check 'dynamodb' is 'fail'*the health endpoint lies*",
        )
    ],
}
SELECT = (
    "test_photo and (astronaut_dark.jpg-us or astronaut_gray.jpg-us or astronaut.jpg-us)"
    " or test_allowed_origin_simple or test_denied_origin_simple or test_health"
    " or test_threshold or test_specs"
)


@pytest.mark.slow
def test_suite_fails_on_each_fault_with_its_message(
    pytester: pytest.Pytester, faulty_service: Callable[[str], str]
) -> None:
    url = faulty_service(",".join(FAULTS))
    result = run_suite(pytester, url, "-k", SELECT, "--load-duration", "3", "-rf")
    assert result.ret == 1, result.stdout.str()[-3000:]
    for fault, expectations in FAULTS.items():
        for test, message in expectations:
            try:
                result.stdout.fnmatch_lines([f"FAILED *{test}*"])
                result.stdout.fnmatch_lines([message])
            except pytest.fail.Exception as error:  # say which fault went unnoticed
                raise AssertionError(f"fault {fault!r} not reported as expected") from error
    # Tests the faults do not touch still pass: the failures are specific, not collateral.
    assert result.parseoutcomes().get("passed", 0) >= 3


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
