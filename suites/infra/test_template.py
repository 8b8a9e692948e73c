"""The templates are valid (cfn-lint) and secure (the pipeline's cfn-lint rules, one cfn-lint
run for both)."""

from __future__ import annotations

from pathlib import Path

from pytest_pipeline.plugin.extras import need_extra

need_extra("scanners", "the template checks")

from pytest_pipeline.predeploy.templates import lint_template, security_findings  # noqa: E402


def test_template_passes_cfn_lint(template: Path) -> None:
    """cfn-lint reports no error and no warning."""
    findings = lint_template(template)
    assert not findings, "\n".join(f.describe() for f in findings)


def test_template_is_secure(template: Path) -> None:
    """No rule of the pipeline (Elastic Beanstalk settings, open admin ports, data loss,
    secrets, encryption, IAM, retention, alarms) is violated."""
    findings = security_findings(template)
    assert not findings, "\n".join(f.describe() for f in findings)
