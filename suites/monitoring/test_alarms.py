"""The environment's alarms exist with sane thresholds and notify the stack's topic."""

from __future__ import annotations

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("aws", "the alarm checks")

from cfnlint.decode import decode  # noqa: E402

from pytest_pipeline.aws import monitoring  # noqa: E402
from pytest_pipeline.aws.clients import AwsContext  # noqa: E402
from pytest_pipeline.models import InfrastructureState  # noqa: E402
from pytest_pipeline.plugin.run import PipelineRun  # noqa: E402
from pytest_pipeline.reporting.recorder import Recorder  # noqa: E402


def _names(stack: InfrastructureState) -> list[str]:
    return [name for name in stack.output("AlarmNames").split(",") if name]


def test_alarms_have_sane_thresholds_and_notify_the_topic(
    aws: AwsContext,
    stack: InfrastructureState,
    pipeline_run: PipelineRun,
    pipeline_record: Recorder,
) -> None:
    names = _names(stack)
    topic = stack.output("NotificationTopicArn")
    assert names, "the stack output AlarmNames lists no alarm"
    live = monitoring.describe_alarms(aws.client("cloudwatch"), names)
    if live or not aws.emulated:
        source, alarms = "live alarms (describe_alarms)", live
    else:
        # moto's CloudFormation does not create AWS::CloudWatch::Alarm: judge the template
        template_path = pipeline_run.options.template
        template, errors = decode(str(template_path))
        assert template is not None, f"cannot read {template_path}: {errors}"
        source = f"{template_path.name} (the {aws.backend} backend does not create alarms)"
        alarms = monitoring.template_alarms(template, stack.stack_name, topic)
    checks = monitoring.check_alarms(alarms, names, topic)
    pipeline_record.table(
        f"Alarms, checked on {source}",
        [
            {
                "alarm": c.name,
                "threshold": c.threshold,
                "ok": c.ok,
                "problems": "; ".join(c.problems),
            }
            for c in checks
        ],
    )
    bad = [c.describe() for c in checks if not c.ok]
    assert not bad, "\n".join(bad)


def test_alarms_are_evaluated(aws: AwsContext, stack: InfrastructureState) -> None:
    if aws.emulated:
        pytest.skip(monitoring.ALARMS_NOT_EVALUATED)
    live = monitoring.describe_alarms(aws.client("cloudwatch"), _names(stack))
    unevaluated = [
        name
        for name, alarm in live.items()
        if str(alarm.get("StateReason", "")).startswith("Unchecked")
    ]
    assert not unevaluated, f"CloudWatch has not evaluated these alarms yet: {unevaluated}"
