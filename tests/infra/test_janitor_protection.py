"""The janitor never deletes a protected environment's stack, and a dry run deletes nothing.

Before, every run tagged its stack to expire 24 hours later, prod included, and the janitor
deleted whatever was past that tag. Scenario on a moto server: an expired dev stack, a
prod stack carrying an expiry tag (as earlier versions wrote), a staging stack tagged
protected, and a fresh dev stack.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.clients import AwsContext, MotoServer

from .helpers import unique, write

TINY = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
HOUR = timedelta(hours=1)


def test_protected_stacks_never_expire_and_are_never_deleted(
    ctx: AwsContext, moto_server: MotoServer, tmp_path: Path
) -> None:
    path = write(tmp_path / "tiny.json", TINY)
    now = datetime.now(UTC)
    past = now - 2 * HOUR
    dev_old, prod, staging, dev_new = (unique(n) for n in ("dev-old", "prod", "staging", "new"))
    stacks.provision(ctx, path, dev_old, {}, stacks.pipeline_tags("r1", "a", "dev", HOUR, past), 30)
    legacy_prod = stacks.pipeline_tags("r2", "a", "prod", HOUR, past, protected=())
    legacy_prod.pop(stacks.TAG_LIFECYCLE)  # what earlier versions wrote: an expiry, no lifecycle
    stacks.provision(ctx, path, prod, {}, legacy_prod, 30)
    staging_tags = stacks.pipeline_tags("r3", "a", "staging", HOUR, past)
    assert staging_tags[stacks.TAG_LIFECYCLE] == "protected"
    assert stacks.TAG_EXPIRES not in staging_tags  # a protected stack never expires
    stacks.provision(ctx, path, staging, {}, staging_tags, 30)
    stacks.provision(ctx, path, dev_new, {}, stacks.pipeline_tags("r4", "a", "dev", HOUR, now), 30)
    try:
        # the command line's dry run lists what would go and deletes nothing
        listed = subprocess.run(
            [
                sys.executable, "-m", "pytest_pipeline.cli", "janitor", "--aws-backend",
                "endpoint", "--aws-endpoint-url", moto_server.endpoint_url, "--dry-run",
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert f"would delete 1 expired stack(s): {dev_old}" in listed.stdout
        assert all(stacks.describe(ctx, n) is not None for n in (dev_old, prod, staging, dev_new))

        assert stacks.janitor(ctx, now) == [dev_old]
        assert stacks.describe(ctx, dev_old) is None
        for name in (prod, staging, dev_new):
            assert stacks.describe(ctx, name) is not None, f"{name} must stay"
    finally:
        for name in (prod, staging, dev_new):
            stacks.delete(ctx, name, 30)
