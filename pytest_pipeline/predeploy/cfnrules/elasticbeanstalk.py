"""Elastic Beanstalk environments: health reporting, IMDSv2, HTTPS and its TLS policy,
deployment policy, log streaming and retention, managed platform updates, and secrets in
plain option settings (E91xx / W91xx)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c
from pytest_pipeline.predeploy.cfnrules import _eb

APP_ENV = "aws:elasticbeanstalk:application:environment"


class EnhancedHealth(_eb.SettingRule):
    """Enhanced health reporting. Control: AWS FSBP ElasticBeanstalk.1."""

    id = "E9101"
    shortdesc = "Elastic Beanstalk environment uses enhanced health reporting"
    description = (
        "Basic health reporting sees only the load balancer's health checks; enhanced "
        "health reporting sees requests, latency and instance causes. Control: AWS FSBP "
        "ElasticBeanstalk.1."
    )
    control = "FSBP ElasticBeanstalk.1"
    namespace = "aws:elasticbeanstalk:healthreporting:system"
    option = "SystemType"
    accepted = ("enhanced",)
    what = "enhanced health reporting is off"
    fix = (
        "set aws:elasticbeanstalk:healthreporting:system SystemType to enhanced "
        "(needs a service role)"
    )


class Imdsv2Only(_eb.SettingRule):
    """Instances refuse IMDSv1. Control: AWS FSBP AutoScaling.3 / EC2.8."""

    id = "E9102"
    shortdesc = "Elastic Beanstalk instances require IMDSv2"
    description = (
        "IMDSv1 answers any request that reaches the instance (an SSRF in the app hands "
        "out the instance role's credentials); DisableIMDSv1 makes instances require "
        "IMDSv2 session tokens. Set it explicitly: its default differs between platform "
        "branches. Control: AWS FSBP AutoScaling.3, EC2.8."
    )
    control = "FSBP AutoScaling.3, EC2.8"
    namespace = "aws:autoscaling:launchconfiguration"
    option = "DisableIMDSv1"
    accepted = ("true",)
    what = "instances may accept IMDSv1"
    fix = 'set aws:autoscaling:launchconfiguration DisableIMDSv1 to "true"'


TLS_GOOD = re.compile(r"^ELBSecurityPolicy-(TLS13-1-2-|TLS13-1-3-|TLS-1-2-|FS-1-2-)", re.IGNORECASE)
ELBV2_LISTENER = re.compile(r"^aws:elbv2:listener:(\d+)$", re.IGNORECASE)
ELB_LISTENER = re.compile(r"^aws:elb:listener:(\d+)$", re.IGNORECASE)


def https_listeners(env: _eb.Environment, cfn: Any) -> list[tuple[str, str]]:
    """(kind, namespace) of each HTTPS listener with a certificate: ``elbv2`` (application
    load balancer) or ``elb`` (classic). A listener behind a condition counts."""
    found: list[tuple[str, str]] = []
    for namespace in env.namespaces("aws:elbv2:listener:"):
        protocols = [str(p).upper() for p in env.values(namespace, "Protocol", cfn)]
        certificate = env.find(namespace, "SSLCertificateArns")
        if ELBV2_LISTENER.match(namespace) and "HTTPS" in protocols and certificate:
            found.append(("elbv2", namespace))
    for namespace in env.namespaces("aws:elb:listener:"):
        protocols = [str(p).upper() for p in env.values(namespace, "ListenerProtocol", cfn)]
        certificate = env.find(namespace, "SSLCertificateId")
        if ELB_LISTENER.match(namespace) and {"HTTPS", "SSL"} & set(protocols) and certificate:
            found.append(("elb", namespace))
    if env.find("aws:elb:loadbalancer", "SSLCertificateId"):
        found.append(("elb", "aws:elb:loadbalancer"))
    return found


class HttpsListener(c.PipelineRule):
    """A load-balanced environment terminates HTTPS. Control: AWS FSBP ELB.1, ELB.3."""

    id = "E9103"
    shortdesc = "Elastic Beanstalk load balancer has an HTTPS listener"
    description = (
        "A load-balanced web environment needs an HTTPS listener with a certificate; "
        "HTTP alone sends photos and emails in clear text. A listener added under a "
        "condition (e.g. only when a certificate parameter is set) counts. Single-instance "
        "and worker environments have no load balancer and are not checked. Control: AWS "
        "FSBP ELB.1 (HTTP to HTTPS), ELB.3 (classic load balancer HTTPS/TLS listeners)."
    )
    control = "FSBP ELB.1, ELB.3"
    fix = (
        "add aws:elbv2:listener:443 with Protocol HTTPS, SSLCertificateArns (an ACM "
        "certificate) and SSLPolicy, and disable or redirect the HTTP listener"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per load-balanced environment without an HTTPS listener."""
        for env in _eb.environments(cfn):
            if env.load_balanced and not https_listeners(env, cfn):
                yield self.report(
                    env.settings_path, f"{env.logical_id}: no HTTPS listener, only HTTP"
                )


