"""The predeploy checks: the scanners (:data:`pytest_pipeline.predeploy.scanners.SCANNERS`,
one entry per scanner), findings and waivers, dependency, vulnerability, secret, code and
template checks, and their SARIF report."""
