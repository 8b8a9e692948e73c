"""``pytest-pipeline janitor``: delete expired stacks the pipeline created, and nothing else.

The same as ``pytest -m infra --janitor`` without running tests. The backend, endpoint and
region come from the flags, else the PIPELINE_* variables, else the defaults (``auto``:
real AWS when credentials exist).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime

from pytest_pipeline.aws import stacks
from pytest_pipeline.aws.clients import BACKENDS, AwsBackendError, resolve_context


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-pipeline janitor",
        description="Delete expired stacks tagged pipeline:managed-by=pytest-pipeline.",
    )
    env = os.environ.get
    parser.add_argument(
        "--aws-backend", choices=BACKENDS, default=env("PIPELINE_AWS_BACKEND", "auto")
    )
    parser.add_argument("--aws-endpoint-url", default=env("PIPELINE_AWS_ENDPOINT_URL"))
    parser.add_argument("--aws-region", default=env("PIPELINE_AWS_REGION"))
    parser.add_argument(
        "--now",
        type=lambda text: datetime.fromisoformat(text.replace("Z", "+00:00")),
        default=None,
        help="treat this ISO 8601 UTC time as now (default: the current time)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per deletion")
    parser.add_argument(
        "--protected-environments",
        default=env("PIPELINE_PROTECTED_ENVIRONMENTS", "staging,prod"),
        help="comma-separated environments whose stacks are never deleted (default: staging,prod)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the stacks that would be deleted; delete none"
    )
    return parser


def main(argv: list[str]) -> int:
    """Run the janitor; exit 0 when every expired stack is gone, 1 otherwise, 4 on bad
    settings."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.aws_backend == "moto":
        print(
            "pytest-pipeline janitor: the embedded moto server lives only during a run; "
            "use --aws-backend endpoint --aws-endpoint-url URL for a long-running one",
            file=sys.stderr,
        )
        return 4
    try:
        ctx = resolve_context(
            args.aws_backend, args.aws_endpoint_url, args.aws_region, source="janitor flags"
        )
    except AwsBackendError as error:
        print(f"pytest-pipeline janitor: {error}", file=sys.stderr)
        return 4
    now = args.now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    print(ctx.describe())
    protected = tuple(p.strip() for p in args.protected_environments.replace(";", ",").split(","))
    try:
        deleted = stacks.janitor(
            ctx, now, args.timeout, protected=tuple(p for p in protected if p), dry_run=args.dry_run
        )
    except stacks.StackError as error:
        print(f"pytest-pipeline janitor: {error}", file=sys.stderr)
        return 1
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(deleted)} expired stack(s){': ' if deleted else ''}{', '.join(deleted)}")
    return 0
