"""Reading a CloudFormation template without a cloud: parameters, conditions, resources and
the order in which a sequential engine creates them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PSEUDO = ("AWS::StackName", "AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackId")
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z0-9.]+)?\}")


class TemplateError(ValueError):
    """A template or its parameters are not acceptable; the message says what and where."""


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a YAML or JSON template (short-form intrinsics such as ``!Ref`` included)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"{source}: cannot read template: {error}") from error
    # cfn-lint belongs to the optional extra 'aws': imported where it is used
    from cfnlint.decode import decode_str

    template, matches = decode_str(text)
    if matches or not isinstance(template, dict):
        detail = "; ".join(str(m.message) for m in matches) or "not a mapping"
        raise TemplateError(f"{source}: not a valid template: {detail}")
    return dict(template)


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Template defaults overlaid with ``given`` values, all as strings."""
    values = {
        name: str(spec["Default"])
        for name, spec in (template.get("Parameters") or {}).items()
        if "Default" in spec
    }
    values.update({k: str(v) for k, v in given.items()})
    return values


def validate_parameters(template: Mapping[str, Any], given: Mapping[str, str]) -> list[str]:
    """Problems with ``given`` against the template's declared constraints (empty if fine).

    Emulators do not check AllowedValues, AllowedPattern or Min/MaxValue; real
    CloudFormation does, so checking here makes both backends reject the same sets.
    """
    declared = template.get("Parameters") or {}
    problems = [f"unknown parameter {name!r}" for name in given if name not in declared]
    values = parameter_values(template, given)
    for name, spec in declared.items():
        if name not in values:
            problems.append(f"parameter {name} has no default and no value was given")
            continue
        value = values[name]
        allowed = spec.get("AllowedValues")
        if allowed is not None and value not in [str(a) for a in allowed]:
            problems.append(f"parameter {name}={value!r} is not one of {allowed}")
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), value):
            why = spec.get("ConstraintDescription", f"must match {pattern}")
            problems.append(f"parameter {name}={value!r}: {why}")
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                problems.append(f"parameter {name}={value!r} is not a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                problems.append(f"parameter {name}={value} is below MinValue {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                problems.append(f"parameter {name}={value} is above MaxValue {spec['MaxValue']}")
    low, high = values.get("MinInstances"), values.get("MaxInstances")
    if low and high and _is_number(low) and _is_number(high) and float(low) > float(high):
        problems.append(f"MinInstances={low} is greater than MaxInstances={high}")
    return problems


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def evaluate_conditions(
    template: Mapping[str, Any], values: Mapping[str, str], pseudo: Mapping[str, str]
) -> dict[str, bool]:
    """The value of every condition for the given parameter and pseudo-parameter values."""
    conditions = template.get("Conditions") or {}
    cache: dict[str, bool] = {}

    def value_of(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            ref = node["Ref"]
            if ref in values:
                return values[ref]
            if ref in pseudo:
                return pseudo[ref]
            raise TemplateError(f"condition refers to unknown parameter {ref!r}")
        return node

    def truth(node: Any) -> bool:
        if isinstance(node, dict):
            if "Condition" in node:
                return named(str(node["Condition"]))
            if "Fn::Equals" in node:
                left, right = node["Fn::Equals"]
                return str(value_of(left)) == str(value_of(right))
            if "Fn::Not" in node:
                return not truth(node["Fn::Not"][0])
            if "Fn::And" in node:
                return all(truth(item) for item in node["Fn::And"])
            if "Fn::Or" in node:
                return any(truth(item) for item in node["Fn::Or"])
        raise TemplateError(f"unsupported condition expression {node!r}")

    def named(name: str) -> bool:
        if name not in cache:
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            cache[name] = truth(conditions[name])
        return cache[name]

    return {name: named(name) for name in conditions}


def declared_resources(
    template: Mapping[str, Any], conditions: Mapping[str, bool] | None = None
) -> dict[str, str]:
    """Logical id → type of every resource the stack would create (conditions applied)."""
    conditions = conditions or {}
    return {
        logical_id: str(spec["Type"])
        for logical_id, spec in (template.get("Resources") or {}).items()
        if conditions.get(spec.get("Condition", ""), True)
    }


def _references(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.append(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                out.append(str(target))
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    out.extend(_SUB_NAME.findall(text))
                if isinstance(value, list) and len(value) > 1:
                    _references(value[1], out)
            else:
                _references(value, out)
    elif isinstance(node, list):
        for item in node:
            _references(item, out)


def dependencies(template: Mapping[str, Any]) -> dict[str, list[str]]:
    """Logical id → the resources it needs first (Ref, GetAtt, Sub and DependsOn), in order."""
    resources = template.get("Resources") or {}
    result: dict[str, list[str]] = {}
    for logical_id, spec in resources.items():
        found: list[str] = []
        depends = spec.get("DependsOn", [])
        found.extend([depends] if isinstance(depends, str) else list(depends))
        _references(spec.get("Properties", {}), found)
        result[logical_id] = [d for d in dict.fromkeys(found) if d in resources]
    return result


def creation_order(template: Mapping[str, Any]) -> list[str]:
    """Resources in the order a sequential engine creates them: template order, each
    resource's dependencies first (depth first). moto follows this order."""
    needs = dependencies(template)
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name in visiting:
            return
        visiting.add(name)
        for dependency in needs.get(name, []):
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in needs:
        visit(name)
    return order


def substitute(text: str, names: Mapping[str, str]) -> str | None:
    """``Fn::Sub`` of ``text`` when every ``${X}`` in it is in ``names``; else None."""
    missing = [n for n in _SUB_NAME.findall(text) if n not in names]
    if missing:
        return None
    return _SUB_NAME.sub(lambda m: names[m.group(1)], text)


def load_parameters(path: str | Path) -> dict[str, str]:
    """Read a parameter file in the CloudFormation CLI format
    (``[{"ParameterKey": ..., "ParameterValue": ...}]``) or a plain JSON object."""
    source = Path(path)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise TemplateError(f"{source}: cannot read parameters: {error}") from error
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items()}
    if isinstance(data, list) and all(
        isinstance(item, dict) and {"ParameterKey", "ParameterValue"} <= set(item) for item in data
    ):
        return {str(item["ParameterKey"]): str(item["ParameterValue"]) for item in data}
    raise TemplateError(
        f"{source}: expected a list of {{ParameterKey, ParameterValue}} or a JSON object"
    )
