"""Logs and alarms: log group retention, alarms with actions on the environment's key
metrics (E97xx / W97xx; formerly PIPE-LOGS-RETENTION and PIPE-ALARMS-PRESENT)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c


class LogGroupRetention(c.PropertyRule):
    """Log groups expire. Control: AWS FSBP CloudWatch.16."""

    id = "W9701"
    shortdesc = "Log groups set a retention"
    description = (
        "Without RetentionInDays a log group keeps (and bills) its logs forever. Formerly "
        "PIPE-LOGS-RETENTION. Control: AWS FSBP CloudWatch.16."
    )
    control = "FSBP CloudWatch.16"
    resource_type = "AWS::Logs::LogGroup"
    paths = ("RetentionInDays",)
    what = "log group keeps logs forever"
    fix = "set RetentionInDays (e.g. !Ref LogRetentionDays)"


METRICS = ("ApplicationRequests5xx", "ApplicationLatencyP95", "CPU")


def _alarms(cfn: Any) -> list[tuple[str, str, bool]]:
    found = []
    for logical_id, resource in c.resources(cfn, "AWS::CloudWatch::Alarm"):
        props = c.properties(resource)
        text = json.dumps({k: v for k, v in props.items() if "Actions" not in k}, default=str)
        found.append((logical_id, text, bool(props.get("AlarmActions"))))
    return found


class EnvironmentAlarms(c.PipelineRule):
    """The environment's error rate, latency and CPU have alarms that notify someone.
    Control: none in FSBP (CIS 4.x alarms watch API activity, not applications)."""

    id = "E9702"
    shortdesc = "Elastic Beanstalk environments have alarms with actions on key metrics"
    description = (
        "Each environment needs an AWS::CloudWatch::Alarm with AlarmActions on "
        f"{', '.join(METRICS)}. Formerly PIPE-ALARMS-PRESENT. Control: none in FSBP or CIS "
        "(the CIS 4.x alarms watch API activity, not applications)."
    )
    control = "none (operations)"
    fix = (
        "add an AWS::CloudWatch::Alarm on the metric, with AlarmActions pointing at the "
        "notification topic"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per environment and metric without an alarm that notifies."""
        alarms = _alarms(cfn)
        for logical_id, resource in c.resources(cfn, "AWS::ElasticBeanstalk::Environment"):
            assert isinstance(resource, Mapping)
            for metric in METRICS:
                covering = [a for a in alarms if metric in a[1]]
                if not covering:
                    problem = f"no alarm on {metric}"
                elif not any(with_actions for _, _, with_actions in covering):
                    problem = f"the alarm on {metric} has no AlarmActions"
                else:
                    continue
                yield self.report(["Resources", logical_id], f"{logical_id}: {problem}")
