"""What the pipeline's cfn-lint rules share: the base class, reading values through
conditions and parameters, secret-looking names and values, IAM statements, and the
evaluation of conditions keyed on the environment.

cfn-lint loads every ``[A-Za-z1-9]*.py`` file of the rules directory as a module of its own
and instantiates each ``CloudFormationLintRule`` subclass it finds there; this file starts
with ``_``, so it is only imported (by module, never ``from ... import PipelineRule``, so
that the base class is not mistaken for a rule).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch

Path = list[str | int]

#: The controls the rules name (each rule's description and the README's "Template checks"
#: table say which one and what to do).
DOCS_URL = (
    "https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-controls-reference.html"
)

#: A value set by ``!Ref AWS::NoValue``: as if the property were absent.
NOVALUE = "\x00novalue"

SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|"
    r"access[_-]?key|signing[_-]?key|auth[_-]?key|client[_-]?secret|dsn|conn(ection)?[_-]?str",
    re.IGNORECASE,
)
# Names that carry where a secret is, not the secret itself.
SECRET_POINTER = re.compile(
    r"(arn|name|id|path|uri|url|parameter|param|ref|reference|length|policy|rotation|"
    r"region|kms|key[_-]?id|file|ttl|timeout|expiry|expires|enabled|header|type|mode)$",
    re.IGNORECASE,
)


class PipelineRule(CloudFormationLintRule):  # type: ignore[misc]  # cfn-lint is untyped
    """A rule of the pipeline: ``control`` names the AWS Foundational Security Best
    Practices (FSBP) or CIS control it maps to (or why none), ``fix`` what to do."""

    fix: str = ""
    control: str = ""
    source_url = DOCS_URL
    tags: ClassVar[list[str]] = ["pytest-pipeline"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        """cfn-lint's entry point: every finding of this rule in the template."""
        return list(self.findings(cfn))

    def findings(self, cfn: Any) -> Iterator[RuleMatch]:
        """The rule's findings (one RuleMatch per problem); subclasses implement it."""
        raise NotImplementedError

    def report(self, path: Path, message: str, fix: str | None = None) -> RuleMatch:
        """A finding at ``path``: the message names the resource and ends with the fix."""
        fix = fix or self.fix
        return RuleMatch(path, f"{message}. Fix: {fix}", fix=fix, detail=message)


