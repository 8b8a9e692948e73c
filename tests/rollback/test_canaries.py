"""No secret reaches any output: canaries in the environment and the settings, a run that
fails after deploying and rolls back, one whose rollback fails, and one whose deploy fails.

Every file the runs write (``reports/``, ``.pipeline/``) and their terminal output are read
whole; a canary anywhere fails the test, naming the file.
"""

from __future__ import annotations

import pytest

from .project import Project

pytestmark = pytest.mark.slow

# Secret-looking environment variables a CI job has (the redactor masks such values), a
# webhook whose path is its token, and a target URL with credentials in it.
ENV_CANARIES = {
    "GITHUB_TOKEN": "ghs_canaryGitHubToken0123456789abcdef",  # pragma: allowlist secret
    "APP_DB_PASSWORD": "canary-db-password-4711",  # pragma: allowlist secret
    "SLACK_BOT_TOKEN": "xoxb-canary-0000-slack-token",  # pragma: allowlist secret
}
HOOK_TOKEN = "Kq81Zx7mP2rT9vW4yB6nC3dH"  # pragma: allowlist secret
URL_PASSWORD = "canaryUrlPassw0rd"  # pragma: allowlist secret


def _outputs(project: Project, terminals: list[str]) -> dict[str, str]:
    found = {f"terminal {i}": text for i, text in enumerate(terminals)}
    for folder in (project.root / "reports", project.root / ".pipeline"):
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_size < 20_000_000:
                try:
                    found[str(path.relative_to(project.root))] = path.read_text("utf-8")
                except UnicodeDecodeError:
                    found[str(path.relative_to(project.root))] = path.read_bytes().decode("latin-1")
    return found


def test_no_canary_in_any_output(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV_CANARIES.items():
        monkeypatch.setenv(name, value)
    project.webhook.url += f"/services/T0ABCDEF1/B0ABCDEF2/{HOOK_TOKEN}"
    terminals = []
    project.deploy_baseline("staging-baseline-1")

    project.set_broken(True)  # deploys, fails postdeploy, rolls back to v1
    rolled = project.run("--env", "staging")
    rolled.assert_outcomes(passed=2, failed=1, skipped=1)
    terminals.append(rolled.stdout.str() + rolled.stderr.str())
    assert project.record()["status"] == "rolled_back"

    kept = project.run("--env", "staging", "--rollback-enabled=false")  # the bad one stays
    assert kept.ret != 0
    terminals.append(kept.stdout.str() + kept.stderr.str())

    # a separate job against a URL with credentials in it; the versions it could restore
    # are gone, so its rollback fails too
    project.lose_bundles(keep=project.environment().current_version())
    url = project.environment().url.replace("http://", f"http://ci:{URL_PASSWORD}@")
    job = project.separate_job(url, "-v")
    assert job.ret != 0
    terminals.append(job.stdout.str() + job.stderr.str())

    (project.app / "Procfile").unlink()  # the next deploy fails
    failed = project.run("--env", "staging", "-v")
    assert failed.ret != 0
    terminals.append(failed.stdout.str() + failed.stderr.str())
    assert any("Procfile" in text for text in terminals[-1:]), terminals[-1][-3000:]

    assert len(project.webhook.bodies) >= 3  # the notifications were sent, with their text
    outputs = _outputs(project, terminals)
    outputs["webhook bodies"] = repr(project.webhook.bodies)
    canaries = [*ENV_CANARIES.values(), HOOK_TOKEN, URL_PASSWORD]
    for name, text in outputs.items():
        for canary in canaries:
            assert canary not in text, f"{canary[:12]}… leaked into {name}"
    assert any("[REDACTED]" in text for text in outputs.values())
