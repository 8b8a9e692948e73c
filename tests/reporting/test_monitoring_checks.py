"""Alarm judgement, template alarms and notifications, in-process."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

from pytest_pipeline.aws import monitoring

TOPIC = "arn:aws:sns:us-east-1:123456789012:passport-photo-dev-alarms"
SANE = {
    "AlarmName": "a",
    "Threshold": 5.0,
    "ComparisonOperator": "GreaterThanThreshold",
    "EvaluationPeriods": 3,
    "DatapointsToAlarm": 2,
    "Period": 60,
    "AlarmActions": [TOPIC],
}


def test_check_alarm_names_each_problem() -> None:
    assert monitoring.check_alarm(SANE, TOPIC).ok
    bad = {**SANE, "Threshold": 0, "DatapointsToAlarm": 5, "Period": 10, "AlarmActions": []}
    problems = " | ".join(monitoring.check_alarm(bad, TOPIC).problems)
    for fragment in (
        "threshold 0",
        "datapoints to alarm 5 > evaluation periods 3",
        "period 10 s",
        TOPIC,
    ):
        assert fragment in problems
    missing = monitoring.check_alarms({}, ["gone"], TOPIC)
    assert [c.describe() for c in missing] == ["alarm gone: does not exist"]


def test_template_alarms_are_sane() -> None:
    template, errors = decode(str(Path(__file__).resolve().parents[2] / "infra" / "template.yaml"))
    assert template is not None, errors
    alarms = monitoring.template_alarms(template, "passport-photo-dev", TOPIC)
    assert set(alarms) == {
        "passport-photo-dev-5xx-rate",
        "passport-photo-dev-p95-latency",
        "passport-photo-dev-cpu",
    }
    checks = monitoring.check_alarms(alarms, list(alarms), TOPIC)
    assert all(c.ok for c in checks), [c.describe() for c in checks]
    assert not monitoring.check_alarms(alarms, list(alarms), TOPIC + "-other")[0].ok


def test_notify_webhook_and_log_and_missing_topic() -> None:
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        results = monitoring.notify(
            ["webhook", "log", "sns"],
            "pipeline dev failed",
            "key AKIAIOSFODNN7EXAMPLE",
            webhook_url=url,
            payload={"status": "failed"},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [(r.channel, r.ok) for r in results] == [
        ("webhook", True),
        ("log", True),
        ("sns", False),
    ]
    assert "no SNS topic" in results[2].detail
    assert received[0]["status"] == "failed" and "AKIAIOSFODNN7EXAMPLE" not in json.dumps(received)