def resources(cfn: Any, *types: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(logical id, resource) of every resource of the given types."""
    found: dict[str, Mapping[str, Any]] = cfn.get_resources(list(types))
    yield from found.items()


def properties(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource's Properties (an empty mapping when it has none)."""
    props = resource.get("Properties")
    return props if isinstance(props, Mapping) else {}


def parameters(cfn: Any) -> Mapping[str, Any]:
    """The template's Parameters section."""
    params = cfn.template.get("Parameters")
    return params if isinstance(params, Mapping) else {}


def values(node: Any, cfn: Any) -> list[str | None]:
    """Every literal value ``node`` can take: both branches of ``Fn::If``, a parameter's
    AllowedValues (or Default); ``None`` for a value that cannot be known statically and
    :data:`NOVALUE` for ``AWS::NoValue``."""
    if isinstance(node, bool):
        return [str(node).lower()]
    if isinstance(node, str | int | float):
        return [str(node)]
    if isinstance(node, Mapping) and len(node) == 1:
        ((function, args),) = node.items()
        if function == "Fn::If" and isinstance(args, list) and len(args) == 3:
            return values(args[1], cfn) + values(args[2], cfn)
        if function == "Ref" and args == "AWS::NoValue":
            return [NOVALUE]
        if function == "Ref" and isinstance(args, str) and args in parameters(cfn):
            spec = parameters(cfn)[args]
            if isinstance(spec.get("AllowedValues"), list):
                return [str(v) for v in spec["AllowedValues"]]
            if "Default" in spec:
                return values(spec["Default"], cfn)
    return [None]


def is_true(node: Any, cfn: Any) -> bool:
    """True when every value ``node`` can take is ``true`` (case-insensitive)."""
    return all(v is not None and v.lower() == "true" for v in values(node, cfn))


def at(logical_id: str, props: Mapping[str, Any], name: str) -> Path:
    """The path of property ``name`` when the resource sets it, else of the resource."""
    path: Path = ["Resources", logical_id]
    return [*path, "Properties", name] if name in props else path


def get(node: Any, dotted: str) -> tuple[bool, Any]:
    """``(present, value)`` of a dotted property path."""
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return False, None
        node = node[key]
    return True, node


def as_list(value: Any) -> list[Any]:
    """``value`` itself when a list, else a one-item list."""
    return list(value) if isinstance(value, list) else [value]


def refers_to(node: Any, logical_id: str) -> bool:
    """Whether ``node`` references ``logical_id`` (Ref, GetAtt or a ${} in Fn::Sub)."""
    if isinstance(node, Mapping):
        for function, args in node.items():
            if function == "Ref" and args == logical_id:
                return True
            if function == "Fn::GetAtt":
                first = args[0] if isinstance(args, list) and args else str(args).split(".")[0]
                if first == logical_id:
                    return True
            if function == "Fn::Sub":
                text = args[0] if isinstance(args, list) and args else args
                if isinstance(text, str) and re.search(
                    r"\$\{" + re.escape(logical_id) + r"[.}]", text
                ):
                    return True
            if refers_to(args, logical_id):
                return True
    elif isinstance(node, list):
        return any(refers_to(item, logical_id) for item in node)
    return False


# -- secrets ------------------------------------------------------------------------------


def secret_name(name: str) -> bool:
    """Whether a parameter or variable name says it holds a secret (``DB_PASSWORD``,
    ``ApiToken``), not where one is (``APP_SECRET_ARN``)."""
    return bool(SECRET_NAME.search(name)) and not SECRET_POINTER.search(name)


def plaintext_secret(node: Any, cfn: Any) -> str | None:
    """Why the value of a secret-named setting puts the secret in plain text, or None.

    A literal, a parameter (even ``NoEcho``: the resolved value is readable in the
    resource's configuration) and a ``{{resolve:...}}`` dynamic reference all do; a
    reference to a resource (an ARN or a name) does not.
    """
    if isinstance(node, str | int | float) and not isinstance(node, bool):
        text = str(node)
        if not text or text.startswith("arn:"):
            return None
        if "{{resolve:" in text:
            return "a dynamic reference resolved into the plain-text setting"
        return "a literal value"
    if isinstance(node, Mapping) and len(node) == 1:
        ((function, args),) = node.items()
        if function == "Ref" and isinstance(args, str) and args in parameters(cfn):
            return f"the value of parameter {args}, readable in the resource's configuration"
        if function == "Fn::If" and isinstance(args, list) and len(args) == 3:
            return plaintext_secret(args[1], cfn) or plaintext_secret(args[2], cfn)
        if function in ("Fn::Sub", "Fn::Join"):
            text = str(args)
            if "{{resolve:" in text:
                return "a dynamic reference resolved into the plain-text setting"
    return None


# -- IAM ----------------------------------------------------------------------------------

POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
PRINCIPAL_TYPES = ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")


@dataclass(frozen=True)
class Statement:
    """One Allow statement of an IAM policy in the template."""

    resource: str
    path: Path
    actions: tuple[str, ...]
    targets: tuple[str, ...]  # the statement's Resource entries, as text


def statements(cfn: Any) -> Iterator[Statement]:
    """Every Allow statement of every IAM policy (inline or managed) in the template."""
    for logical_id, spec in resources(cfn, *POLICY_TYPES, *PRINCIPAL_TYPES):
        props = properties(spec)
        base: Path = ["Resources", logical_id, "Properties"]
        documents: list[tuple[Path, Any]] = []
        if spec.get("Type") in POLICY_TYPES:
            documents.append(([*base, "PolicyDocument"], props.get("PolicyDocument")))
        else:
            for index, policy in enumerate(as_list(props.get("Policies") or [])):
                if isinstance(policy, Mapping):
                    path: Path = [*base, "Policies", index, "PolicyDocument"]
                    documents.append((path, policy.get("PolicyDocument")))
        for path, document in documents:
            if not isinstance(document, Mapping):
                continue
            raw = document.get("Statement", [])
            for index, statement in enumerate(as_list(raw)):
                if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
                    continue
                where = (
                    [*path, "Statement", index] if isinstance(raw, list) else [*path, "Statement"]
                )
                yield Statement(
                    logical_id,
                    where,
                    tuple(str(a) for a in as_list(statement.get("Action", []))),
                    tuple(str(r) for r in as_list(statement.get("Resource", []))),
                )


def action_matches(pattern: str, action: str) -> bool:
    """Whether an IAM action pattern (``iam:Pass*``, ``*``) grants ``action``."""
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


# -- conditions ---------------------------------------------------------------------------

ENVIRONMENT_PARAMETER = re.compile(r"^(env|environment|stage|deployment)[a-z]*$", re.IGNORECASE)
PRODUCTION = re.compile(r"^(prod|production|prd|live)$", re.IGNORECASE)


def production_values(cfn: Any) -> dict[str, list[str]]:
    """The environment parameter(s) (``Environment``, ``Stage``...) and the value(s) of each
    that mean production (from AllowedValues; ``prod`` when it has none)."""
    found: dict[str, list[str]] = {}
    for name, spec in parameters(cfn).items():
        if not isinstance(name, str) or not ENVIRONMENT_PARAMETER.match(name):
            continue
        allowed = spec.get("AllowedValues") if isinstance(spec, Mapping) else None
        prods = (
            [str(v) for v in allowed if PRODUCTION.match(str(v))]
            if isinstance(allowed, list)
            else ["prod"]
        )
        if prods:
            found[name] = prods
    return found


def evaluate(cfn: Any, node: Any, given: Mapping[str, str]) -> bool | None:
    """The truth of a condition expression with the parameters of ``given`` set; None when
    it depends on anything else."""
    conditions = cfn.template.get("Conditions") or {}
    if isinstance(node, Mapping) and len(node) == 1:
        ((function, args),) = node.items()
        if function == "Condition" and isinstance(args, str) and args in conditions:
            return evaluate(cfn, conditions[args], given)
        if function == "Fn::Not" and isinstance(args, list) and len(args) == 1:
            inner = evaluate(cfn, args[0], given)
            return None if inner is None else not inner
        if function in ("Fn::And", "Fn::Or") and isinstance(args, list):
            results = [evaluate(cfn, a, given) for a in args]
            if function == "Fn::And":
                return False if False in results else (None if None in results else True)
            return True if True in results else (None if None in results else False)
        if function == "Fn::Equals" and isinstance(args, list) and len(args) == 2:
            left, right = (_operand(a, given) for a in args)
            return None if left is None or right is None else left == right
    return None


def _operand(node: Any, given: Mapping[str, str]) -> str | None:
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, Mapping) and set(node) == {"Ref"} and node["Ref"] in given:
        return given[node["Ref"]]
    return None


