"""Monitoring of a deployed environment: run metrics, alarms, log delivery, notifications.

Plain library (no pytest): every function takes boto3 clients from ``AwsContext.client``.

What moto can and cannot show (DESIGN.md §2): ``put_metric_data`` and statistics work, alarms
exist when created but are never evaluated, and its CloudFormation ignores
``AWS::CloudWatch::Alarm``: on moto the alarms are checked on the template instead
(:func:`template_alarms`), and no alarm firing is ever claimed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from pytest_pipeline.reporting.metrics import NAMESPACE
from pytest_pipeline.reporting.redact import redact
from pytest_pipeline.retry import Backoff, RetryError, wait_until

if TYPE_CHECKING:
    from pytest_pipeline.models import InfrastructureState

log = logging.getLogger("pytest_pipeline.monitoring")

ALARMS_NOT_EVALUATED = (
    "moto stores CloudWatch alarms but never evaluates them: alarm state changes and the "
    "notifications they send were not verified (run with --aws-backend aws to check them)"
)
MAX_METRICS_PER_CALL = 20
SNS_SUBJECT_LIMIT = 100


class MonitoringError(RuntimeError):
    """A monitoring check could not run; the message says what failed and what to do."""


# -- metrics ------------------------------------------------------------------------------------


def publish_metrics(
    cloudwatch: Any, data: Sequence[Mapping[str, Any]], namespace: str = NAMESPACE
) -> int:
    """Send ``data`` (``MetricData`` entries) to CloudWatch in batches; returns how many."""
    items = [dict(item) for item in data]
    for start in range(0, len(items), MAX_METRICS_PER_CALL):
        cloudwatch.put_metric_data(
            Namespace=namespace, MetricData=items[start : start + MAX_METRICS_PER_CALL]
        )
    log.info("published %d metrics to CloudWatch namespace %s", len(items), namespace)
    return len(items)


def metric_sum(
    cloudwatch: Any,
    name: str,
    dimensions: Sequence[Mapping[str, str]],
    *,
    namespace: str = NAMESPACE,
    since: datetime | None = None,
) -> float | None:
    """The sum of ``name``'s datapoints since ``since`` (default: 1 h ago); None when none."""
    now = datetime.now(UTC)
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        Dimensions=[dict(d) for d in dimensions],
        StartTime=since or now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    points = answer.get("Datapoints", [])
    return sum(float(p["Sum"]) for p in points) if points else None


def _throttled(error: BaseException) -> bool:
    """A throttling error of any AWS client (checked by its code: no botocore import)."""
    response: Any = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code", "") if isinstance(response, dict) else ""
    return code in ("Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests")


READ_BACK_DEADLINE_S = 180.0
"""How long a metric just put may take to be readable: CloudWatch documents up to about two
minutes before ``GetMetricStatistics`` returns new datapoints."""


