"""CloudFormation templates under infra/: cfn-lint and the security rules (public buckets,
wildcard IAM actions, ...), the same checks the infra stage uses."""

from __future__ import annotations

import pytest


@pytest.mark.security_scan("templates")
def test_template(security_case):
    """One failing test per cfn-lint error or warning and per security rule violated."""
    security_case.check()
