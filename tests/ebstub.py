"""A scripted Elastic Beanstalk API (botocore Stubber) behind the real
``ElasticBeanstalkTarget``, for the deploy and the rollback tests.

Response shapes follow the API reference and botocore's documented examples
(DescribeEnvironments, DescribeEvents, DescribeApplicationVersions, UpdateEnvironment,
CreateApplicationVersion). Each test module describes its application and environment
once (:class:`EbShapes`) and scripts the calls the target makes, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count
from typing import Any

import boto3
from botocore.stub import ANY, Stubber

from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget, version_setting


@dataclass(frozen=True)
class EbShapes:
    """The answers' shapes for one application and environment."""

    app: str
    environment: str
    cname: str
    t0: datetime
    events_after: timedelta = timedelta(0)
    """How long after ``t0`` the first event of an answer is dated."""

    def env(
        self,
        status: str,
        health: str,
        label: str,
        name: str | None = None,
        cname: str | None = None,
    ) -> dict[str, Any]:
        """One environment as DescribeEnvironments and UpdateEnvironment describe it."""
        name = name or self.environment
        return {
            "ApplicationName": self.app,
            "EnvironmentName": name,
            "EnvironmentId": f"e-{name[-6:]}",
            "CNAME": cname or self.cname,
            "DateCreated": self.t0,
            "DateUpdated": self.t0,
            "Status": status,
            "Health": health,
            "VersionLabel": label,
            "SolutionStackName": "64bit Amazon Linux 2023 v4.3.0 running Python 3.11",
            "Tier": {"Name": "WebServer", "Type": "Standard", "Version": "1.0"},
            "AbortableOperationInProgress": status == "Updating",
        }

    def events(self, *items: tuple[str, str], name: str | None = None) -> dict[str, Any]:
        """A DescribeEvents answer of ``(severity, message)`` items, newest first as the API
        returns them."""
        built = [
            {
                "ApplicationName": self.app,
                "EnvironmentName": name or self.environment,
                "EventDate": self.t0 + self.events_after + timedelta(seconds=index),
                "Message": message,
                "Severity": severity,
            }
            for index, (severity, message) in enumerate(items)
        ]
        return {"Events": list(reversed(built))}


class EbScript:
    """A stubbed Elastic Beanstalk client and the real target using it.

    The target never sleeps, and every look at its clock costs 100 s of its deadline.
    """

    def __init__(self, shapes: EbShapes, *, timeout: float = 250, **target_options: Any) -> None:
        self.shapes = shapes
        self.eb = boto3.client(
            "elasticbeanstalk",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # pragma: allowlist secret
        )
        self.stub = Stubber(self.eb)
        ticks = count()
        self.target = ElasticBeanstalkTarget(
            self,
            shapes.app,
            shapes.environment,
            timeout=timeout,
            sleep=lambda seconds: None,
            clock=lambda: 100.0 * next(ticks),
            http_check=lambda url, label: None,  # scripted API: no instances to ask
            **target_options,
        )

    def client(self, service: str) -> Any:
        """The AwsContext-like factory the target asks for its client."""
        assert service == "elasticbeanstalk"
        return self.eb

    def live(self, *environments: dict[str, Any], times: int = 1) -> None:
        """``times`` answers listing the application's environments."""
        for _ in range(times):
            self.stub.add_response(
                "describe_environments",
                {"Environments": list(environments)},
                {"ApplicationName": self.shapes.app, "IncludeDeleted": False},
            )

    def poll(self, environment: dict[str, Any], answer: dict[str, Any]) -> None:
        """One poll of an environment: its description, then its events."""
        app, name = self.shapes.app, environment["EnvironmentName"]
        self.stub.add_response(
            "describe_environments",
            {"Environments": [environment]},
            {"ApplicationName": app, "EnvironmentNames": [name], "IncludeDeleted": False},
        )
        self.stub.add_response(
            "describe_events",
            answer,
            {"ApplicationName": app, "EnvironmentName": name, "StartTime": ANY},
        )

    def update(self, label: str, name: str | None = None) -> None:
        """UpdateEnvironment to ``label``."""
        name = name or self.shapes.environment
        self.stub.add_response(
            "update_environment",
            self.shapes.env("Updating", "Grey", label, name),
            {
                "ApplicationName": self.shapes.app,
                "EnvironmentName": name,
                "VersionLabel": label,
                "OptionSettings": version_setting(label),  # /health reports the label
            },
        )

    def starts_update(self, label: str) -> None:
        """UpdateEnvironment to ``label``, and a first poll that sees the update starting."""
        self.update(label)
        self.poll(
            self.shapes.env("Updating", "Grey", label),
            self.shapes.events(("INFO", "Environment update is starting.")),
        )

    def versions(self, *labels: str) -> None:
        """The application's versions, oldest first in ``labels`` (answered newest first)."""
        self.stub.add_response(
            "describe_application_versions",
            {
                "ApplicationVersions": [
                    {
                        "ApplicationName": self.shapes.app,
                        "VersionLabel": label,
                        "DateCreated": self.shapes.t0 + timedelta(hours=index),
                    }
                    for index, label in reversed(list(enumerate(labels)))
                ]
            },
            {"ApplicationName": self.shapes.app},
        )

    def create_version(self, label: str, bucket: str = "deployments") -> None:
        """CreateApplicationVersion from ``bundles/<label>.zip``, then its processed state."""
        version = {
            "ApplicationName": self.shapes.app,
            "VersionLabel": label,
            "SourceBundle": {"S3Bucket": bucket, "S3Key": f"bundles/{label}.zip"},
            "DateCreated": self.shapes.t0,
            "Status": "Processing",
        }
        self.stub.add_response("create_application_version", {"ApplicationVersion": version}, None)
        self.stub.add_response(
            "describe_application_versions",
            {"ApplicationVersions": [{**version, "Status": "Processed"}]},
            {"ApplicationName": self.shapes.app, "VersionLabels": [label]},
        )
