"""The embedded backend's additions to moto: Elastic Beanstalk's API and running environments.

``install(endpoint_url)`` plugs them into moto (in this process) before a moto server starts;
``EmulatedAws`` runs the whole embedded backend as a context manager or standalone server
(``pytest-pipeline serve-aws``). Plain library code: no pytest import.
"""

from __future__ import annotations

from pytest_pipeline.aws.emulated.install import install, installed, shutdown

__all__ = ["install", "installed", "shutdown"]