class TlsPolicy(c.PipelineRule):
    """The HTTPS listener negotiates TLS 1.2 or later only. Control: AWS FSBP ELB.17, ELB.8."""

    id = "E9104"
    shortdesc = "Elastic Beanstalk HTTPS listener uses a TLS 1.2+ security policy"
    description = (
        "Without SSLPolicy the listener uses ELBSecurityPolicy-2016-08, which still "
        "accepts TLS 1.0 and 1.1. Control: AWS FSBP ELB.17 (application load balancer "
        "listeners use recommended policies), ELB.8 (classic load balancer)."
    )
    control = "FSBP ELB.17, ELB.8"
    fix = "set SSLPolicy of the HTTPS listener to ELBSecurityPolicy-TLS13-1-2-2021-06"

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per HTTPS listener whose policy may allow TLS below 1.2."""
        for env in _eb.environments(cfn):
            for kind, namespace in https_listeners(env, cfn):
                if kind == "elbv2":
                    found = env.values(namespace, "SSLPolicy", cfn, conditional_counts=True)
                    where = env.where(namespace, "SSLPolicy")
                else:
                    policies = env.namespaces("aws:elb:policies")
                    found = [
                        v
                        for p in policies
                        for v in env.values(p, "SSLReferencePolicy", cfn, conditional_counts=True)
                    ] or [c.NOVALUE]
                    where = (
                        env.where(policies[0], "SSLReferencePolicy")
                        if policies
                        else env.settings_path
                    )
                bad = [v for v in found if v is not None and not TLS_GOOD.match(v)]
                if bad:
                    yield self.report(
                        where,
                        f"{env.logical_id}: the HTTPS listener ({namespace}) may accept TLS "
                        f"below 1.2 (security policy is {_eb.shown(bad)})",
                    )


class DeploymentPolicy(_eb.SettingRule):
    """Deployments never take every instance down at once. Control: none (availability)."""

    id = "E9105"
    shortdesc = "Elastic Beanstalk deployments are not AllAtOnce"
    description = (
        "AllAtOnce (the default) restarts every instance with the new version together: "
        "an outage on every deploy, and a broken version takes the whole environment down. "
        "Control: none in FSBP or CIS (an availability rule of this pipeline)."
    )
    control = "none (availability)"
    namespace = "aws:elasticbeanstalk:command"
    option = "DeploymentPolicy"
    accepted = ("rolling", "rollingwithadditionalbatch", "immutable", "trafficsplitting")
    what = "deployments replace every instance at once"
    fix = (
        "set aws:elasticbeanstalk:command DeploymentPolicy to Immutable (or Rolling, "
        "RollingWithAdditionalBatch, TrafficSplitting)"
    )


class StreamLogs(_eb.SettingRule):
    """Instance logs go to CloudWatch Logs. Control: AWS FSBP ElasticBeanstalk.3."""

    id = "E9106"
    shortdesc = "Elastic Beanstalk streams logs to CloudWatch Logs"
    description = (
        "Without log streaming the logs live on the instances and vanish with them. "
        "Control: AWS FSBP ElasticBeanstalk.3."
    )
    control = "FSBP ElasticBeanstalk.3"
    namespace = "aws:elasticbeanstalk:cloudwatch:logs"
    option = "StreamLogs"
    accepted = ("true",)
    what = "instance logs are not streamed to CloudWatch Logs"
    fix = 'set aws:elasticbeanstalk:cloudwatch:logs StreamLogs to "true"'


class StreamedLogRetention(_eb.SettingRule):
    """Streamed logs have a chosen retention. Control: AWS FSBP CloudWatch.16."""

    id = "W9107"
    shortdesc = "Elastic Beanstalk streamed logs have an explicit retention"
    description = (
        "RetentionInDays unset keeps streamed logs for Elastic Beanstalk's default of 7 "
        "days, which is rarely what an incident review needs. Control: AWS FSBP "
        "CloudWatch.16 (log group retention)."
    )
    control = "FSBP CloudWatch.16"
    namespace = "aws:elasticbeanstalk:cloudwatch:logs"
    option = "RetentionInDays"
    what = "streamed logs have no explicit retention"
    fix = "set aws:elasticbeanstalk:cloudwatch:logs RetentionInDays (e.g. !Ref LogRetentionDays)"


MANAGED = "aws:elasticbeanstalk:managedactions"
PLATFORM_UPDATE = "aws:elasticbeanstalk:managedactions:platformupdate"


class ManagedUpdates(c.PipelineRule):
    """Managed platform updates are on. Control: AWS FSBP ElasticBeanstalk.2."""

    id = "E9108"
    shortdesc = "Elastic Beanstalk managed platform updates are enabled"
    description = (
        "Managed actions apply platform patches (OS, Python, nginx) in a weekly window; "
        "without them security fixes wait for a manual update. Control: AWS FSBP "
        "ElasticBeanstalk.2 (ManagedActionsEnabled and an UpdateLevel)."
    )
    control = "FSBP ElasticBeanstalk.2"
    fix = (
        'set aws:elasticbeanstalk:managedactions ManagedActionsEnabled "true" and '
        "PreferredStartTime, and aws:elasticbeanstalk:managedactions:platformupdate "
        "UpdateLevel minor (or patch)"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per environment, naming every missing or wrong setting."""
        for env in _eb.environments(cfn):
            problems = []
            enabled = env.values(MANAGED, "ManagedActionsEnabled", cfn)
            if any(v is not None and v.lower() != "true" for v in enabled):
                problems.append(f"ManagedActionsEnabled is {_eb.shown(enabled)}")
            if c.NOVALUE in env.values(MANAGED, "PreferredStartTime", cfn):
                problems.append("PreferredStartTime is not set")
            level = env.values(PLATFORM_UPDATE, "UpdateLevel", cfn)
            if any(v is not None and v.lower() not in ("minor", "patch") for v in level):
                problems.append(f"UpdateLevel is {_eb.shown(level)}")
            if problems:
                where = env.where(MANAGED, "ManagedActionsEnabled")
                yield self.report(
                    where,
                    f"{env.logical_id}: managed platform updates are off ({'; '.join(problems)})",
                )


