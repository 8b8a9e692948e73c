"""The waiver file: validation errors name the file and entry; matching; expiry; unused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.waivers import WaiverError, load_waivers, parse_waivers

TODAY = dt.date(2026, 11, 26)
FINDING = Finding("bandit", "B602", Severity.HIGH, "shell=True", "use a list", "app/x.py", 5)
ENTRY = (
    '[[waiver]]\nid = "W-1"\nrule = "B602"\nscope = "app/*.py"\nowner = "team"\n'
    'reason = "argv is fixed"\nexpires = {expires}\n'
)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline-waivers.toml"
    path.write_text(text)
    return path


def test_active_waiver_waives_matching_findings_only(tmp_path: Path) -> None:
    waivers = load_waivers(_file(tmp_path, ENTRY.format(expires="2027-01-31")))
    decision = waivers.decide(FINDING, TODAY)
    assert decision.waived and decision.waiver is not None and decision.waiver.id == "W-1"
    other = Finding("bandit", "B602", Severity.HIGH, "m", "f", "lib/x.py", 5)
    assert not waivers.decide(other, TODAY).waived
    assert waivers.unused() == []


def test_waiver_by_fingerprint_and_resource_scope() -> None:
    finding = Finding(
        "templates", "PIPE-S3-001", Severity.HIGH, "m", "f", "infra/t.yaml", 9, "Bucket"
    )
    data = {"waiver": [{"id": "W-2", "rule": finding.fingerprint, "scope": "Bucket", "owner": "o",
                        "reason": "r", "expires": dt.date(2027, 1, 1)}]}  # fmt: skip
    assert parse_waivers(data, "w.toml").decide(finding, TODAY).waived


def test_expired_waiver_waives_nothing_and_is_listed(tmp_path: Path) -> None:
    waivers = load_waivers(_file(tmp_path, ENTRY.format(expires="2026-11-25")))
    decision = waivers.decide(FINDING, TODAY)
    assert not decision.waived and decision.expired is not None
    assert [w.id for w in waivers.expired(TODAY)] == ["W-1"]
    assert waivers.expired(dt.date(2026, 11, 25)) == []  # the expiry day itself still counts


def test_unused_waiver_is_reported(tmp_path: Path) -> None:
    waivers = load_waivers(_file(tmp_path, ENTRY.format(expires="2027-01-31")))
    waivers.decide(Finding("bandit", "B101", Severity.LOW, "m", "f", "app/x.py", 1), TODAY)
    assert [w.id for w in waivers.unused()] == ["W-1"]


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_waivers(tmp_path / "absent.toml").waivers == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ENTRY.format(expires='"soon"'), "waiver #1 (W-1): 'expires' must be a date"),
        (
            '[[waiver]]\nid = "W-9"\nrule = "B1"\n',
            "waiver #1 (W-9): missing scope, owner, reason, expires",
        ),
        (
            ENTRY.format(expires="2027-01-01") + ENTRY.format(expires="2027-01-01"),
            "waiver #2 (W-1): duplicate id",
        ),
        (
            ENTRY.format(expires="2027-01-01") + 'colour = "red"\n',
            "waiver #1 (W-1): unknown key(s) colour",
        ),
        ("[[waiver]\n", "not valid TOML"),
        ("[other]\nx = 1\n", "unknown top-level key(s)"),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_entry(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(WaiverError) as info:
        load_waivers(_file(tmp_path, text), display="pipeline-waivers.toml")
    assert str(info.value).startswith("pipeline-waivers.toml: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
