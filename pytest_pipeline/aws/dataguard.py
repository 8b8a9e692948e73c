"""No deploy loses data: a change set that would replace or delete a stateful resource stops
before it executes, unless a waiver accepts it.

CloudFormation says what a change set does in ``describe_change_set``: each
``ResourceChange`` has an ``Action`` (``Add``/``Modify``/``Remove``/``Import``/``Dynamic``),
for ``Modify`` a ``Replacement`` (``True``/``Conditional``/``False``) and ``Details`` whose
``Target`` names the property and whether changing it ``RequiresRecreation``
(``Always``/``Conditionally``/``Never``). Emulators (moto) report the action only: the
replacement is then computed from the two templates, a property counting as forcing
replacement when the resource type's registry schema (shipped with cfn-lint) lists it in
``createOnlyProperties``.

Which types hold data is cfn-lint's ``StatefulResources`` list (tables, buckets, log groups,
keys, file systems, databases, nested stacks...). A finding has the rule id
:data:`RULE_ID`, the stack as location and the logical id as resource, so a
``[[waiver]]`` with ``rule = "PIPE-DATA-001"`` and ``scope = "<LogicalId>"`` accepts it.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_pipeline.aws import cfn
from pytest_pipeline.aws.stackops import StackError, stack_resources
from pytest_pipeline.findings import Finding, Severity
from pytest_pipeline.predeploy.waivers import DATA_LOSS_RULE, WaiverSet

if TYPE_CHECKING:
    from pytest_pipeline.aws.clients import AwsContext

RULE_ID = DATA_LOSS_RULE
log = logging.getLogger("pytest_pipeline.aws.stacks")
SCANNER = "change-set"
KEEPING = ("Retain", "RetainExceptOnCreate", "Snapshot")


@functools.cache
def stateful_types() -> frozenset[str]:
    """Resource types that hold data (cfn-lint's ``StatefulResources.json``)."""
    from cfnlint.data import AdditionalSpecs  # cfn-lint: the optional extra 'aws'
    from cfnlint.helpers import load_resource

    spec = load_resource(AdditionalSpecs, "StatefulResources.json")
    return frozenset(spec["ResourceTypes"])


@functools.cache
def create_only(resource_type: str, region: str = "us-east-1") -> frozenset[str]:
    """Top-level properties whose change replaces a resource of this type (its registry
    schema's ``createOnlyProperties``; empty for a type cfn-lint does not know)."""
    try:
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER  # the optional extra 'aws'

        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # an unknown type (a custom resource, a newer type): nothing known
        return frozenset()
    paths = schema.get("createOnlyProperties") or []
    return frozenset(str(p).split("/")[2] for p in paths if str(p).startswith("/properties/"))


@dataclass(frozen=True)
class DataRisk:
    """A stateful resource the change set would replace or delete."""

    logical_id: str
    resource_type: str
    action: str  # "Remove" or "Modify" (with a replacement)
    replacement: str = ""  # "True" or "Conditional" for Modify
    properties: tuple[str, ...] = ()
    physical_id: str | None = None
    old_data_kept: bool = False  # the old resource's policy keeps it (orphaned, not deleted)

    def describe(self) -> str:
        """One line: what, which resource, which property forces it."""
        what = f"{self.logical_id} ({self.resource_type}"
        what += f" {self.physical_id})" if self.physical_id else ")"
        if self.action == "Remove":
            head = f"{what} would be deleted (removed from the template or renamed)"
        else:
            forced = ", ".join(self.properties) or "a property"
            head = (
                f"{what} would be replaced (Replacement: {self.replacement}) because "
                f"{forced} changes"
            )
        kept = (
            "; its policy keeps the old one, orphaned: the stack would serve an empty one"
            if self.old_data_kept
            else "; its data would be deleted with it"
        )
        return head + kept

    def finding(self, stack_name: str) -> Finding:
        """The finding a waiver can accept (rule :data:`RULE_ID`, scope the logical id)."""
        return Finding(
            scanner=SCANNER,
            rule_id=RULE_ID,
            severity=Severity.HIGH,
            message=self.describe(),
            fix=(
                f"keep {', '.join(self.properties) or 'the resource'} as deployed, or migrate "
                f"the data first and accept the change with a waiver (rule {RULE_ID}, scope "
                f"{self.logical_id})"
            ),
            location=stack_name,
            resource=self.logical_id,
        )


# -- templates ----------------------------------------------------------------------------------


def _symbolic(node: Any) -> bool:
    """True when ``node`` still holds an intrinsic function (a value known only on deploy)."""
    if isinstance(node, dict):
        return any(str(k) == "Ref" or str(k).startswith("Fn::") for k in node) or any(
            _symbolic(v) for v in node.values()
        )
    if isinstance(node, list):
        return any(_symbolic(v) for v in node)
    return False


def resolve(node: Any, values: Mapping[str, str], conditions: Mapping[str, bool]) -> Any:
    """``node`` with what is known before deploying substituted: ``Ref`` to parameters and
    pseudo parameters, ``Fn::Sub`` over them, ``Fn::If``, ``Fn::Join`` of strings. What
    depends on other resources stays as it is."""
    if isinstance(node, list):
        return [resolve(item, values, conditions) for item in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref" and isinstance(arg, str) and arg in values:
            return values[arg]
        if key == "Fn::Sub" and isinstance(arg, str):
            done = cfn.substitute(arg, values)
            return node if done is None else done
        if key == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            name = str(arg[0])
            if name in conditions:
                return resolve(arg[1] if conditions[name] else arg[2], values, conditions)
        if key == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = resolve(arg[1], values, conditions)
            if isinstance(parts, list) and all(isinstance(p, str | int) for p in parts):
                return str(arg[0]).join(str(p) for p in parts)
    return {key: resolve(value, values, conditions) for key, value in node.items()}


@dataclass(frozen=True)
class Resolved:
    """A template with its parameter values: resources' properties and policies as deployed."""

    template: Mapping[str, Any]
    values: Mapping[str, str]
    conditions: Mapping[str, bool]

    @classmethod
    def of(
        cls, template: Mapping[str, Any], given: Mapping[str, str], pseudo: Mapping[str, str]
    ) -> Resolved:
        values = {**cfn.parameter_values(template, given), **pseudo}
        try:
            conditions = cfn.evaluate_conditions(template, values, pseudo)
        except cfn.TemplateError:
            conditions = {}
        return cls(template, values, conditions)

    @property
    def _known(self) -> tuple[Mapping[str, str], Mapping[str, bool]]:
        return self.values, self.conditions

    def resource(self, logical_id: str) -> Mapping[str, Any]:
        found = (self.template.get("Resources") or {}).get(logical_id)
        return found if isinstance(found, dict) else {}

    def properties(self, logical_id: str) -> dict[str, Any]:
        props = resolve(self.resource(logical_id).get("Properties") or {}, *self._known)
        return dict(props) if isinstance(props, dict) else {}

    def policy(self, logical_id: str, attribute: str) -> str:
        """``DeletionPolicy`` or ``UpdateReplacePolicy`` as it applies (``Delete`` unset)."""
        value = resolve(self.resource(logical_id).get(attribute, "Delete"), *self._known)
        return value if isinstance(value, str) else "unknown"

    def keeps(self, logical_id: str, attribute: str) -> bool:
        """True when ``attribute``'s policy keeps the resource's data."""
        return self.policy(logical_id, attribute) in KEEPING

    def retained(self) -> set[str]:
        """Logical ids whose ``DeletionPolicy`` keeps them when the stack is deleted."""
        return {
            logical_id
            for logical_id in self.template.get("Resources") or {}
            if self.keeps(logical_id, "DeletionPolicy")
        }


def replacing_properties(
    resource_type: str, old: Mapping[str, Any], new: Mapping[str, Any], region: str
) -> tuple[str, tuple[str, ...]]:
    """(``True``/``Conditional``/``""``, the create-only properties that change)."""
    changed = sorted(
        name for name in create_only(resource_type, region) if old.get(name) != new.get(name)
    )
    if not changed:
        return "", ()
    certain = any(not _symbolic(old.get(n)) and not _symbolic(new.get(n)) for n in changed)
    return ("True" if certain else "Conditional"), tuple(changed)


# -- change sets --------------------------------------------------------------------------------


def resource_changes(pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``ResourceChange`` entries of ``describe_change_set`` pages."""
    return [
        dict(change["ResourceChange"])
        for page in pages
        for change in page.get("Changes") or []
        if change.get("Type", "Resource") == "Resource" and "ResourceChange" in change
    ]


def risks(
    changes: Sequence[Mapping[str, Any]],
    before: Resolved,
    after: Resolved,
    region: str = "us-east-1",
) -> list[DataRisk]:
    """The stateful resources ``changes`` would replace or delete."""
    found: list[DataRisk] = []
    for change in changes:
        rtype = str(change.get("ResourceType", ""))
        if rtype not in stateful_types():
            continue
        logical = str(change.get("LogicalResourceId", ""))
        action = str(change.get("Action", ""))
        physical = change.get("PhysicalResourceId") or None
        if action == "Remove":
            kept = before.keeps(logical, "DeletionPolicy")
            found.append(DataRisk(logical, rtype, action, "", (), physical, kept))
            continue
        if action not in ("Modify", "Dynamic"):
            continue
        if "Replacement" in change:  # CloudFormation's own answer
            replacement = str(change["Replacement"])
            forced = tuple(
                dict.fromkeys(
                    str(detail["Target"].get("Name"))
                    for detail in change.get("Details") or []
                    if detail.get("Target", {}).get("Attribute") == "Properties"
                    and detail["Target"].get("RequiresRecreation") in ("Always", "Conditionally")
                )
            )
        else:  # an emulator's change set: compute it from the templates
            replacement, forced = replacing_properties(
                rtype, before.properties(logical), after.properties(logical), region
            )
        if replacement in ("True", "Conditional"):
            kept = before.keeps(logical, "UpdateReplacePolicy")
            found.append(DataRisk(logical, rtype, "Modify", replacement, forced, physical, kept))
    return found


def describe_all(client: Any, stack_name: str, change_set: str) -> list[dict[str, Any]]:
    """Every page of ``describe_change_set`` (Changes are paginated)."""
    pages: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs = {"StackName": stack_name, "ChangeSetName": change_set}
        page = client.describe_change_set(**kwargs, **({"NextToken": token} if token else {}))
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            return pages


def deployed(client: Any, stack_name: str, region: str) -> Resolved:
    """The stack's template and parameter values as deployed now."""
    body = client.get_template(StackName=stack_name, TemplateStage="Original")["TemplateBody"]
    template = body if isinstance(body, dict) else _parse(str(body))
    described = client.describe_stacks(StackName=stack_name)["Stacks"][0]
    given = {
        str(p["ParameterKey"]): str(p.get("ResolvedValue", p.get("ParameterValue", "")))
        for p in described.get("Parameters") or []
    }
    pseudo = {"AWS::StackName": stack_name, "AWS::Region": region}
    return Resolved.of(template, given, pseudo)


def _parse(text: str) -> dict[str, Any]:
    try:
        return dict(json.loads(text))
    except ValueError:
        from cfnlint.decode import decode_str  # the optional extra 'aws'

        template, _ = decode_str(text)
        return dict(template or {})


# -- the check before a change set executes -----------------------------------------------


class DataLossError(StackError):
    """An update would replace or delete a stateful resource; nothing was executed."""


class DataGuard:
    """The check :func:`pytest_pipeline.aws.stacks.provision` runs on an UPDATE change set
    before executing it: the new template and parameter values, and the waivers."""

    def __init__(
        self,
        template: Mapping[str, Any],
        params: Mapping[str, str],
        waivers: WaiverSet | None,
    ) -> None:
        self.template, self.params, self.waivers = template, params, waivers

    def check(self, ctx: AwsContext, stack_name: str, change_set: str) -> None:
        """Raise :class:`DataLossError` naming every unwaived replacement or deletion of a
        stateful resource; log the waived ones."""
        client = ctx.client("cloudformation")
        pages = describe_all(client, stack_name, change_set)
        pseudo = {"AWS::StackName": stack_name, "AWS::Region": ctx.region}
        before = deployed(client, stack_name, ctx.region)
        after = Resolved.of(self.template, self.params, pseudo)
        changes = resource_changes(pages)
        if any("PhysicalResourceId" not in change for change in changes):  # emulators
            physical = stack_resources(ctx, stack_name)
            for change in changes:
                known = physical.get(str(change.get("LogicalResourceId")))
                if known and "PhysicalResourceId" not in change:
                    change["PhysicalResourceId"] = known[1]
        found = risks(changes, before, after, ctx.region)
        blocking: list[str] = []
        for risk in found:
            finding = risk.finding(stack_name)
            decision = self.waivers.decide(finding) if self.waivers is not None else None
            if decision is not None and decision.waiver is not None:
                log.warning(
                    "change set %s: %s; accepted by waiver %s",
                    change_set,
                    risk.describe(),
                    decision.waiver.describe(),
                )
            else:
                expired = decision.expired if decision is not None else None
                note = f" (waiver {expired.id} expired on {expired.expires})" if expired else ""
                blocking.append(risk.describe() + note)
        if blocking:
            raise DataLossError(
                stack_name,
                f"change set {change_set} would lose data, so it was not executed: "
                + "; ".join(blocking),
                "keep the named properties (and logical ids) of stateful resources as deployed; "
                "to replace one on purpose, copy its data first and accept the change in "
                f"pipeline-waivers.toml ([[waiver]] rule = {RULE_ID!r}, scope = the "
                "logical id, owner, reason, expires)",
            )
