"""`pytest -m predeploy --template flawed.yaml`: the predeploy templates suite scans the
template the run deploys (not infra/), fails per finding naming rule, file, line, resource
and fix, honours waivers, and writes the findings to SARIF."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO

SECURE = (REPO / "tests" / "infra" / "templates" / "secure_stack.yaml").read_text()
HEALTH = "OptionName: SystemType, Value: enhanced}"
SSH = "{IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 10.0.0.0/8}"
WAIVER = (
    '[[waiver]]\nid = "W-9"\nrule = "E9201"\nscope = "flawed.yaml"\nowner = "team-photos"\n'
    'reason = "bastion replaced next sprint"\nexpires = 2099-01-01\n'
)


def _line(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.slow
def test_the_run_template_is_scanned_with_the_rules_and_waivers_and_sarif_hold(
    pytester: pytest.Pytester, planted: Callable[..., Path]
) -> None:
    flawed = SECURE.replace(HEALTH, HEALTH.replace("enhanced", "basic")).replace(
        SSH, SSH.replace("10.0.0.0/8", "0.0.0.0/0")
    )
    assert flawed.count("basic") == 1 and flawed.count("CidrIp: 0.0.0.0/0}") == 2
    root = planted(
        {"infra/template.yaml": SECURE, "flawed.yaml": flawed, "pipeline-waivers.toml": WAIVER},
        ("test_templates.py", "test_waivers.py"),
    )
    result = pytester.runpytest_subprocess(
        "-m", "predeploy", "--template", "flawed.yaml", "-rA", "-v"
    )
    result.assert_outcomes(failed=1, skipped=1, passed=1)
    health = _line(flawed, "Value: basic}")
    ssh = _line(flawed, "ToPort: 22, CidrIp: 0.0.0.0/0")
    result.stdout.fnmatch_lines(
        [
            f"*::test_template[[]E9201@flawed.yaml:{ssh} (WebSecurityGroup)[]] SKIPPED*",
            f"[[]E9101[]] flawed.yaml:{health} (AppEnvironment): AppEnvironment: enhanced health "
            "reporting is off (aws:elasticbeanstalk:healthreporting:system SystemType is "
            "'basic') — fix: set aws:elasticbeanstalk:healthreporting:system SystemType to "
            "enhanced*",
            "SKIPPED*waived by W-9 (owner team-photos, expires 2099-01-01)*",
            f"FAILED suites/predeploy/test_templates.py::test_template"
            f"[[]E9101@flawed.yaml:{health} (AppEnvironment)[]]*",
        ]
    )
    assert "infra/template.yaml" not in result.stdout.str()
    sarif = json.loads((root / "reports" / "security.sarif").read_text())
    (run,) = [r for r in sarif["runs"] if r["tool"]["driver"]["name"].endswith("templates")]
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == {"E9101", "E9201"}
    place = results["E9101"]["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == "flawed.yaml"
    assert place["region"]["startLine"] == health
    assert results["E9201"]["suppressions"][0]["status"] == "accepted"

    # The default template (infra/template.yaml, the secure stack here) passes, saying so.
    clean = pytester.runpytest_subprocess("-m", "predeploy", "-rA", "-p", "no:cacheprovider")
    clean.assert_outcomes(passed=2)
    clean.stdout.fnmatch_lines(
        ["*templates: 1 template(s) the run deploys checked with cfn-lint*: infra/template.yaml*"]
    )
