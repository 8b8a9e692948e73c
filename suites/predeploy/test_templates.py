"""The CloudFormation template(s) this run deploys (setting `template`, and the local
templates of its nested stacks): one cfn-lint run with the pipeline's rules
(pytest_pipeline/predeploy/cfnrules: Elastic Beanstalk settings, open admin ports, data loss,
secrets, encryption, IAM), exactly what `cfn-lint --append-rules` reports."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.scancases import SecurityCheck


@pytest.mark.security_scan("templates")
def test_template(security_case: SecurityCheck) -> None:
    """One failing test per cfn-lint error or warning and per pipeline rule violated."""
    security_case.check()
