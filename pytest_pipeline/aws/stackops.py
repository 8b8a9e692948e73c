"""Plumbing of stack operations: errors, throttling-aware calls, the event stream, waits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.retry import Backoff, retry, wait_until

THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests"}
EventSink = Callable[[dict[str, Any]], None]


class StackError(RuntimeError):
    """A stack operation failed; says why, what was left and what to do."""

    def __init__(
        self,
        stack_name: str,
        reason: str,
        hint: str,
        *,
        failed_events: list[dict[str, Any]] | None = None,
        failing_resource: str | None = None,
        leftovers: list[str] | None = None,
    ) -> None:
        self.stack_name = stack_name
        self.reason = reason
        self.hint = hint
        self.failed_events = failed_events or []
        self.failing_resource = failing_resource
        self.leftovers = leftovers or []
        left = (
            f" LEFT BEHIND: {', '.join(self.leftovers)}."
            if self.leftovers
            else " Nothing was left behind."
        )
        super().__init__(f"stack {stack_name}: {reason}.{left} Fix: {hint}")


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def throttled(error: BaseException) -> bool:
    return error_code(error) in THROTTLING


def call(what: str, fn: Callable[[], Any], deadline: float = 60.0) -> Any:
    """An API call retried on throttling with backoff (on top of botocore's own retries)."""
    return retry(fn, what=what, deadline=deadline, retry_on=throttled, backoff=Backoff(0.2, 5.0))


def error_text(error: BaseException) -> str:
    """``Code: message`` of an AWS error, whatever shape the backend gave it."""
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        said = " ".join(str(info.get("Message", "")).split())
        if "<html" in said.lower():
            said = "the backend answered with an HTML error page (not implemented?)"
        return f"{info.get('Code', 'Error')}: {said}"
    text = " ".join(str(error).split())
    # Emulators sometimes answer in the wrong protocol (JSON to an XML client): dig out
    # the error code and message instead of a parser complaint.
    message = re.search(r'"message": ?"([^"]+)"', text) or re.search(
        r"<Message>(.*?)</Message>", text
    )
    code = re.search(r'"__type": ?"(?:[^"#]*#)?([^"]+)"', text) or re.search(
        r"<Code>(.*?)</Code>", text
    )
    if message:
        return f"{code.group(1) if code else type(error).__name__}: {message.group(1)}"
    if "500 Internal Server Error" in text:
        return f"{type(error).__name__}: the backend answered HTTP 500 without a reason"
    return f"{type(error).__name__}: {text[:300]}"


def describe(ctx: AwsContext, stack_name: str) -> dict[str, Any] | None:
    """The stack's description, or None when it does not exist (or was deleted)."""
    cfn_client = ctx.client("cloudformation")
    try:
        stacks = call(
            f"describe stack {stack_name}", lambda: cfn_client.describe_stacks(StackName=stack_name)
        )
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    if not stacks["Stacks"] or stacks["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE":
        return None
    return dict(stacks["Stacks"][0])


class EventStream:
    """Fetches stack events and hands each new one, oldest first, to the sink."""

    def __init__(self, ctx: AwsContext, stack: str, sink: EventSink | None) -> None:
        self.client = ctx.client("cloudformation")
        self.stack = stack
        self.sink = sink
        self.seen: set[str] = set()
        self.events: list[dict[str, Any]] = []

    def mark_existing(self) -> None:
        self.poll(deliver=False)

    def poll(self, deliver: bool = True) -> None:
        try:
            page = call(
                f"events of {self.stack}",
                lambda: self.client.describe_stack_events(StackName=self.stack),
            )
        except ClientError as error:
            if "does not exist" in str(error):
                return
            raise
        fresh = [e for e in page.get("StackEvents", []) if e["EventId"] not in self.seen]
        for event in reversed(fresh):  # the API lists newest first
            self.seen.add(event["EventId"])
            if deliver:
                self.events.append(event)
                if self.sink:
                    self.sink(event)

    def failed(self) -> list[dict[str, Any]]:
        return [e for e in self.events if str(e.get("ResourceStatus", "")).endswith("FAILED")]


def format_event(event: Mapping[str, Any]) -> str:
    """One line for the terminal: time, resource, status and reason."""
    stamp = event.get("Timestamp")
    when = stamp.strftime("%H:%M:%S") if isinstance(stamp, datetime) else str(stamp or "")
    reason = f" — {event['ResourceStatusReason']}" if event.get("ResourceStatusReason") else ""
    return (
        f"{when} {event.get('LogicalResourceId', '?')} ({event.get('ResourceType', '?')}) "
        f"{event.get('ResourceStatus', '?')}{reason}"
    )


def wait_settled(
    ctx: AwsContext, stack: str, events: EventStream, deadline: float, what: str
) -> dict[str, Any] | None:
    def probe() -> dict[str, Any] | None:
        events.poll()
        described = describe(ctx, stack)
        if described is None:
            return {"StackStatus": "DELETE_COMPLETE"}
        if str(described["StackStatus"]).endswith("IN_PROGRESS"):
            return None
        return described

    result: dict[str, Any] = wait_until(
        probe,
        what=what,
        deadline=deadline,
        retry_on=throttled,
        backoff=Backoff(0.05, 2.0, 1.6),
    )
    return None if result.get("StackStatus") == "DELETE_COMPLETE" else dict(result)


def stack_resources(ctx: AwsContext, stack: str) -> dict[str, tuple[str, str]]:
    client = ctx.client("cloudformation", max_attempts=1)
    try:
        listed = call(
            f"resources of {stack}", lambda: client.describe_stack_resources(StackName=stack)
        )
    except ClientError as error:
        if "does not exist" in str(error):
            return {}
        raise
    return {
        r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", ""))
        for r in listed.get("StackResources", [])
        if r.get("LogicalResourceId")  # moto lists resources it ignored without an id
    }
