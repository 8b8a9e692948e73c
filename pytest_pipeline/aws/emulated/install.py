"""Plugging the emulation into moto, in this process, before its server serves a request.

moto's server resolves a service's backend through ``moto.<service>.models.<name>_backends``
and routes requests with that backend's URL module; CloudFormation maps resource types to the
direct subclasses of ``CloudFormationModel`` (cached). ``install`` points Elastic Beanstalk's
backend at ``EmulatedEBBackend`` (whose URL module routes to ``EmulatedEBResponse``) and adds
the ``AWS::ElasticBeanstalk::*`` resource models.
"""

from __future__ import annotations

import threading

import moto.elasticbeanstalk.models as eb_models
import moto.elasticbeanstalk.urls as eb_urls
from moto.cloudformation import parsing

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
        if _installed:
            return

        eb_models.eb_backends = emulated_eb_backends  # type: ignore[assignment]  # our backend class
        eb_urls.url_paths = ebresponses.url_paths
        assert cfnmodels.MODELS  # imported: the subclasses exist now
        for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
            cached.cache_clear()
        _installed = True


def installed() -> bool:
    return _installed


def shutdown() -> None:
    """Stop every emulated environment's processes of this process."""
    if not _installed:
        return

    shutdown_all()