SECRET_OPTIONS = {("aws:rds:dbinstance", "dbpassword")}


class PlainOptionSecret(c.PipelineRule):
    """No secret in plain option settings. Control: none for Elastic Beanstalk (cf. FSBP
    ECS.8, CodeBuild.2)."""

    id = "E9109"
    shortdesc = "Elastic Beanstalk option settings hold no plain-text secret"
    description = (
        "Environment properties (aws:elasticbeanstalk:application:environment) and "
        "DBPassword are stored and shown in plain text (console, DescribeConfigurationSettings, "
        "saved configurations), whether the value is a literal, a NoEcho parameter or a "
        "resolved dynamic reference. Control: none for Elastic Beanstalk; the same rule as "
        "AWS FSBP ECS.8 and CodeBuild.2."
    )
    control = "none (cf. FSBP ECS.8, CodeBuild.2)"
    fix = (
        "keep the secret in Secrets Manager and pass it through "
        "aws:elasticbeanstalk:application:environmentsecrets (or pass its ARN and read it at start)"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per secret-named option whose value is a secret in clear."""
        for env in _eb.environments(cfn):
            for option in env.options:
                key = (option.namespace.lower(), option.name.lower())
                named = option.namespace.lower() == APP_ENV and c.secret_name(option.name)
                if not (named or key in SECRET_OPTIONS):
                    continue
                why = c.plaintext_secret(option.value, cfn)
                if why:
                    yield self.report(
                        option.path,
                        f"{env.logical_id}: option {option.namespace} {option.name} holds a "
                        f"secret in plain text ({why})",
                    )