def wait_for_metric(
    cloudwatch: Any,
    name: str,
    dimensions: Sequence[Mapping[str, str]],
    *,
    since: datetime,
    deadline_s: float = READ_BACK_DEADLINE_S,
    namespace: str = NAMESPACE,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """The sum of ``name`` once CloudWatch returns datapoints for it, polling with backoff
    until ``deadline_s``; :class:`MonitoringError` naming the metric when none arrive."""

    def probe() -> tuple[float] | None:
        value = metric_sum(cloudwatch, name, dimensions, namespace=namespace, since=since)
        return None if value is None else (value,)  # a tuple: a sum of 0.0 is an answer

    try:
        found = wait_until(
            probe,
            what=f"metric {namespace}/{name} to be readable",
            deadline=deadline_s,
            retry_on=_throttled,
            backoff=Backoff(0.5, 15.0, 2.0),
            sleep=sleep,
        )
    except RetryError as error:
        shown = ", ".join(f"{d['Name']}={d['Value']}" for d in dimensions)
        raise MonitoringError(
            f"metric {namespace}/{name} ({shown}) was published but no datapoint could be "
            f"read back within {deadline_s:.0f} s: check the namespace and dimensions, and "
            "that the role may call cloudwatch:GetMetricStatistics"
        ) from error
    return found[0]


# -- alarms -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmCheck:
    """What was found about one alarm; ``problems`` is empty when it is sane."""

    name: str
    found: bool
    threshold: float | None = None
    actions: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.found and not self.problems

    def describe(self) -> str:
        """One line: the alarm and what is wrong with it."""
        if not self.found:
            return f"alarm {self.name}: does not exist"
        if not self.problems:
            return f"alarm {self.name}: ok (threshold {self.threshold})"
        return f"alarm {self.name}: " + "; ".join(self.problems)


def _periods(alarm: Mapping[str, Any]) -> list[int]:
    periods = [int(alarm["Period"])] if alarm.get("Period") is not None else []
    for metric in alarm.get("Metrics") or []:
        stat = metric.get("MetricStat") or {}
        if stat.get("Period") is not None:
            periods.append(int(stat["Period"]))
        elif metric.get("Period") is not None:
            periods.append(int(metric["Period"]))
    return periods


def check_alarm(alarm: Mapping[str, Any], topic_arn: str) -> AlarmCheck:
    """Judge one alarm (``describe_alarms`` shape): a positive threshold, a comparison, at
    least one evaluation period of at least 60 s, datapoints <= periods, actions enabled, and
    alarm actions that notify ``topic_arn``."""
    name = str(alarm.get("AlarmName", "?"))
    problems: list[str] = []
    raw_threshold = alarm.get("Threshold")
    threshold: float | None = None
    try:
        threshold = None if raw_threshold is None else float(raw_threshold)
    except (TypeError, ValueError):
        problems.append(f"threshold {raw_threshold!r} is not a number")
    if threshold is None and raw_threshold is None:
        problems.append("has no threshold")
    elif threshold is not None and threshold <= 0:
        problems.append(f"threshold {threshold:g} <= 0 would fire on every datapoint")
    if not alarm.get("ComparisonOperator"):
        problems.append("has no comparison operator")
    periods = int(alarm.get("EvaluationPeriods") or 0)
    if periods < 1:
        problems.append("evaluation periods must be >= 1")
    datapoints = alarm.get("DatapointsToAlarm")
    if datapoints is not None and int(datapoints) > periods:
        problems.append(f"datapoints to alarm {datapoints} > evaluation periods {periods}")
    seconds = _periods(alarm)
    if not seconds:
        problems.append("has no metric period")
    elif min(seconds) < 60:
        problems.append(f"period {min(seconds)} s < 60 s (high-resolution alarms cost extra)")
    if alarm.get("ActionsEnabled") is False:
        problems.append("actions are disabled")
    actions = tuple(str(a) for a in alarm.get("AlarmActions") or [])
    if topic_arn not in actions:
        problems.append(
            f"alarm actions {list(actions)} do not notify the topic {topic_arn}: add it to "
            "AlarmActions"
        )
    return AlarmCheck(name, True, threshold, actions, tuple(problems))


def describe_alarms(cloudwatch: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The metric alarms called ``names`` that exist, by name."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):
        answer = cloudwatch.describe_alarms(AlarmNames=list(names[start : start + 100]))
        for alarm in answer.get("MetricAlarms", []):
            found[alarm["AlarmName"]] = alarm
    return found


def check_alarms(
    alarms: Mapping[str, Mapping[str, Any]], names: Iterable[str], topic_arn: str
) -> list[AlarmCheck]:
    """:func:`check_alarm` for each of ``names`` (``found=False`` for a missing one)."""
    return [
        check_alarm(alarms[name], topic_arn) if name in alarms else AlarmCheck(name, False)
        for name in names
    ]


def _resolve(
    value: Any, params: Mapping[str, Any], stack_name: str, refs: Mapping[str, str]
) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((kind, arg),) = value.items()
        if kind == "Ref":
            if arg == "AWS::StackName":
                return stack_name
            if arg in params:
                return params[arg]
            return refs.get(arg, f"ref:{arg}")
        if kind == "Fn::Sub" and isinstance(arg, str):
            text = arg.replace("${AWS::StackName}", stack_name)
            for key, param in params.items():
                text = text.replace("${" + key + "}", str(param))
            return text
    if isinstance(value, dict):
        return {k: _resolve(v, params, stack_name, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, params, stack_name, refs) for v in value]
    return value


def template_alarms(
    template: Mapping[str, Any],
    stack_name: str,
    topic_arn: str,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``AWS::CloudWatch::Alarm`` resources of a decoded template, in ``describe_alarms``
    shape, with parameters (defaults overlaid by ``parameters``), ``${AWS::StackName}`` and
    ``!Ref`` of the stack's SNS topics (as ``topic_arn``) resolved."""
    resources = template.get("Resources") or {}
    params = {
        name: spec.get("Default")
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }
    params.update(parameters or {})
    refs = {
        logical: topic_arn
        for logical, res in resources.items()
        if isinstance(res, dict) and res.get("Type") == "AWS::SNS::Topic"
    }
    alarms: dict[str, dict[str, Any]] = {}
    for logical, res in resources.items():
        if not isinstance(res, dict) or res.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = _resolve(dict(res.get("Properties") or {}), params, stack_name, refs)
        name = str(props.get("AlarmName") or logical)
        props["AlarmName"] = name
        alarms[name] = props
    return alarms


# -- logs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogDelivery:
    """What reached a log group: the application's own events, or only a pipeline probe."""

    group: str
    app_events: int
    probe_verified: bool = False
    sample: str = ""

    @property
    def app_logs_verified(self) -> bool:
        return self.app_events > 0

    def describe(self) -> str:
        """What was verified, honestly."""
        if self.app_logs_verified:
            return f"{self.app_events} application log event(s) reached {self.group}"
        if self.probe_verified:
            return (
                f"no application log event reached {self.group}; a probe event written by the "
                "pipeline was stored and read back (the group accepts and returns events)"
            )
        return f"nothing could be verified in {self.group}"


EB_WEB_LOG = "var/log/web.stdout.log"


def eb_log_group(environment: str, log_file: str = EB_WEB_LOG) -> str:
    """The log group Elastic Beanstalk streams an environment's ``log_file`` to
    (``aws:elasticbeanstalk:cloudwatch:logs StreamLogs``): on the Python platform the
    application's stdout is ``/aws/elasticbeanstalk/<environment>/var/log/web.stdout.log``."""
    return f"/aws/elasticbeanstalk/{environment}/{log_file}"


def wait_for_app_logs(
    logs: Any, group: str, *, since: datetime, deadline: float = 20.0
) -> LogDelivery:
    """The application events in ``group`` since ``since``, waiting up to ``deadline`` seconds
    for the first to arrive (log agents ship in batches). Raises :class:`MonitoringError`
    when the group does not exist."""
    _require_group(logs, group, "is log streaming on (aws:elasticbeanstalk:cloudwatch:logs)?")
    try:
        found = wait_until(
            lambda: _app_events(logs, group, since),
            what=f"application events in {group}",
            deadline=deadline,
        )
    except RetryError:
        return LogDelivery(group, 0)
    return LogDelivery(group, len(found), sample=redact(str(found[0].get("message", ""))[:200]))


def _require_group(logs: Any, group: str, hint: str) -> None:
    groups = logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
    if not any(g.get("logGroupName") == group for g in groups):
        raise MonitoringError(f"log group {group} does not exist: {hint}")


def _app_events(logs: Any, group: str, since: datetime) -> list[dict[str, Any]]:
    """Events of ``group`` since ``since`` that the pipeline's probe did not write."""
    start_ms = int(since.timestamp() * 1000)
    events = logs.filter_log_events(logGroupName=group, startTime=start_ms).get("events", [])
    return [e for e in events if not str(e.get("logStreamName", "")).startswith("pipeline-probe/")]


def verify_log_delivery(
    logs: Any,
    group: str,
    *,
    since: datetime,
    probe_id: str,
    deadline: float = 20.0,
) -> LogDelivery:
    """Check that ``group`` exists and holds application events written since ``since``;
    when it holds none, write a probe event to stream ``pipeline-probe/<probe_id>`` and read
    it back. Raises :class:`MonitoringError` when the group is missing or the probe is lost."""
    _require_group(
        logs, group, "check the stack's AppLogGroup resource and the LogGroupName output"
    )
    start_ms = int(since.timestamp() * 1000)
    app = _app_events(logs, group, since)
    if app:
        return LogDelivery(group, len(app), sample=redact(str(app[0].get("message", ""))[:200]))
    stream = f"pipeline-probe/{probe_id}"
    marker = f"pipeline log probe {probe_id}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": marker}],
    )

    def probe_back() -> bool:
        found = logs.filter_log_events(
            logGroupName=group, logStreamNames=[stream], startTime=start_ms
        ).get("events", [])
        return any(marker in str(e.get("message", "")) for e in found)

    try:
        wait_until(probe_back, what=f"probe event in {group}", deadline=deadline)
    except RetryError as error:
        raise MonitoringError(
            f"probe event written to {group}/{stream} was not readable within {deadline:g} s"
        ) from error
    return LogDelivery(group, 0, probe_verified=True, sample=marker)


