"""Network exposure: administration and database ports open to the whole internet (E92xx)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c
from pytest_pipeline.predeploy.cfnrules import _eb

ADMIN_PORTS = {
    22: "SSH",
    23: "Telnet",
    3389: "RDP",
    5900: "VNC",
    5985: "WinRM",
    5986: "WinRM",
    1433: "SQL Server",
    3306: "MySQL",
    5432: "PostgreSQL",
    6379: "Redis",
    9200: "Elasticsearch",
    27017: "MongoDB",
}
ANYWHERE = ("0.0.0.0/0", "::/0")
ALL_PROTOCOLS = ("-1", "all")


def _port(value: Any, fallback: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return fallback


def exposed_ports(rule: Mapping[str, Any]) -> list[str]:
    """The admin ports an ingress rule opens to anywhere (``22 (SSH)``...), if any."""
    sources = [str(rule.get("CidrIp", "")), str(rule.get("CidrIpv6", ""))]
    if not any(s in ANYWHERE for s in sources):
        return []
    protocol = str(rule.get("IpProtocol", "")).lower()
    if protocol in ALL_PROTOCOLS:
        low, high = 0, 65535
    elif protocol in ("tcp", "6", "udp", "17"):
        low = _port(rule.get("FromPort"), 0)
        high = _port(rule.get("ToPort"), low)
        if low == -1:
            low, high = 0, 65535
    else:
        return []
    return [f"{p} ({name})" for p, name in sorted(ADMIN_PORTS.items()) if low <= p <= high]


class AdminPortsOpen(c.PipelineRule):
    """No admin or database port open to 0.0.0.0/0 or ::/0. Control: AWS FSBP EC2.13,
    EC2.14, EC2.53, EC2.54, EC2.19; CIS AWS Foundations v1.4 5.2, 5.3."""

    id = "E9201"
    shortdesc = "Security groups do not open admin or database ports to the internet"
    description = (
        "Ingress from 0.0.0.0/0 or ::/0 on SSH, RDP, Telnet, VNC, WinRM or a database port "
        "(in a security group, a SecurityGroupIngress resource, or an Elastic Beanstalk "
        "key pair without SSHSourceRestriction, which opens SSH to the world). Control: AWS "
        "FSBP EC2.13 (22), EC2.14 (3389), EC2.53/EC2.54 (remote administration, IPv4/IPv6), "
        "EC2.19 (high-risk ports); CIS AWS Foundations v1.4 5.2, 5.3."
    )
    control = "FSBP EC2.13, EC2.14, EC2.53, EC2.54, EC2.19; CIS v1.4 5.2, 5.3"
    fix = (
        "allow the port only from a known range or security group (a bastion, the VPN), or "
        "use Session Manager instead of SSH/RDP"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per open ingress rule, and per environment with world-open SSH."""
        for logical_id, resource in c.resources(cfn, "AWS::EC2::SecurityGroup"):
            ingress = c.properties(resource).get("SecurityGroupIngress")
            for index, rule in enumerate(ingress if isinstance(ingress, list) else []):
                if isinstance(rule, Mapping):
                    path: c.Path = [
                        "Resources",
                        logical_id,
                        "Properties",
                        "SecurityGroupIngress",
                        index,
                    ]
                    yield from self._check(logical_id, rule, path)
        for logical_id, resource in c.resources(cfn, "AWS::EC2::SecurityGroupIngress"):
            path = ["Resources", logical_id, "Properties"]
            yield from self._check(logical_id, c.properties(resource), path)
        for env in _eb.environments(cfn):
            launch = "aws:autoscaling:launchconfiguration"
            if not env.find(launch, "EC2KeyName"):
                continue
            restriction = env.values(launch, "SSHSourceRestriction", cfn)
            if c.NOVALUE in restriction or any(
                v and any(a in v for a in ANYWHERE) for v in restriction
            ):
                yield self.report(
                    env.where(launch, "EC2KeyName"),
                    f"{env.logical_id}: EC2KeyName without a restricting SSHSourceRestriction "
                    "opens port 22 (SSH) to 0.0.0.0/0",
                )

    def _check(self, logical_id: str, rule: Mapping[str, Any], path: c.Path) -> Iterator[Any]:
        ports = exposed_ports(rule)
        if ports:
            source = rule.get("CidrIp") or rule.get("CidrIpv6")
            yield self.report(path, f"{logical_id}: ingress from {source} on {', '.join(ports)}")
