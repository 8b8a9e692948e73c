"""The dashboard's parts in-process: remedies, the ledger, SLOs, findings, gallery order."""

from __future__ import annotations

from datetime import UTC, datetime

from pytest_pipeline.models import (
    DeploymentMetadata,
    DeploymentStatus,
    InfrastructureState,
    StackStatus,
    TestOutcome,
    TestResult,
)
from pytest_pipeline.reporting.dashboard import dashboard_html, failures, remedy_for
from pytest_pipeline.reporting.ledger import STEPS, build_ledger
from pytest_pipeline.reporting.summary import build_summary

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(**changes: object) -> DeploymentMetadata:
    fields: dict[str, object] = {
        "environment": "staging",
        "version_label": "v2",
        "deploy_target": "elasticbeanstalk",
        "status": DeploymentStatus.DEPLOYED,
        "commit": "abc123",
        "bundle_sha256": "f" * 64,
        "bundle_key": "bundles/v2.zip",
        "url": "https://env.example",
        "previous_version": "v1",
        "started_at": T0,
    }
    fields.update(changes)
    return DeploymentMetadata(**fields)  # type: ignore[arg-type]


def _infra(change_set: str | None) -> InfrastructureState:
    return InfrastructureState(
        "passport-photo-staging",
        "eu-west-1",
        StackStatus.UPDATE_COMPLETE,
        "aws",
        change_set=change_set,
    )


def test_a_message_with_its_own_fix_keeps_it_else_the_stage_remedy() -> None:
    assert remedy_for("[B104] app/x.py:3: binds 0.0.0.0 — fix: bind 127.0.0.1", "predeploy") == (
        "[B104] app/x.py:3: binds 0.0.0.0",
        "bind 127.0.0.1",
    )
    reason, remedy = remedy_for("AssertionError: stack output Url missing", "infra")
    assert reason == "AssertionError: stack output Url missing"
    assert "infra/template.yaml" in remedy
    assert remedy_for("boom", None)[1].startswith("open the test's row")


def test_ledger_steps_in_order_with_change_set_and_rollback() -> None:
    steps = build_ledger(_record(), _infra("arn:aws:cloudformation:cs/pipeline-1"))
    assert tuple(s.name for s in steps) == STEPS
    values = {s.name: s.value for s in steps}
    assert values["change set"] == "arn:aws:cloudformation:cs/pipeline-1"
    assert values["version label"] == "v2" and values["rollback"] is None
    assert steps[-1].note == "none; previous version v1"
    rolled = build_ledger(
        _record(status=DeploymentStatus.ROLLED_BACK, rollback_version="v1", rollback_reason="x"),
        _infra(None),
    )
    assert (rolled[-1].value, rolled[-1].note) == ("v1", "x")
    assert "created directly" in rolled[4].note
    failed = build_ledger(_record(status=DeploymentStatus.ROLLBACK_FAILED), None)
    assert (
        failed[-1].note.startswith("rollback FAILED") and failed[4].note == "no stack in this run"
    )
    nothing = build_ledger(_record(version_label="not-deployed"), None)
    assert nothing[3].value is None and nothing[3].note == "nothing deployed"


def test_dashboard_lists_slos_findings_failures_first_and_failed_cards_first() -> None:
    results = [
        TestResult(
            "s/p.py::scan[b104]",
            TestOutcome.SKIPPED,
            "predeploy",
            properties={"scanner": "code", "rule": "B104", "waiver": "W-001"},
        ),
        TestResult(
            "s/p.py::scan[clean]",
            TestOutcome.PASSED,
            "predeploy",
            properties={"scanner": "secrets"},
        ),
        TestResult("s/q.py::photo[a]", TestOutcome.PASSED, "postdeploy"),
        TestResult("s/q.py::photo[b]", TestOutcome.FAILED, "postdeploy", message="grey background"),
        TestResult(
            "s/l.py::threshold[p95]",
            TestOutcome.PASSED,
            "postdeploy",
            properties={"slo": "p95<800ms", "slo_measured": "41 ms"},
        ),
    ]
    picture = {"caption": "input", "thumb": "data:image/jpeg;base64,AA==", "key": "k1"}
    entries = [
        (
            "s/q.py::photo[a]",
            {"kind": "gallery", "title": "a.jpg as spec us", "pictures": [picture]},
        ),
        (
            "s/q.py::photo[b]",
            {"kind": "gallery", "title": "b.jpg as spec us", "pictures": [picture]},
        ),
    ]
    page = dashboard_html(
        build_summary(results, environment="staging"),
        build_ledger(_record(), None),
        results,
        entries,
        {"k1": "data:image/jpeg;base64,AA=="},
    )
    assert [f.nodeid for f in failures(results)] == ["s/q.py::photo[b]"]
    assert page.index('id="pipeline-failures"') < page.index('id="pipeline-ledger"')
    assert "p95&lt;800ms" in page and "41 ms" in page
    assert 'data-scanner="code"' in page and "W-001" in page
    assert page.index("b.jpg as spec us") < page.index("a.jpg as spec us")  # failed first
    assert '"k1":"data:image/jpeg;base64,AA=="' in page
