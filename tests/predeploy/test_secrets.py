"""Secret scanning: planted keys are found with file and line, values never leave redacted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_pipeline.plugin.scancases import SecurityCase
from pytest_pipeline.predeploy import secrets
from pytest_pipeline.predeploy.scanners import ScanOutcome, sarif_runs
from pytest_pipeline.predeploy.waivers import WaiverSet
from pytest_pipeline.reporting.sarif import build_sarif

from .conftest import aws_key, git_init


def test_redact_keeps_at_most_a_quarter_and_four_characters() -> None:
    assert secrets.redact(aws_key()) == "AKIA****"
    assert secrets.redact("abc") == "****"
    assert secrets.redact("abcdefgh") == "ab****"


def test_hard_coded_aws_key_is_found_redacted() -> None:
    value = aws_key()
    scan = secrets.scan_files([("app/settings.py", f'KEY = "{value}"\nDEBUG = False\n'.encode())])
    assert [(f.rule_id, f.location, f.line) for f in scan.findings] == [
        ("AWSKeyDetector", "app/settings.py", 1)
    ]
    assert "AKIA****" in scan.findings[0].message
    assert value not in scan.findings[0].describe()


def test_clean_files_and_binary_members_pass() -> None:
    scan = secrets.scan_files(
        [
            ("app/a.py", b"import os\nKEY = os.environ['AWS_KEY']\n"),
            ("img.jpg", b"\xff\xd8\x00\x01"),
        ]
    )
    assert scan.findings == [] and scan.files_scanned == 1


def test_repository_scan_uses_tracked_files_and_the_baseline(tmp_path: Path) -> None:
    (tmp_path / "conf.py").write_text(f'KEY = "{aws_key()}"\n')
    (tmp_path / "untracked.py").write_text(f'KEY = "{aws_key("ZZZZ4TJX2M5WLBNE")}"\n')
    git_init(tmp_path)
    subprocess.run(["git", "-C", str(tmp_path), "rm", "-q", "--cached", "untracked.py"], check=True)
    found = secrets.scan_repository(tmp_path, tmp_path / ".secrets.baseline")
    assert [(f.location, f.line) for f in found.findings] == [("conf.py", 1)]
    baseline = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    (tmp_path / ".secrets.baseline").write_text(baseline.stdout)
    accepted = secrets.scan_repository(tmp_path, tmp_path / ".secrets.baseline")
    assert accepted.findings == [] and accepted.accepted == 1


def test_not_a_git_checkout_is_an_error(tmp_path: Path) -> None:
    try:
        secrets.scan_repository(tmp_path / "nowhere")
    except secrets.SecretScanError as exc:
        assert "git ls-files" in str(exc)
    else:
        raise AssertionError("expected SecretScanError")


# -- Property 7 -----------------------------------------------------------------------------

UPPER_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ALNUM = UPPER_DIGITS + "abcdefghijklmnopqrstuvwxyz"
FILLER = [
    "import os",
    "",
    "def handler(event):",
    "    return {'status': 'ok'}",
    "TIMEOUT_S = 30",
    "# the region comes from the environment",
    "REGION = os.environ.get('AWS_REGION', 'us-east-1')",
]


def _not_sequential(body: str) -> bool:
    return len(set(body)) > 4


aws_keys = (
    st.text(UPPER_DIGITS, min_size=16, max_size=16)
    .filter(_not_sequential)
    .map(lambda b: aws_key(b))
)
github_tokens = (
    st.text(ALNUM, min_size=36, max_size=36).filter(_not_sequential).map(lambda b: "gh" + "p_" + b)
)
stripe_keys = (
    st.text(ALNUM, min_size=24, max_size=24)
    .filter(_not_sequential)
    .map(lambda b: "sk" + "_live_" + b)
)
planted_values = st.one_of(aws_keys, github_tokens, stripe_keys)
# Each planted line gets its own key: YAML parsers (and so detect-secrets) keep only the last
# of duplicate keys.
templates = st.sampled_from(
    ['KEY_{n} = "{v}"', "token_{n}: {v}", "export CREDENTIAL_{n}={v}", "  'auth_{n}': '{v}',"]
)


@st.composite
def planted_files(draw: st.DrawFn) -> tuple[list[tuple[str, bytes]], dict[tuple[str, int], str]]:
    files: list[tuple[str, bytes]] = []
    planted: dict[tuple[str, int], str] = {}
    for index in range(draw(st.integers(1, 3))):
        name = f"pkg/module_{index}.{draw(st.sampled_from(['py', 'yaml', 'env', 'cfg']))}"
        lines = draw(st.lists(st.sampled_from(FILLER), max_size=8))
        for n in range(draw(st.integers(0, 2))):
            value = draw(planted_values)
            at = draw(st.integers(0, len(lines)))
            lines.insert(at, draw(templates).format(n=n, v=value))
            planted = {
                (n, ln + 1 if n == name and ln > at else ln): v for (n, ln), v in planted.items()
            }
            planted[(name, at + 1)] = value
        files.append((name, ("\n".join(lines) + "\n").encode()))
    return files, planted


# Feature: ci-cd-pipeline, Property 7: every planted secret is found and none is printed unredacted
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planted_files())
def test_property_every_planted_secret_is_found_and_redacted(
    case: tuple[list[tuple[str, bytes]], dict[tuple[str, int], str]],
) -> None:
    files, planted = case
    scan = secrets.scan_files(files, origin="the bundle")
    found = {(f.location, f.line) for f in scan.findings}
    assert set(planted) <= found
    outcome = ScanOutcome("secrets", scan.findings, scan.summary)
    sarif = json.dumps(build_sarif(sarif_runs([outcome])))
    waivers = WaiverSet()
    written = [sarif, scan.summary]
    for finding in scan.findings:
        case_ = SecurityCase("secrets", "finding", finding, waivers.decide(finding))
        written += [finding.describe(), case_.failure_text(), case_.id, repr(case_.properties())]
    text = "\n".join(written)
    for value in planted.values():
        assert value not in text
        assert value[4:] not in text


def test_cache_reuses_results_and_stores_no_secret(tmp_path: Path) -> None:
    value = aws_key()
    (tmp_path / "conf.py").write_text(f'KEY = "{value}"\n')
    git_init(tmp_path)
    cache = tmp_path / ".pipeline" / "cache"
    first = secrets.scan_repository(tmp_path, cache_dir=cache)
    (stored,) = cache.glob("secrets-*.json")
    assert value not in stored.read_text() and "AKIA****" in stored.read_text()
    second = secrets.scan_repository(tmp_path, cache_dir=cache)
    assert second.findings == first.findings and len(first.findings) == 1
    (tmp_path / "conf.py").write_text("KEY = None\n")
    assert secrets.scan_repository(tmp_path, cache_dir=cache).findings == []
