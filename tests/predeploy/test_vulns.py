"""Vulnerability audit: OSV version matching, the snapshot, and untrustworthy services."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from packaging.version import Version

from pytest_pipeline.findings import Severity
from pytest_pipeline.predeploy import vulns


def test_ecosystem_ranges_introduced_fixed_last_affected() -> None:
    events = [
        {"introduced": "0"},
        {"fixed": "2.0"},
        {"introduced": "3.0"},
        {"last_affected": "3.2"},
    ]
    affected = {
        v: vulns.in_range(Version(v), events) for v in ["1.0", "2.0", "2.5", "3.0", "3.2", "3.3"]
    }
    assert affected == {
        "1.0": True,
        "2.0": False,
        "2.5": False,
        "3.0": True,
        "3.2": True,
        "3.3": False,
    }


def test_explicit_versions_list_and_package_name_normalisation() -> None:
    advisory = {
        "id": "PYSEC-X",
        "affected": [{"package": {"name": "Foo_Bar", "ecosystem": "PyPI"}, "versions": ["1.2"]}],
    }
    assert vulns.is_affected(advisory, "foo-bar", Version("1.2"))
    assert not vulns.is_affected(advisory, "foo-bar", Version("1.3"))
    assert not vulns.is_affected(advisory, "other", Version("1.2"))


def test_cvss_scores_and_severity() -> None:
    assert vulns.cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert vulns.cvss3_score("CVSS:3.1/AV:L/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N") == 2.8
    assert vulns.cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H") == 7.5
    assert vulns.cvss3_score("garbage") is None
    rated = {
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]
    }
    assert vulns.severity_of(rated) == (Severity.HIGH, "CVSS 7.5")
    assert vulns.severity_of({})[0] is Severity.HIGH


def test_old_pillow_is_found_in_the_osv_snapshot(osv_snapshot: Path) -> None:
    pins = [vulns.Pin("Pillow", "9.0.0", "app/requirements.txt", 4), vulns.Pin("six", "1.17.0")]
    result = vulns.audit_osv_dir(pins, osv_snapshot)
    assert len(result.checked) == 2 and result.unavailable is None
    ids = {f.rule_id for f in result.findings}
    assert "PYSEC-2023-227" in ids  # CVE-2023-44271, fixed in 10.0.0
    finding = next(f for f in result.findings if f.rule_id == "PYSEC-2023-227")
    assert finding.location == "app/requirements.txt" and finding.line == 4
    assert finding.resource == "Pillow==9.0.0"
    assert "CVE-2023-44271" in finding.message
    assert finding.fix.startswith("upgrade Pillow to")
    assert all(f.resource == "Pillow==9.0.0" for f in result.findings)


def test_current_pins_are_clean_in_the_snapshot(osv_snapshot: Path) -> None:
    result = vulns.audit_osv_dir(
        [vulns.Pin("pillow", "13.0.0"), vulns.Pin("flask", "3.1.3")], osv_snapshot
    )
    assert result.findings == [] and len(result.checked) == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_vulnerability_service_is_not_trusted() -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "NO_PROXY": ""}
    reason = vulns.probe_service("pypi", timeout=5, env=env)
    assert reason is not None and "pip-audit" in reason


def test_audit_falls_back_to_the_snapshot_or_says_nothing_was_checked(osv_snapshot: Path) -> None:
    pins = [vulns.Pin("pillow", "9.0.0")]
    # A service that does not exist: never a clean result.
    nothing = vulns.audit(pins, vuln_db=None, services=("no-such-service",), timeout=5)
    assert nothing.unavailable is not None and "no OSV directory" in nothing.unavailable
    assert nothing.findings == [] and nothing.checked == []
    fallback = vulns.audit(pins, vuln_db=osv_snapshot, services=("no-such-service",), timeout=5)
    assert fallback.findings and fallback.source.startswith("the OSV directory")
    assert fallback.notes and "no-such-service" in fallback.notes[0]


def test_missing_osv_directory_is_unavailable(tmp_path: Path) -> None:
    result = vulns.audit_osv_dir([vulns.Pin("six", "1.0")], tmp_path / "nope")
    assert result.unavailable and "does not exist" in result.unavailable


def test_probe_verdicts_are_cached_for_an_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def probe(service: str, *, timeout: float = 0, env: object = None) -> str | None:
        calls.append(service)
        return None if service == "good" else f"{service} is down"

    monkeypatch.setattr(vulns, "probe_service", probe)
    assert vulns.probe_services(["bad", "good"], cache_dir=tmp_path) == ["bad is down", None]
    assert vulns.probe_services(["bad", "good"], cache_dir=tmp_path) == ["bad is down", None]
    assert sorted(calls) == ["bad", "good"]
    monkeypatch.setattr(vulns, "PROBE_TTL_S", 0.0)
    vulns.probe_services(["good"], cache_dir=tmp_path)
    assert calls.count("good") == 2