# -- notifications ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """The result of notifying one channel."""

    channel: str
    ok: bool
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


def _sns(client: Any, topic_arn: str | None, subject: str, message: str) -> Notification:
    if client is None or not topic_arn:
        return Notification("sns", False, "no SNS topic known (the stack was not provisioned)")
    answer = client.publish(
        TopicArn=topic_arn, Subject=subject[:SNS_SUBJECT_LIMIT], Message=message[:200_000]
    )
    return Notification(
        "sns", True, f"published to {topic_arn}", {"MessageId": answer["MessageId"]}
    )


def _webhook(
    url: str | None, subject: str, message: str, payload: Mapping[str, Any]
) -> Notification:
    if not url:
        return Notification("webhook", False, "no webhook-url configured")
    body = {"subject": subject, "text": message, **payload}
    answer = requests.post(
        url, data=redact(json.dumps(body)), timeout=10, headers={"Content-Type": "application/json"}
    )
    if answer.status_code >= 300:
        return Notification("webhook", False, f"{url} answered HTTP {answer.status_code}")
    return Notification("webhook", True, f"posted to {url} (HTTP {answer.status_code})")


def notify_about_stack(
    channels: Iterable[str],
    subject: str,
    message: str,
    *,
    infra: InfrastructureState | None,
    webhook_url: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> list[Notification]:
    """:func:`notify` with SNS through the stack's ``NotificationTopicArn`` (``infra``: the
    run's stack record), with a client for the backend the stack is on. A run that failed
    before provisioning has no stack: its SNS notification says it has no topic."""
    from pytest_pipeline.aws.clients import recorded_context

    channels = tuple(channels)
    sns_client, topic = None, None
    if "sns" in channels and infra is not None:
        topic = infra.outputs.get("NotificationTopicArn")
        try:
            ctx = recorded_context(infra.endpoint_url, infra.region, source="stack record")
            sns_client = ctx.client("sns")
        except Exception as error:  # the notification must not break the end of the run
            log.warning("no SNS client for the notification: %s", error)
    return notify(
        channels,
        subject,
        message,
        sns_client=sns_client,
        topic_arn=topic,
        webhook_url=webhook_url,
        payload=payload,
    )


def notify(
    channels: Iterable[str],
    subject: str,
    message: str,
    *,
    sns_client: Any = None,
    topic_arn: str | None = None,
    webhook_url: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> list[Notification]:
    """Send ``message`` to each channel (``sns``, ``webhook``, ``log``); never raises for a
    channel that fails: its :class:`Notification` says why. Everything sent is redacted."""
    subject, message = redact(subject), redact(message)
    results: list[Notification] = []
    for channel in channels:
        try:
            if channel == "sns":
                result = _sns(sns_client, topic_arn, subject, message)
            elif channel == "webhook":
                result = _webhook(webhook_url, subject, message, payload or {})
            elif channel == "log":
                log.error("%s\n%s", subject, message, extra={"status": "notified"})
                result = Notification("log", True, "written to the pipeline log")
            else:
                result = Notification(channel, False, f"unknown channel {channel!r}")
        except Exception as error:  # a channel failing must not hide the others
            result = Notification(channel, False, f"{type(error).__name__}: {redact(str(error))}")
        level = logging.INFO if result.ok else logging.WARNING
        log.log(
            level,
            "notification %s: %s",
            channel,
            result.detail,
            extra={"status": "ok" if result.ok else "failed"},
        )
        results.append(result)
    return results
