"""IAM policies: wildcard actions and resources on data services, ``iam:PassRole`` on any
role (E96xx; the first two formerly PIPE-IAM-WILDCARD-ACTION / -RESOURCE)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pytest_pipeline.predeploy.cfnrules import _common as c

DATA_SERVICES = ("dynamodb", "s3", "secretsmanager", "kms", "ssm", "sqs", "rds")


def data_actions(actions: tuple[str, ...]) -> list[str]:
    """The actions that reach a data service (``*`` included)."""
    return [a for a in actions if a == "*" or a.split(":")[0].lower() in DATA_SERVICES]


class WildcardDataAction(c.PipelineRule):
    """No ``service:*`` on a data service. Control: AWS FSBP IAM.21."""

    id = "E9601"
    shortdesc = "IAM policies grant no wildcard action on a data service"
    description = (
        "An Allow of `*` or `dynamodb:*`, `s3:*`, `secretsmanager:*`, `kms:*`, `ssm:*`, "
        "`sqs:*`, `rds:*` grants deletion and policy changes the app never needs. Control: "
        "AWS FSBP IAM.21 (no wildcard service actions)."
    )
    control = "FSBP IAM.21"
    fix = "list only the actions the app uses (e.g. dynamodb:PutItem, s3:GetObject)"

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per statement with a wildcard data action."""
        for statement in c.statements(cfn):
            wild = [a for a in data_actions(statement.actions) if a == "*" or a.endswith(":*")]
            if wild:
                yield self.report(
                    statement.path,
                    f"{statement.resource}: IAM policy allows every action on a data service "
                    f"({', '.join(wild)})",
                )


class WildcardDataResource(c.PipelineRule):
    """Data-service actions are scoped to this stack's resources. Control: none exact in
    FSBP (least privilege; IAM.1 covers only full `*:*` admin)."""

    id = "E9602"
    shortdesc = "IAM policies grant no data-service action on Resource *"
    description = (
        "Data-service actions on Resource `*` reach every table, bucket and secret of the "
        "account, not this stack's. Control: none exact in FSBP or CIS (least privilege; "
        "FSBP IAM.1 covers only full administrative `*:*` policies)."
    )
    control = "none exact (least privilege; cf. FSBP IAM.1)"
    fix = "scope Resource to this stack's ARNs (!GetAtt Table.Arn, !Sub '${Bucket.Arn}/*')"

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per statement with data actions on ``*``."""
        for statement in c.statements(cfn):
            actions = data_actions(statement.actions)
            if actions and "*" in statement.targets:
                yield self.report(
                    statement.path,
                    f"{statement.resource}: IAM policy grants data-service actions on every "
                    f"resource (Resource '*' with {', '.join(actions)})",
                )


class PassRoleAnywhere(c.PipelineRule):
    """``iam:PassRole`` names the roles it may pass. Control: none exact in FSBP or CIS
    (a privilege escalation path; cf. FSBP IAM.21)."""

    id = "E9603"
    shortdesc = "IAM policies do not allow iam:PassRole on every role"
    description = (
        "iam:PassRole (also through `iam:*`, `iam:Pass*` or `*`) on Resource `*` lets the "
        "holder hand any role, an administrator's included, to a service it controls: a "
        "privilege escalation. Control: none exact in FSBP or CIS (cf. FSBP IAM.21)."
    )
    control = "none exact (privilege escalation; cf. FSBP IAM.21)"
    fix = (
        "limit Resource to the roles it must pass (!GetAtt ServiceRole.Arn) and add an "
        "iam:PassedToService condition"
    )

    def findings(self, cfn: Any) -> Iterator[Any]:
        """One finding per statement that can pass any role."""
        for statement in c.statements(cfn):
            granting = [a for a in statement.actions if c.action_matches(a, "iam:PassRole")]
            if granting and "*" in statement.targets:
                yield self.report(
                    statement.path,
                    f"{statement.resource}: IAM policy allows iam:PassRole on every role "
                    f"({', '.join(granting)} on Resource '*')",
                )
