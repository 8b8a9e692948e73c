"""Service quotas a stack would hit, checked before creating it.

Each check compares what the account uses plus what the stack adds with the account's
limit, asking the API that knows (CloudFormation ``DescribeAccountLimits``, Service Quotas,
IAM ``GetAccountSummary``). Where the backend cannot answer (moto implements few of these
APIs) the check says so and counts as unknown, never as passed.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from pytest_pipeline.aws import inventory
from pytest_pipeline.aws.stackops import error_text

Status = Literal["ok", "exceeded", "unknown"]


class _Context(Protocol):
    def client(self, service: str, *, max_attempts: int | None = None) -> Any: ...


S3_DEFAULT_BUCKETS = 100


class QuotaError(RuntimeError):
    """The stack would exceed an account quota; nothing was created."""

    def __init__(self, checks: list[QuotaCheck]) -> None:
        self.checks = checks
        lines = "; ".join(check.describe() for check in checks)
        super().__init__(
            f"the stack would exceed account quotas: {lines}. Delete unused resources "
            "(the janitor removes expired pipeline stacks: pytest-pipeline janitor) or request "
            "an increase in the Service Quotas console"
        )


@dataclass(frozen=True)
class QuotaCheck:
    """One quota: what is used, what the stack adds, the limit and where it came from."""

    name: str
    needed: int
    used: int | None
    limit: int | None
    status: Status
    source: str

    def describe(self) -> str:
        if self.status == "unknown":
            return f"{self.name}: unknown ({self.source})"
        return (
            f"{self.name}: {self.used} used + {self.needed} needed "
            f"{'>' if self.status == 'exceeded' else '<='} limit {self.limit} ({self.source})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "needed": self.needed,
            "used": self.used,
            "limit": self.limit,
            "status": self.status,
            "source": self.source,
        }


class _Unanswerable(BotoCoreError):
    fmt = "{detail}"


def _error_text(error: Exception) -> str:
    if isinstance(error, _Unanswerable):
        return str(error)
    return error_text(error)[:200]


# client → {operation: why}: an API a backend does not implement stays unimplemented, so
# each client asks once rather than before every stack.
_unanswerable: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def _ask(client: Any, operation: str, **kwargs: Any) -> Any:
    known = _unanswerable.setdefault(client, {})
    if operation in known:
        raise _Unanswerable(detail=known[operation])
    try:
        return getattr(client, operation)(**kwargs)
    except (ClientError, ResponseParserError) as error:
        status = 500
        if isinstance(error, ClientError):
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        text = _error_text(error)
        if status >= 500 or "not available in the current Region" in text:
            known[operation] = f"{operation}: {text}"
        raise


def _service_quota(ctx: _Context, service: str, code: str) -> tuple[int | None, str]:
    client = ctx.client("service-quotas", max_attempts=1)
    try:
        answer = _ask(client, "get_service_quota", ServiceCode=service, QuotaCode=code)
        return int(answer["Quota"]["Value"]), f"service-quotas {service}/{code}"
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        first = _error_text(error)
    try:
        value = _ask(client, "get_aws_default_service_quota", ServiceCode=service, QuotaCode=code)
        return int(value["Quota"]["Value"]), f"default service-quotas {service}/{code}"
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        return None, f"service-quotas {service}/{code} unavailable ({first}; {_error_text(error)})"


def _check(
    name: str,
    needed: int,
    used: Callable[[], int],
    limit: Callable[[], tuple[int | None, str]],
    default: int | None = None,
) -> QuotaCheck:
    try:
        maximum, source = limit()
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        maximum, source = None, f"limit unavailable: {_error_text(error)}"
    if maximum is None and default is not None:
        maximum, source = default, f"assumed AWS default {default}; {source}"
    if maximum is None:
        return QuotaCheck(name, needed, None, None, "unknown", source)
    try:
        in_use = used()
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        return QuotaCheck(name, needed, None, maximum, "unknown", f"usage: {_error_text(error)}")
    status: Status = "exceeded" if in_use + needed > maximum else "ok"
    return QuotaCheck(name, needed, in_use, maximum, status, source)


def _stack_limit(ctx: _Context) -> tuple[int | None, str]:
    try:
        limits = _ask(ctx.client("cloudformation", max_attempts=1), "describe_account_limits")
        for limit in limits.get("AccountLimits", []):
            if limit["Name"] == "StackLimit":
                return int(limit["Value"]), "cloudformation DescribeAccountLimits"
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        quota, source = _service_quota(ctx, "cloudformation", "L-0485CB21")
        return quota, f"{source}; DescribeAccountLimits: {_error_text(error)}"
    return _service_quota(ctx, "cloudformation", "L-0485CB21")


def _active_stacks(ctx: _Context) -> int:
    client = ctx.client("cloudformation")
    # Deleted stacks stay listed for 90 days: ask only for the statuses that count.
    statuses = client.meta.service_model.shape_for("StackStatus").enum
    active = [status for status in statuses if status != "DELETE_COMPLETE"]
    return sum(
        1
        for page in client.get_paginator("list_stacks").paginate(StackStatusFilter=active)
        for summary in page.get("StackSummaries", [])
        if summary["StackStatus"] != "DELETE_COMPLETE"
    )


def _iam_summary(
    ctx: _Context, used_key: str, quota_key: str, memo: dict[str, Any]
) -> tuple[int, int]:
    if "summary" not in memo:  # one call answers both IAM checks
        memo["summary"] = ctx.client("iam", max_attempts=1).get_account_summary()["SummaryMap"]
    summary = memo["summary"]
    return int(summary[used_key]), int(summary[quota_key])


def check_quotas(
    ctx: _Context,
    resource_types: Mapping[str, str],
    usage: inventory.Inventory | None = None,
) -> list[QuotaCheck]:
    """Check the quotas the given resources (logical id → type) would hit.

    ``usage``: an inventory snapshot just taken, to count from instead of listing again.
    """
    needs = Counter(resource_types.values())

    def count(kind: str) -> int:
        if usage is not None and kind in usage.items:
            return usage.count(kind)
        return inventory.snapshot(ctx, [kind]).count(kind)

    checks = [
        _check("CloudFormation stacks", 1, lambda: _active_stacks(ctx), lambda: _stack_limit(ctx))
    ]
    if needs["AWS::S3::Bucket"]:
        checks.append(
            _check(
                "S3 buckets",
                needs["AWS::S3::Bucket"],
                lambda: count("buckets"),
                lambda: _service_quota(ctx, "s3", "L-DC2B2D3D"),
                # The long-standing default; when Service Quotas answers, its value wins.
                S3_DEFAULT_BUCKETS,
            )
        )
    if needs["AWS::DynamoDB::Table"]:
        checks.append(
            _check(
                "DynamoDB tables",
                needs["AWS::DynamoDB::Table"],
                lambda: count("tables"),
                lambda: _service_quota(ctx, "dynamodb", "L-F98FE922"),
            )
        )
    if needs["AWS::SNS::Topic"]:
        checks.append(
            _check(
                "SNS topics",
                needs["AWS::SNS::Topic"],
                lambda: count("topics"),
                lambda: _service_quota(ctx, "sns", "L-61103206"),
            )
        )
    memo: dict[str, Any] = {}
    for rtype, name, used_key, quota_key in (
        ("AWS::IAM::Role", "IAM roles", "Roles", "RolesQuota"),
        (
            "AWS::IAM::InstanceProfile",
            "IAM instance profiles",
            "InstanceProfiles",
            "InstanceProfilesQuota",
        ),
    ):
        if needs[rtype]:

            def used(u: str = used_key, q: str = quota_key) -> int:
                return _iam_summary(ctx, u, q, memo)[0]

            def limit(u: str = used_key, q: str = quota_key) -> tuple[int | None, str]:
                return _iam_summary(ctx, u, q, memo)[1], "iam GetAccountSummary"

            checks.append(_check(name, needs[rtype], used, limit))
    return checks


def enforce(checks: list[QuotaCheck]) -> None:
    """Raise ``QuotaError`` naming every exceeded quota."""
    exceeded = [check for check in checks if check.status == "exceeded"]
    if exceeded:
        raise QuotaError(exceeded)
