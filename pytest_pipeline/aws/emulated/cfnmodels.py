"""CloudFormation resource models moto lacks: ``AWS::ElasticBeanstalk::*`` and the Secrets
Manager secret a template hands to its environment.

moto's CloudFormation creates a resource type when a direct subclass of
``CloudFormationModel`` names it (``cloudformation_type``); these create the resources
through the emulated backends, so a stack holds a running environment and its URL output
(``!GetAtt <Environment>.EndpointURL``) exists. An environment resource completes when the
environment is Ready, as on AWS.
"""

from __future__ import annotations

import json
import secrets as secrets_module
import string
from typing import Any, Self

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends

from pytest_pipeline.aws.emulated.ebmodels import (
    DEFAULT_HEALTH_TIMEOUT,
    EmulatedEBBackend,
    emulated_eb_backends,
)


def _eb(account_id: str, region_name: str) -> EmulatedEBBackend:
    backend: EmulatedEBBackend = emulated_eb_backends[account_id][region_name]
    return backend


def _props(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    return dict(cloudformation_json.get("Properties") or {})


def _settings(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**item, "Value": "" if item.get("Value") is None else str(item.get("Value"))}
        for item in props.get("OptionSettings") or []
        if isinstance(item, dict)  # an !If that chose AWS::NoValue leaves nothing
    ]


class _Model:
    """Shared plumbing: a physical id, no attributes unless a subclass says so. (Each model
    is a *direct* subclass of ``CloudFormationModel``: moto looks only at those.)"""

    physical_resource_id: str = ""
    application: str = ""
    endpoint_url: str = ""
    name: str = ""
    created: bool = True

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        original_resource.delete(account_id, region_name)
        return cls.build(new_resource_name, _props(cloudformation_json), account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        return None

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return cls.build(resource_name, _props(cloudformation_json), account_id, region_name)

    @classmethod
    def build(
        cls, resource_name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> Any:
        """Create the resource from its (resolved) properties."""
        raise NotImplementedError

    @classmethod
    def made(cls, physical_id: str, application: str = "") -> Self:
        """An instance naming the resource it created."""
        model = cls()
        model.physical_resource_id, model.application = physical_id, application
        return model

    def is_created(self) -> bool:
        return self.created

    def delete(self, account_id: str, region_name: str) -> None:
        raise NotImplementedError


class Application(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticBeanstalk::Application"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ApplicationName"

    @classmethod
    def build(
        cls, resource_name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> Application:
        _eb(account_id, region_name).create_application(
            resource_name, str(props.get("Description") or "")
        )
        return cls.made(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        eb = _eb(account_id, region_name)
        if self.physical_resource_id in eb.applications:
            eb.delete_application(self.physical_resource_id, terminate_by_force=True)


class ApplicationVersion(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticBeanstalk::ApplicationVersion"

    @classmethod
    def build(
        cls, resource_name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> ApplicationVersion:
        application = str(props["ApplicationName"])
        _eb(account_id, region_name).create_application_version(
            application,
            resource_name,
            str(props.get("Description") or ""),
            props.get("SourceBundle"),
            auto_create=False,
            process=True,
        )
        return cls.made(resource_name, application)

    def delete(self, account_id: str, region_name: str) -> None:
        eb = _eb(account_id, region_name)
        app = eb.applications.get(self.application)
        if app is not None and self.physical_resource_id in app.versions:
            eb.delete_application_version(self.application, self.physical_resource_id, False)


class ConfigurationTemplate(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticBeanstalk::ConfigurationTemplate"

    @classmethod
    def build(
        cls, resource_name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> ConfigurationTemplate:
        application = str(props["ApplicationName"])
        _eb(account_id, region_name).create_configuration_template(
            application,
            resource_name,
            props.get("SolutionStackName"),
            props.get("SourceConfiguration"),
            props.get("EnvironmentId"),
            str(props.get("Description") or ""),
            _settings(props),
        )
        return cls.made(resource_name, application)

    def delete(self, account_id: str, region_name: str) -> None:
        eb = _eb(account_id, region_name)
        app = eb.applications.get(self.application)
        if app is not None and self.physical_resource_id in app.templates:
            eb.delete_configuration_template(self.application, self.physical_resource_id)


class Environment(_Model, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElasticBeanstalk::Environment"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "EnvironmentName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "EndpointURL"

    @classmethod
    def build(
        cls, resource_name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> Environment:
        eb = _eb(account_id, region_name)
        if str(props.get("ApplicationName")) not in eb.applications:
            # moto also builds resources lazily to answer the outputs of a stack whose creation
            # failed earlier: nothing is created then, and the resource never completes.
            model = cls.made("")
            model.created = False
            return model
        tags = {str(t["Key"]): str(t["Value"]) for t in props.get("Tags") or []}
        env = eb.create_environment(
            str(props["ApplicationName"]),
            resource_name,
            solution_stack=props.get("SolutionStackName"),
            template=props.get("TemplateName"),
            label=props.get("VersionLabel"),
            settings=_settings(props),
            description=str(props.get("Description") or ""),
            tags=tags,
            tier=props.get("Tier"),
        )
        if env.worker is not None:  # CloudFormation completes the resource once it is Ready
            env.worker.join(DEFAULT_HEALTH_TIMEOUT + 600)
        model = cls.made(resource_name)
        model.endpoint_url = env.cname
        return model

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "EndpointURL":
            return self.endpoint_url
        raise UnformattedGetAttTemplateException()

    def delete(self, account_id: str, region_name: str) -> None:
        eb = _eb(account_id, region_name)
        for env in eb.all_environments():
            if env.environment_name == self.physical_resource_id:
                eb.terminate_environment(env.environment_name, None, force=True)
                if env.worker is not None:
                    env.worker.join(60)


class Secret(_Model, CloudFormationModel):
    """``AWS::SecretsManager::Secret`` (``Ref``: the ARN), with ``GenerateSecretString``."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @classmethod
    def build(
        cls, resource_name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> Secret:
        value = props.get("SecretString")
        generate = props.get("GenerateSecretString")
        if value is None and isinstance(generate, dict):
            length = int(generate.get("PasswordLength", 32))
            alphabet = string.ascii_letters + string.digits
            if not generate.get("ExcludePunctuation"):
                alphabet += "!#$%&()*+,-.:;<=>?@[]^_{|}~"
            password = "".join(secrets_module.choice(alphabet) for _ in range(length))
            key = generate.get("GenerateStringKey")
            if key:
                base = json.loads(generate.get("SecretStringTemplate") or "{}")
                value = json.dumps({**base, key: password})
            else:
                value = password
        backend = secretsmanager_backends[account_id][region_name]
        answer = backend.create_secret(
            name=resource_name,
            secret_string=str(value or ""),
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags"),
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        model = cls.made(str(json.loads(answer)["ARN"]))
        model.name = resource_name
        return model

    def delete(self, account_id: str, region_name: str) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        backend.delete_secret(
            secret_id=self.name, recovery_window_in_days=None, force_delete_without_recovery=True
        )


MODELS = (Application, ApplicationVersion, ConfigurationTemplate, Environment, Secret)
