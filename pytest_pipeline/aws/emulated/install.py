"""Plugging the emulation into moto, in this process, before its server serves a request.

moto's server resolves a service's backend through ``moto.<service>.models.<name>_backends``
and routes requests with that backend's URL module; CloudFormation maps resource types to the
direct subclasses of ``CloudFormationModel`` (cached). ``install`` points Elastic Beanstalk's
backend at ``EmulatedEBBackend`` (whose URL module routes to ``EmulatedEBResponse``) and adds
the ``AWS::ElasticBeanstalk::*`` resource models.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from pytest_pipeline.aws.emulated import cfnmodels, ebresponses
from pytest_pipeline.aws.emulated.ebmodels import EmulatorState, emulated_eb_backends, shutdown_all

_lock = threading.Lock()
_installed = False


def install(endpoint_url: str | None = None) -> None:
    """Install the emulation (idempotent); ``endpoint_url`` is where the server listens (the
    environments' instances reach AWS there)."""
    global _installed

    with _lock:
        if endpoint_url:
            EmulatorState.endpoint_url = endpoint_url
        # moto's modules as they are now (a host that re-imports moto, such as a test runner
        # dropping modules between in-process runs, gets the emulation installed again)
        eb_models: Any = importlib.import_module("moto.elasticbeanstalk.models")
        eb_urls: Any = importlib.import_module("moto.elasticbeanstalk.urls")
        parsing: Any = importlib.import_module("moto.cloudformation.parsing")
        if eb_models.eb_backends is not emulated_eb_backends:
            eb_models.eb_backends = emulated_eb_backends
        eb_urls.url_paths = ebresponses.url_paths
        types = {model.cloudformation_type() for model in cfnmodels.MODELS}
        if not types <= set(parsing.get_model_map()):
            for cached in (
                parsing.get_model_list,
                parsing.get_model_map,
                parsing.get_name_type_map,
            ):
                cached.cache_clear()
        missing = types - set(parsing.get_model_map())
        if missing:
            raise RuntimeError(
                f"the Elastic Beanstalk emulation could not register {sorted(missing)} with "
                "moto's CloudFormation (moto was imported twice in this process); start the "
                "embedded backend in a process of its own (pytest-pipeline serve-aws)"
            )
        _installed = True


def installed() -> bool:
    return _installed


def shutdown() -> None:
    """Stop every emulated environment's processes of this process."""
    if not _installed:
        return

    shutdown_all()
