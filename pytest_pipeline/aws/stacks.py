"""CloudFormation lifecycle: validate, check quotas, create or update through a change set,
wait with a deadline while streaming events, clean up after a failure, delete, janitor.

Facts about moto 5.2 this module works around (DESIGN §2): moto never reaches
``CREATE_FAILED``: a failing resource makes the API call itself fail (often an HTTP 500
without a reason) or leaves the stack ``CREATE_IN_PROGRESS``; both count as failures here
and the partial stack is deleted by us. moto also loses the outputs of a stack created
by a CREATE change set, so on a moto server a new stack is created with
``CreateStack`` (updates still go through change sets). Resources moto does not model are
listed in ``InfrastructureState.not_modelled``; a Secrets Manager secret it does not
model is created through the Secrets Manager API instead, so the app can read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from pytest_pipeline.aws import cfn, dataguard, failures, inventory, quotas, standins
from pytest_pipeline.aws.cfn import load_parameters
from pytest_pipeline.aws.clients import AwsContext
from pytest_pipeline.aws.dataguard import DataGuard, DataLossError
from pytest_pipeline.aws.failures import AWS_ERRORS, failing_resource
from pytest_pipeline.aws.stackops import (
    EventSink,
    EventStream,
    StackError,
    call,
    describe,
    error_text,
    format_event,
    stack_resources,
    throttled,
    wait_settled,
)
from pytest_pipeline.findings import Severity
from pytest_pipeline.models import InfrastructureState, StackStatus, utcnow
from pytest_pipeline.predeploy.waivers import WaiverSet
from pytest_pipeline.retry import Backoff, RetryError, wait_until

__all__ = [
    "DataLossError",
    "EventSink",
    "StackError",
    "delete",
    "describe",
    "destroy_state",
    "format_event",
    "janitor",
    "known_resources",
    "load_parameters",
    "pipeline_tags",
    "provision",
]

log = logging.getLogger("pytest_pipeline.aws.stacks")

MANAGED_BY = "pytest-pipeline"
TAG_MANAGED = "pipeline:managed-by"
TAG_RUN = "pipeline:run-id"
TAG_COMMIT = "pipeline:commit"
TAG_ENV = "pipeline:environment"
TAG_EXPIRES = "pipeline:expires-at"
TAG_LIFECYCLE = "pipeline:lifecycle"
EPHEMERAL, PROTECTED = "ephemeral", "protected"
DEFAULT_PROTECTED = ("staging", "prod")
# AUTO_EXPAND: the template uses the AWS::LanguageExtensions transform (conditional
# DeletionPolicy); CreateStack requires it, change sets accept it.
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# Template parameter saying whether stateful resources outlive the stack (Retain/Delete).
DATA_PARAMETER = "DataRetention"
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
REQUIRED_OUTPUTS = (
    "TableName",
    "TableArn",
    "PhotoBucketName",
    "DeploymentBucketName",
    "InstanceRoleArn",
    "InstanceProfileName",
    "NotificationTopicArn",
    "LogGroupName",
    "AppSecretArn",
    "ApplicationName",
    "EnvironmentName",
    "AllowedOrigins",
    "MaxUploadMb",
    "AlarmNames",
)
"""Stack outputs the later stages read, on every backend (``EnvironmentURL`` only on AWS)."""
# moto drops these properties silently (DESIGN §2); they are checked statically instead.
_seen: dict[str, dict[str, tuple[str, str]]] = {}
MOTO_DROPPED = {
    "AWS::DynamoDB::Table": (
        "SSESpecification, PointInTimeRecoverySpecification, TimeToLiveSpecification"
    ),
    "AWS::S3::Bucket": (
        "VersioningConfiguration, PublicAccessBlockConfiguration, LifecycleConfiguration, "
        "OwnershipControls"
    ),
}


def pipeline_tags(
    run_id: str,
    commit: str | None,
    environment: str,
    ttl: timedelta,
    now: datetime | None = None,
    protected: Sequence[str] = DEFAULT_PROTECTED,
) -> dict[str, str]:
    """The tags that mark a stack as the pipeline's: a stack of a protected environment is
    ``protected`` and never expires; any other (dev, per-PR) is ``ephemeral`` and says when
    the janitor may delete it."""
    tags = {
        TAG_MANAGED: MANAGED_BY,
        TAG_RUN: run_id,
        TAG_COMMIT: commit or "unknown",
        TAG_ENV: environment,
        TAG_LIFECYCLE: PROTECTED if environment in protected else EPHEMERAL,
    }
    if environment not in protected:
        tags[TAG_EXPIRES] = ((now or utcnow()) + ttl).strftime("%Y-%m-%dT%H:%M:%SZ")
    return tags


def _template_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _lint_errors(path: Path) -> list[str]:
    # cfn-lint, the optional extra 'aws': a run that provisions nothing never needs it
    from pytest_pipeline.predeploy.templates import lint_template

    return [f.describe() for f in lint_template(path) if f.severity.at_least(Severity.HIGH)]


def provision(
    ctx: AwsContext,
    template_path: str | Path,
    stack_name: str,
    parameters: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    timeout: float = 900.0,
    on_event: EventSink | None = None,
    *,
    lint: bool = True,
    waivers: WaiverSet | None = None,
) -> InfrastructureState:
    """Create or update ``stack_name`` from the template and return its state.

    An unchanged template is recognised and is no error. On failure the partial stack is
    deleted, the account is checked for leftovers, and ``StackError`` says why and what to do.
    An update whose change set would replace or delete a stateful resource stops before it
    executes (:class:`DataLossError`) unless ``waivers`` accept it (:mod:`.dataguard`).
    ``lint=False`` skips cfn-lint (for callers that linted the template already).
    """
    path = Path(template_path)
    text = path.read_text(encoding="utf-8")
    template = cfn.load_template(path)
    params = {k: str(v) for k, v in (parameters or {}).items()}
    declared_params = template.get("Parameters") or {}
    if "Emulated" in declared_params and "Emulated" not in params:
        # "Emulated" means: no live Elastic Beanstalk environment (the embedded backend runs one).
        params["Emulated"] = "false" if ctx.serves_elasticbeanstalk() else "true"
    lifecycle = (tags or {}).get(TAG_LIFECYCLE)
    if DATA_PARAMETER in declared_params and DATA_PARAMETER not in params and lifecycle:
        # a protected environment's stack keeps its data; an ephemeral one leaves nothing
        params[DATA_PARAMETER] = "Retain" if lifecycle == PROTECTED else "Delete"
    lint_errors = _lint_errors(path) if lint else []
    if lint_errors:
        raise StackError(
            stack_name,
            f"template {path} is invalid: {'; '.join(lint_errors)}",
            "correct the template (run cfn-lint on it); no stack was created",
        )
    problems = cfn.validate_parameters(template, params)
    if problems:
        raise StackError(
            stack_name,
            f"invalid parameters for {path}: {'; '.join(problems)}",
            "correct infra/parameters/<env>.json or the pipeline settings; no stack was created",
        )
    if not ctx.emulated:
        call(
            "validate template",
            lambda: ctx.client("cloudformation").validate_template(TemplateBody=text),
        )
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": ctx.region}
    conditions = cfn.evaluate_conditions(template, cfn.parameter_values(template, params), pseudo)
    declared = cfn.declared_resources(template, conditions)
    existing = settle_existing(ctx, stack_name, timeout)
    left = StackStatus(existing["StackStatus"]) if existing else None
    if left in (StackStatus.ROLLBACK_COMPLETE, StackStatus.REVIEW_IN_PROGRESS):
        # neither holds resources: a failed creation, or a CREATE change set never run
        log.info("stack %s is %s from an earlier run: deleting it", stack_name, left)
        delete(ctx, stack_name, timeout)
        existing = None
    before = None
    if existing is None:
        if ctx.moto_server:
            # moto cannot list a stack whose creation raised: what the account gained
            # tells which resources were created before the failing one.
            before = inventory.snapshot(ctx, failures.kinds_of(declared))
        quotas.enforce(quotas.check_quotas(ctx, declared, before))
    events = EventStream(ctx, stack_name, on_event)
    if existing:
        events.mark_existing()
        _seen.setdefault(stack_name, {}).update(stack_resources(ctx, stack_name))
    started = time.monotonic()
    tag_list = [{"Key": k, "Value": v} for k, v in (tags or {}).items()]
    param_list = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
    try:
        if existing is None and ctx.moto_server:
            call(
                "create stack",
                lambda: ctx.client("cloudformation", max_attempts=1).create_stack(
                    StackName=stack_name,
                    TemplateBody=text,
                    Parameters=param_list,
                    Tags=tag_list,
                    Capabilities=CAPABILITIES,
                ),
            )
        else:
            guard = None if existing is None else DataGuard(template, params, waivers)
            _run_change_set(ctx, stack_name, text, param_list, tag_list, guard, timeout)
        remaining = max(0.0, timeout - (time.monotonic() - started))
        final = wait_settled(ctx, stack_name, events, remaining, f"stack {stack_name} to settle")
    except DataLossError:
        raise  # nothing was executed: the stack is as it was
    except (
        ClientError,
        BotoCoreError,
        ResponseParserError,
        RetryError,
        cfn.TemplateError,
        StackError,
    ) as error:
        _fail(ctx, stack_name, template, declared, events, error, timeout, existing is None, before)
        raise AssertionError("unreachable") from error  # _fail always raises
    if final is None or not StackStatus(final["StackStatus"]).is_ready:
        status = final["StackStatus"] if final else "DELETE_COMPLETE"
        _fail(
            ctx,
            stack_name,
            template,
            declared,
            events,
            RuntimeError(f"stack ended {status}"),
            timeout,
            existing is None,
            before,
        )
    assert final is not None
    return _state(ctx, stack_name, final, declared, template)


_BY_HAND = {
    StackStatus.UPDATE_ROLLBACK_FAILED: "aws cloudformation continue-update-rollback "
    "--stack-name {name} (skip the resources that cannot roll back), then run again",
    StackStatus.IMPORT_ROLLBACK_FAILED: "aws cloudformation continue-update-rollback "
    "--stack-name {name}, then run again",
    StackStatus.ROLLBACK_FAILED: "aws cloudformation delete-stack --stack-name {name} "
    "(keep the resources it names with --retain-resources), then run again",
    StackStatus.DELETE_FAILED: "aws cloudformation delete-stack --stack-name {name} "
    "(with --retain-resources for what cannot go), then run again",
}


def settle_existing(ctx: AwsContext, stack_name: str, timeout: float) -> dict[str, Any] | None:
    """The stack as provisioning may start from: None when there is none; an operation in
    progress (an update still cleaning up, a rollback) waited for first; a status that
    needs a person a :class:`StackError` with the command to run."""
    existing = describe(ctx, stack_name)
    if existing is None:
        return None
    status = StackStatus(existing["StackStatus"])
    if status.value.endswith("IN_PROGRESS") and not status.awaits_creation:
        # also an update still removing old resources: CloudFormation takes no new change
        log.info("stack %s is %s: waiting for it to settle first", stack_name, status)
        events = EventStream(ctx, stack_name, None)
        existing = wait_settled(ctx, stack_name, events, timeout, f"stack {stack_name} to settle")
        if existing is None:
            return None
        status = StackStatus(existing["StackStatus"])
    if status.needs_a_person:
        raise StackError(
            stack_name,
            f"stack {stack_name} is {status.value}: CloudFormation will not go on by itself",
            _BY_HAND[status].format(name=stack_name),
        )
    return existing


def _run_change_set(
    ctx: AwsContext,
    stack_name: str,
    text: str,
    params: list[dict[str, str]],
    tags: list[dict[str, str]],
    guard: DataGuard | None,
    timeout: float,
) -> None:
    """Create the change set (CREATE when ``guard`` is None, else UPDATE), check it with
    ``guard`` and execute it."""
    create = guard is None
    client = ctx.client("cloudformation")
    once = ctx.client("cloudformation", max_attempts=1)  # mutations: no blind re-sends
    name = f"pipeline-{int(time.time())}-{_template_hash(text)}"
    call(
        "create change set",
        lambda: once.create_change_set(
            StackName=stack_name,
            ChangeSetName=name,
            TemplateBody=text,
            Parameters=params,
            Tags=tags,
            Capabilities=CAPABILITIES,
            ChangeSetType="CREATE" if create else "UPDATE",
        ),
    )

    def ready() -> dict[str, Any] | None:
        found = client.describe_change_set(StackName=stack_name, ChangeSetName=name)
        return None if str(found["Status"]).endswith(("PENDING", "IN_PROGRESS")) else found

    found = wait_until(
        ready,
        what=f"change set {name}",
        deadline=min(timeout, 300),
        retry_on=throttled,
        backoff=Backoff(0.05, 2.0, 1.6),
    )
    if found["Status"] == "FAILED":
        reason = str(found.get("StatusReason", ""))
        if any(marker in reason for marker in NO_CHANGES):
            log.info("stack %s is up to date: %s", stack_name, reason)
            client.delete_change_set(StackName=stack_name, ChangeSetName=name)
            return
        raise StackError(
            stack_name,
            f"change set {name} failed: {reason}",
            "correct the template or parameters named in the reason",
        )
    if guard is not None:
        try:
            guard.check(ctx, stack_name, name)
        except DataLossError:
            with contextlib.suppress(*AWS_ERRORS):
                client.delete_change_set(StackName=stack_name, ChangeSetName=name)
            raise
    call(
        "execute change set",
        lambda: once.execute_change_set(StackName=stack_name, ChangeSetName=name),
    )


def _fail(
    ctx: AwsContext,
    stack: str,
    template: Mapping[str, Any],
    declared: Mapping[str, str],
    events: EventStream,
    error: BaseException,
    timeout: float,
    creating: bool,
    before: inventory.Inventory | None,
) -> None:
    with contextlib.suppress(ClientError, BotoCoreError, ResponseParserError):
        events.poll()
    failed = events.failed()
    culprit, said = failing_resource(
        ctx,
        stack,
        template,
        declared,
        failed,
        timed_out=isinstance(error, RetryError),
        before=before,
        seen=_seen.setdefault(stack, {}),
    )
    reasons = [
        f"{e.get('LogicalResourceId')}: {e.get('ResourceStatusReason', 'no reason given')}"
        for e in failed
        if e.get("LogicalResourceId") != stack
    ]
    if isinstance(error, StackError):
        reason, hint = error.reason, error.hint
    elif isinstance(error, RetryError):
        reason = f"did not finish within the deadline ({error})"
        hint = "raise --stack-timeout, or look at the stack events for a resource that hangs"
    else:
        reason = f"creation failed: {error_text(error)}"
        hint = "correct the resource named above in the template or its parameters"
    if culprit:
        reason += f"; failing resource: {culprit} ({declared.get(culprit, '?')})"
        if said and said not in reason:
            reason += f": {said}"
    if reasons:
        reason += f"; failed events: {' | '.join(reasons)}"
    if not creating:
        # An existing stack is never deleted: CloudFormation rolls a failed update back.
        raise StackError(
            stack,
            f"update {reason}",
            f"{hint}; the stack keeps its previous configuration once the rollback completes",
            failed_events=failed,
            failing_resource=culprit,
        ) from error
    leftovers: list[str] = []
    try:
        leftovers = delete(ctx, stack, timeout, raise_on_leftovers=False)
    except (
        StackError,
        ClientError,
        BotoCoreError,
        ResponseParserError,
        RetryError,
    ) as cleanup_error:
        leftovers = [f"stack {stack} itself (cleanup failed: {cleanup_error})"]
    raise StackError(
        stack, reason, hint, failed_events=failed, failing_resource=culprit, leftovers=leftovers
    ) from error


def _state(
    ctx: AwsContext,
    stack_name: str,
    described: Mapping[str, Any],
    declared: Mapping[str, str],
    template: Mapping[str, Any],
) -> InfrastructureState:
    outputs = {o["OutputKey"]: str(o["OutputValue"]) for o in described.get("Outputs") or []}
    resources = stack_resources(ctx, stack_name)
    before = _seen.setdefault(stack_name, {})
    # moto forgets some resources it replaced during an update (e.g. a log group) although
    # they still exist: say so, and keep them known so delete() checks for them.
    not_modelled = [
        f"{logical_id} ({rtype}): dropped from the stack by the {ctx.backend} backend during "
        f"an update, still exists as {before[logical_id][1]}"
        if logical_id in before
        else f"{logical_id} ({rtype}): not created by the {ctx.backend} backend"
        for logical_id, rtype in declared.items()
        if logical_id not in resources
    ]
    before.update(resources)
    if ctx.moto_server:
        not_modelled += [
            f"{logical_id} ({rtype}): {MOTO_DROPPED[rtype]} ignored by moto"
            for logical_id, rtype in declared.items()
            if rtype in MOTO_DROPPED
        ]
        outputs.update(
            standins.create_missing_secrets(ctx, stack_name, declared, resources, template)
        )
    created = described.get("CreationTime")
    return InfrastructureState(
        stack_name=stack_name,
        region=ctx.region,
        status=StackStatus(described["StackStatus"]),
        backend=ctx.backend,
        stack_id=described.get("StackId"),
        change_set=described.get("ChangeSetId"),
        endpoint_url=ctx.endpoint_url,
        outputs=outputs,
        resources={k: v[1] for k, v in resources.items()},
        tags={t["Key"]: t["Value"] for t in described.get("Tags") or []},
        not_modelled=not_modelled,
        created_at=created if isinstance(created, datetime) and created.tzinfo else utcnow(),
    )


def known_resources(stack_name: str) -> dict[str, list[str]]:
    """Every resource this process has seen in the stack: logical id → [type, physical id]."""
    return {k: [v[0], v[1]] for k, v in _seen.get(stack_name, {}).items()}


def delete(
    ctx: AwsContext,
    stack_name: str,
    timeout: float = 900.0,
    *,
    raise_on_leftovers: bool = True,
    known: Mapping[str, tuple[str, str] | list[str]] | None = None,
) -> list[str]:
    """Delete the stack, wait for it, and return (or raise about) whatever is left.

    ``known`` adds resources recorded earlier (logical id → (type, physical id)) to the
    leftover check, for resources the backend no longer lists in the stack.
    """
    resources = {k: (str(v[0]), str(v[1])) for k, v in (known or {}).items()}
    resources.update(_seen.pop(stack_name, {}))
    try:
        resources.update(stack_resources(ctx, stack_name))
    except AWS_ERRORS as error:
        # moto cannot list a stack whose creation raised; what was recorded must do.
        log.info("cannot list the resources of %s (%s)", stack_name, error_text(error))
    events = EventStream(ctx, stack_name, None)
    described = describe(ctx, stack_name)
    ephemeral, retained = _data_policy(ctx, stack_name, described)
    if described is not None:
        events.mark_existing()
        call(
            "delete stack",
            lambda: ctx.client("cloudformation", max_attempts=1).delete_stack(StackName=stack_name),
        )
        final = wait_settled(ctx, stack_name, events, timeout, f"deletion of {stack_name}")
        if final is not None:
            raise StackError(
                stack_name,
                f"deletion ended {final['StackStatus']}",
                "delete the resources named in the stack events by hand, then "
                "delete the stack again",
                failed_events=events.failed(),
            )
    standins.delete_secrets(ctx, stack_name)
    left = inventory.leftovers(ctx, resources)
    kept = [] if ephemeral else [i for i in left if i.split(" (", 1)[0] in retained]
    if kept:
        # a protected stack's data outlives it (DeletionPolicy Retain): not a leftover
        log.info("stack %s kept its data as its DeletionPolicy says: %s", stack_name, kept)
        left = [item for item in left if item not in kept]
    if left and (ctx.emulated or ephemeral):
        # Emulators forget resources (DESIGN §2), and an ephemeral stack leaves nothing (also
        # what an older template of it retained): remove what the stack left, directly.
        for logical_id, (rtype, physical) in resources.items():
            if any(item.startswith(f"{logical_id} (") for item in left):
                with contextlib.suppress(ClientError, BotoCoreError, ResponseParserError):
                    inventory.remove(ctx, rtype, physical)
                    log.warning(
                        "removed %s (%s %s) left by stack %s",
                        logical_id,
                        rtype,
                        physical,
                        stack_name,
                    )
        left = inventory.leftovers(ctx, resources)
    if left and raise_on_leftovers:
        raise StackError(
            stack_name,
            "deleted, but resources remain",
            "delete them by hand (they are named above)",
            leftovers=left,
        )
    return left


def _data_policy(
    ctx: AwsContext, stack_name: str, described: Mapping[str, Any] | None
) -> tuple[bool, set[str]]:
    """(the stack is ephemeral, the logical ids its DeletionPolicy keeps) before a deletion."""
    if described is None:
        return False, set()
    tags = {t["Key"]: t["Value"] for t in described.get("Tags") or []}
    try:
        deployed = dataguard.deployed(ctx.client("cloudformation"), stack_name, ctx.region)
    except (*AWS_ERRORS, cfn.TemplateError, KeyError, ValueError) as error:
        log.info("cannot read the template of %s (%s)", stack_name, error)
        return tags.get(TAG_LIFECYCLE) == EPHEMERAL, set()
    return tags.get(TAG_LIFECYCLE) == EPHEMERAL, deployed.retained()


def janitor(
    ctx: AwsContext,
    now: datetime | None = None,
    timeout: float = 900.0,
    *,
    protected: Sequence[str] = DEFAULT_PROTECTED,
    dry_run: bool = False,
) -> list[str]:
    """Delete expired ephemeral stacks the pipeline created (by their tags) and nothing
    else: never a stack tagged ``protected`` or of a ``protected`` environment, whatever its
    expiry tag says. With ``dry_run`` only list what would go."""
    now = now or utcnow()
    client = ctx.client("cloudformation")
    expired = []
    for page in client.get_paginator("describe_stacks").paginate():
        for stack in page.get("Stacks", []):
            tags = {t["Key"]: t["Value"] for t in stack.get("Tags") or []}
            if tags.get(TAG_MANAGED) != MANAGED_BY or TAG_EXPIRES not in tags:
                continue
            if tags.get(TAG_LIFECYCLE) == PROTECTED or tags.get(TAG_ENV) in protected:
                log.info("janitor: %s is protected (%s); never deleted", stack["StackName"],
                         tags.get(TAG_ENV))  # fmt: skip
                continue
            try:
                expires = datetime.fromisoformat(tags[TAG_EXPIRES].replace("Z", "+00:00"))
            except ValueError:
                log.warning(
                    "stack %s: unreadable %s tag %r; left alone",
                    stack["StackName"],
                    TAG_EXPIRES,
                    tags[TAG_EXPIRES],
                )
                continue
            if expires <= now and stack["StackStatus"] != "DELETE_COMPLETE":
                expired.append(stack["StackName"])
    if dry_run:
        for name in expired:
            log.info("janitor (dry run): would delete expired stack %s", name)
        return expired
    deleted, failures = [], []
    for name in expired:
        log.info("janitor: deleting expired stack %s", name)
        try:
            delete(ctx, name, timeout)
        except StackError as error:
            failures.append(str(error))
        else:
            deleted.append(name)
    if failures:
        raise StackError(
            ", ".join(expired),
            f"janitor deleted {len(deleted)} of {len(expired)} expired stacks; failures: "
            + " | ".join(failures),
            "see each failure's fix",
        )
    return deleted


def context_from_state(state: Mapping[str, Any]) -> AwsContext:
    """Rebuild the ``AwsContext`` recorded with a provisioned stack (for teardown)."""
    infra = state["infrastructure"]
    return AwsContext(
        backend=infra["backend"],
        requested=str(state.get("requested", infra["backend"])),
        source="recorded with the stack",
        region=infra["region"],
        endpoint_url=infra.get("endpoint_url"),
        dummy_credentials=bool(state.get("dummy_credentials", False)),
        moto_server=bool(state.get("moto_server", False)),
    )


def destroy_state(state: dict[str, Any]) -> None:
    """Destroy callback of the once-per-run stack: delete it and fail naming what is left."""
    delete(
        context_from_state(state),
        str(state["infrastructure"]["stack_name"]),
        float(state.get("timeout", 900.0)),
        known=state.get("known_resources") or {},
    )
