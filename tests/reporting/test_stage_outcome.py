"""One outcome rule per stage, over the results: whether the gate skipped a test is a field."""

from __future__ import annotations

import pytest

from pytest_pipeline.models import ModelError, TestOutcome, TestResult
from pytest_pipeline.reporting.summary import HALTED, SKIPPED, build_summary

REASON = "Skipped: pipeline halted: infra failed (i::t: boom)"


def skipped(nodeid: str, *, gated: bool, message: str = REASON) -> TestResult:
    return TestResult(nodeid, TestOutcome.SKIPPED, "deploy", 0.1, message, gated=gated)


def test_a_stage_is_halted_when_the_gate_skipped_its_tests_whatever_their_reason_says() -> None:
    gated = build_summary([skipped("a", gated=True, message="skipped")], environment="e")
    assert gated.stage("deploy").outcome == HALTED
    assert gated.stage("deploy").tally() == "1 halted"
    # a test that skipped itself with the gate's words is no halt
    words = build_summary([skipped("a", gated=False)], environment="e")
    assert words.stage("deploy").outcome == SKIPPED
    assert words.stage("deploy").tally() == "1 skipped"
    both = build_summary(
        [skipped("a", gated=True), skipped("b", gated=False, message="no AWS")], environment="e"
    )
    assert both.stage("deploy").outcome == SKIPPED
    assert both.stage("deploy").tally() == "1 skipped, 1 halted"


def test_gated_goes_through_the_record_and_only_on_a_skipped_test() -> None:
    result = skipped("a", gated=True)
    assert TestResult.from_dict(result.to_dict()) == result
    with pytest.raises(ModelError, match="only a skipped test is skipped by the gate"):
        TestResult("a", TestOutcome.PASSED, "deploy", gated=True)
