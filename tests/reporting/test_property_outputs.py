"""Property 8: every stage is in the summary, the record and the metrics; no secret leaks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_pipeline.models import DeploymentMetadata, TestOutcome, TestResult
from pytest_pipeline.reporting import github
from pytest_pipeline.reporting.metrics import run_metrics, stage_outcome_from_metrics
from pytest_pipeline.reporting.record import build_record, record_json
from pytest_pipeline.reporting.redact import (
    default_redactor,
    mask_builtin,
    may_hold_builtin,
    register_secret,
)
from pytest_pipeline.reporting.summary import (
    FAILED,
    HALTED,
    PASSED,
    SKIPPED,
    STAGE_ORDER,
    build_summary,
    summary_html,
    summary_markdown,
    summary_text,
)

OUTCOMES = list(TestOutcome)
SECRET = st.text(
    alphabet="abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12, max_size=24
)


def expected_outcome(outcomes: list[TestOutcome], gated: list[bool]) -> str:
    if any(o.is_failure for o in outcomes):
        return FAILED
    if any(o in (TestOutcome.PASSED, TestOutcome.XPASSED) for o in outcomes):
        return PASSED
    skipped = [g for o, g in zip(outcomes, gated, strict=True) if o is TestOutcome.SKIPPED]
    return HALTED if skipped and all(skipped) else SKIPPED


@st.composite
def runs(draw: Any) -> tuple[list[TestResult], dict[str, str], str]:
    secret = draw(SECRET)
    stages = draw(st.lists(st.sampled_from(STAGE_ORDER), min_size=1, max_size=5, unique=True))
    results: list[TestResult] = []
    expected: dict[str, str] = {}
    for stage in stages:
        outcomes = draw(st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=4))
        gated = [draw(st.booleans()) for _ in outcomes]
        for index, (outcome, is_gated) in enumerate(zip(outcomes, gated, strict=True)):
            if outcome is TestOutcome.SKIPPED and is_gated:
                message = f"Skipped: pipeline halted: x failed (leaked {secret})"
            else:
                message = f"error with {secret}" if outcome.is_failure else ""
            results.append(
                TestResult(
                    nodeid=f"suites/{stage}/test_{index}.py::test[{secret}]",
                    outcome=outcome,
                    stage=stage,
                    duration=draw(st.floats(0, 100, allow_nan=False)),
                    message=message,
                    properties={"token": secret, "latency_p95_ms": 12.5},
                    gated=outcome is TestOutcome.SKIPPED and is_gated,
                )
            )
        gated_flags = [
            g if o is TestOutcome.SKIPPED else False for o, g in zip(outcomes, gated, strict=True)
        ]
        expected[stage] = expected_outcome(outcomes, gated_flags)
    return results, expected, secret


@pytest.mark.slow
@settings(max_examples=120, deadline=None)
@given(runs())
def test_every_stage_reported_with_its_outcome_and_no_secret(
    run: tuple[list[TestResult], dict[str, str], str],
) -> None:
    # Feature: ci-cd-pipeline, Property 8: every stage appears in the summary, the record and
    # the metrics with the right outcome, and no secret appears in any output
    results, expected, secret = run
    register_secret(secret)
    try:
        summary = build_summary(results, environment="staging", url=f"https://x/?k={secret}")
        assert {s.name: s.outcome for s in summary.stages} == expected
        record = build_record(results, deployment=None, environment="staging", url=summary.url)
        assert set(record.stage_results) == set(expected)
        written = record_json(record)
        back = DeploymentMetadata.from_json(written)
        for stage, outcome in expected.items():
            assert (
                build_summary(back.stage_results[stage], environment="e").stages[0].outcome
                == outcome
            )
        metrics = run_metrics(summary, results)
        for stage, outcome in expected.items():
            assert stage_outcome_from_metrics(metrics, stage) == outcome
        outputs = [
            summary_html(summary),
            summary_markdown(summary),
            summary_text(summary),
            written,
            github.format_outputs({"url": summary.url or ""}),
            *(github.Annotation(r.message, r.nodeid, 1, r.nodeid).command() for r in results),
        ]
        for text in outputs:
            assert secret not in text
        assert secret not in json.dumps(default_redactor().redact_data(record.to_dict()))
    finally:
        default_redactor().clear()


FRAGMENTS = st.sampled_from(
    [
        "AKIAIOSFODNN7EXAMPLE",  # pragma: allowlist secret
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # pragma: allowlist secret
        "aws_secret_access_key=",
        "x-amz-security-token: ",
        "registered-secret",
        'quoted"secret',  # registered: stands escaped in JSON text
        "tab\tsecret",  # registered too
        'quote"d',
        "back\\slash",
        "tab\tnew\nline",
        "ünïcode",
        " ",
        ":",
        "=",
        "plain",
    ]
)
JSON_TEXT = st.lists(FRAGMENTS, max_size=4).map("".join)
JSON_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)


def redact_each_string(value: Any) -> Any:
    """The reference: every string of ``value`` through ``redact``, one by one."""
    redactor = default_redactor()
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, dict):
        return {redact_each_string(k): redact_each_string(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_each_string(item) for item in value]
    return value


@settings(max_examples=200, deadline=None)
@given(JSON_DATA)
def test_redact_data_masks_exactly_what_redact_masks_string_by_string(data: Any) -> None:
    # Feature: ci-cd-pipeline, Property 8: redacting a whole record (with its one-search fast
    # path) masks exactly what redacting each of its strings masks
    for secret in ("registered-secret", 'quoted"secret', "tab\tsecret"):
        register_secret(secret)
    try:
        assert default_redactor().redact_data(data) == redact_each_string(data)
    finally:
        default_redactor().clear()


BUILTIN_FRAGMENTS = st.sampled_from(
    [
        "AKIAIOSFODNN7EXAMPLE",  # pragma: allowlist secret
        "XAKIAIOSFODNN7EXAMPLE",  # pragma: allowlist secret
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # pragma: allowlist secret
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # SHA-1  # pragma: allowlist secret
        "FwoGZXIvYXdzEXAMPLEtokenVALUE12",
        "IQoJb3JpZ2lu",
        "AWS_SECRET_ACCESS_KEY",
        "aws_\u017fecret_access_\u212aey",  # long s and Kelvin sign: IGNORECASE matches them
        "X-Amz-Security-Token",
        "sessionTOKEN",
        "=",
        ": ",
        '"',
        "'",
        "value",
        "/",
        "+",
        "A",
        "K",
        " ",
        "\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(BUILTIN_FRAGMENTS, max_size=8).map("".join))
def test_the_quick_check_never_rules_out_text_a_pattern_masks(text: str) -> None:
    # Feature: ci-cd-pipeline, Property 8: the plain-string check before the patterns never
    # lets through text that one of them would mask
    assert may_hold_builtin(text) or mask_builtin(text) == text


TRICKY = st.lists(
    st.sampled_from(['}, {"', "}, {", '"', "\\", "\n", "ü", "[", "]", "x", " ", ":", ","]),
    max_size=6,
).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(TRICKY, st.sampled_from(OUTCOMES), st.sampled_from(STAGE_ORDER)),
        min_size=1,
        max_size=8,
    )
)
def test_record_file_has_a_line_per_result_and_reads_back(
    rows: list[tuple[str, TestOutcome, str]],
) -> None:
    # Feature: ci-cd-pipeline, Property 5: the deployment record round-trips through its
    # JSON file, which holds one line per test result whatever the strings hold
    results = [
        TestResult(
            nodeid=f"t{index}::{text}",
            outcome=outcome,
            stage=stage,
            message=text,
            properties={text: text, "n": index},
        )
        for index, (text, outcome, stage) in enumerate(rows)
    ]
    record = build_record(results, deployment=None, environment="dev", url="https://x/")
    written = record_json(record)
    assert DeploymentMetadata.from_json(written) == record
    result_lines = [line for line in written.splitlines() if line.startswith("      {")]
    assert len(result_lines) == len(results)
