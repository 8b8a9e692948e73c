"""The predeploy checks: scanners (``scans``), findings and waivers, dependency, code,
secret and template checks, and the postdeploy thresholds and contract."""

#: Scanner name -> what it checks (the order the suite runs them in).
SCANNERS: dict[str, str] = {
    "dependencies": "requirements parse, are pinned and fit the ML-stack compatibility rules",
    "resolution": "every pin exists on PyPI, fits the runtime Python and the set resolves",
    "vulnerabilities": "pinned packages have no known vulnerability",
    "secrets": "no secret in a tracked file",  # pragma: allowlist secret
    "code": "bandit finds nothing at or above the severity floor in the app",
    "templates": "the templates the run deploys pass cfn-lint and the pipeline's cfn-lint rules",
}

__all__ = ["SCANNERS"]