def in_production(cfn: Any, condition: str) -> list[bool | None]:
    """For each production value of the environment parameter: whether the named
    condition holds there (None when it cannot be told)."""
    results: list[bool | None] = []
    for name, prods in production_values(cfn).items():
        for prod in prods:
            results.append(evaluate(cfn, {"Condition": condition}, {name: prod}))
    return results


class PropertyRule(PipelineRule):
    """A rule that every resource of ``resource_type`` sets each of ``paths`` (dotted
    property paths), to ``equals`` (case-insensitive) when given, in every case its
    conditions and parameters allow."""

    resource_type = ""
    paths: tuple[str, ...] = ()
    equals: str | None = None
    what = ""

    def findings(self, cfn: Any) -> Iterator[RuleMatch]:
        """One finding per resource, for the first path that is unset or wrong."""
        for logical_id, resource in resources(cfn, self.resource_type):
            props = properties(resource)
            for dotted in self.paths:
                present, value = get(props, dotted)
                path: Path = ["Resources", logical_id, "Properties", *dotted.split(".")]
                found = values(value, cfn) if present else [NOVALUE]
                if NOVALUE in found:
                    yield self.report(
                        path if present else ["Resources", logical_id],
                        f"{logical_id}: {self.what} ({dotted} is not set)",
                    )
                    break
                wrong = [
                    v for v in found if v is not None and self.equals and v.lower() != self.equals
                ]
                if wrong:
                    yield self.report(path, f"{logical_id}: {self.what} ({dotted} is {wrong[0]!r})")
                    break
