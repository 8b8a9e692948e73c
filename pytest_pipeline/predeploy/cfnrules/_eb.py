"""Reading an Elastic Beanstalk environment's option settings from a template: its own
``OptionSettings`` over those of the ``AWS::ElasticBeanstalk::ConfigurationTemplate`` it
names, each entry with its path (for the line number) and whether it sits behind a
condition (``!If [Cond, {Namespace: ...}, !Ref AWS::NoValue]``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c

ENVIRONMENT = "AWS::ElasticBeanstalk::Environment"
CONFIGURATION_TEMPLATE = "AWS::ElasticBeanstalk::ConfigurationTemplate"


@dataclass(frozen=True)
class Option:
    """One option setting."""

    namespace: str
    name: str
    value: Any
    path: c.Path
    conditional: bool


@dataclass(frozen=True)
class Environment:
    """An environment of the template and its effective option settings."""

    logical_id: str
    resource: Mapping[str, Any]
    options: tuple[Option, ...]

    @property
    def path(self) -> c.Path:
        """Where the environment is declared."""
        return ["Resources", self.logical_id]

    @property
    def settings_path(self) -> c.Path:
        """Where its OptionSettings are (or the environment, when it has none)."""
        if "OptionSettings" in c.properties(self.resource):
            return [*self.path, "Properties", "OptionSettings"]
        return self.path

    def find(self, namespace: str, name: str) -> list[Option]:
        """The settings of ``namespace``/``name`` (case-insensitive), template's first."""
        return [
            o
            for o in self.options
            if o.namespace.lower() == namespace.lower() and o.name.lower() == name.lower()
        ]

    def namespaces(self, prefix: str) -> list[str]:
        """The distinct namespaces starting with ``prefix``."""
        seen: dict[str, None] = {}
        for option in self.options:
            if option.namespace.lower().startswith(prefix.lower()):
                seen.setdefault(option.namespace, None)
        return list(seen)

    def values(
        self, namespace: str, name: str, cfn: Any, *, conditional_counts: bool = False
    ) -> list[str | None]:
        """Every value the setting can take; :data:`c.NOVALUE` when it can be unset (also
        when it is set only behind a condition, unless ``conditional_counts``)."""
        found = self.find(namespace, name)
        result = [v for o in found for v in c.values(o.value, cfn)]
        if not found or not (conditional_counts or any(not o.conditional for o in found)):
            result.append(c.NOVALUE)
        return result

    def where(self, namespace: str, name: str) -> c.Path:
        """The path of the last setting of ``namespace``/``name``, else the settings."""
        found = self.find(namespace, name)
        return found[-1].path if found else self.settings_path

    @property
    def load_balanced(self) -> bool:
        """Web server tier and not ``SingleInstance``: a load balancer fronts it."""
        tier = c.properties(self.resource).get("Tier")
        if isinstance(tier, Mapping) and str(tier.get("Name", "WebServer")) == "Worker":
            return False
        kinds = [o.value for o in self.find("aws:elasticbeanstalk:environment", "EnvironmentType")]
        return not any(str(k) == "SingleInstance" for k in kinds)


def _entries(node: Any, path: c.Path) -> Iterator[Option]:
    for index, item in enumerate(node if isinstance(node, list) else []):
        if not isinstance(item, Mapping):
            continue
        branches: list[tuple[Any, c.Path, bool]] = [(item, [*path, index], False)]
        condition = item.get("Fn::If")
        if len(item) == 1 and isinstance(condition, list) and len(condition) == 3:
            branches = [(condition[b], [*path, index, "Fn::If", b], True) for b in (1, 2)]
        for entry, where, conditional in branches:
            if isinstance(entry, Mapping) and "Namespace" in entry and "OptionName" in entry:
                yield Option(
                    str(entry["Namespace"]),
                    str(entry["OptionName"]),
                    entry.get("Value"),
                    where,
                    conditional,
                )


def environments(cfn: Any) -> Iterator[Environment]:
    """Every Elastic Beanstalk environment of the template."""
    templates = dict(c.resources(cfn, CONFIGURATION_TEMPLATE))
    for logical_id, resource in c.resources(cfn, ENVIRONMENT):
        props = c.properties(resource)
        options: list[Option] = []
        named = props.get("TemplateName")
        if isinstance(named, Mapping) and named.get("Ref") in templates:
            base = str(named["Ref"])
            options.extend(
                _entries(
                    c.properties(templates[base]).get("OptionSettings"),
                    ["Resources", base, "Properties", "OptionSettings"],
                )
            )
        options.extend(
            _entries(
                props.get("OptionSettings"),
                ["Resources", logical_id, "Properties", "OptionSettings"],
            )
        )
        yield Environment(logical_id, resource, tuple(options))


def shown(found: Sequence[str | None]) -> str:
    """How a setting's bad values read in a message."""
    texts = ["not set" if v == c.NOVALUE else repr(v) for v in found if v is not None]
    return " or ".join(dict.fromkeys(texts))


class SettingRule(c.PipelineRule):
    """A rule on one option setting of every environment: each value it can take must be
    one of ``accepted`` (lower case; empty: any value, as long as it is set). An unset
    option takes Elastic Beanstalk's default, which these rules do not accept."""

    namespace = ""
    option = ""
    accepted: tuple[str, ...] = ()
    what = ""

    def applies(self, env: Environment) -> bool:
        """Whether the rule concerns ``env`` (all environments unless overridden)."""
        return True

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per environment whose setting can take a value not accepted."""
        for env in environments(cfn):
            if not self.applies(env):
                continue
            found = env.values(self.namespace, self.option, cfn)
            bad = [
                v
                for v in found
                if v == c.NOVALUE
                or (v is not None and self.accepted and v.lower() not in self.accepted)
            ]
            if bad:
                yield self.report(
                    env.where(self.namespace, self.option),
                    f"{env.logical_id}: {self.what} ({self.namespace} {self.option} is "
                    f"{shown(bad)})",
                )
