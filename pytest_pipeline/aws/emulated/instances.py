"""What runs behind an emulated Elastic Beanstalk environment: its instance and its CNAME.

An *endpoint* is the environment's CNAME: a loopback proxy (``deploy.proxy``) whose address
(``127.0.0.1:<port>``) never changes while the environment lives; swapping CNAMEs swaps
endpoints between environments. An *instance* is the bundle of one application version,
unpacked, running its ``Procfile`` ``web`` command under the virtualenv built from its
``requirements.txt`` (``venvs``), with the environment's option settings as its process
environment and nothing inherited from the emulator's own environment.

``deploy_version`` applies a deployment policy the way Elastic Beanstalk documents it:

- ``AllAtOnce``: the serving instance stops, then the new one starts (an outage while it
  starts; when it cannot start, the environment is left without a healthy instance);
- ``Rolling``, ``RollingWithAdditionalBatch``, ``Immutable``: the new instance starts beside
  the serving one and takes traffic only once healthy; when it cannot start, the old one
  never stopped serving. (One instance per environment is modelled: a rolling batch is that
  instance, deployed with an additional batch so capacity never drops.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

from pytest_pipeline.aws.emulated.venvs import Venv, VenvError, ensure_venv
from pytest_pipeline.deploy.launcher import AppProcess, AppProcessError
from pytest_pipeline.deploy.proxy import ProxyError, ProxyHandle, start_proxy
from pytest_pipeline.models import utcnow
from pytest_pipeline.runtime.orphans import MARKER

SIDE_BY_SIDE = ("Rolling", "RollingWithAdditionalBatch", "Immutable")
POLICIES = ("AllAtOnce", *SIDE_BY_SIDE)
STOP_TIMEOUT = 10.0
DRAIN_TIMEOUT = 10.0
HEALTH_SLICE = 1.0
# What an instance sees besides its option settings (a fresh EC2 instance's basics).
BASE_VARIABLES = ("HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", MARKER)
"""What an instance inherits; the run's marker lets the next run stop what a killed run's
instances left running (``pytest_pipeline.runtime.orphans``)."""
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

Say = Callable[[str, str], None]
"""``say(message, severity)``: records an environment event."""


class DeploymentFailed(RuntimeError):
    """The version could not be installed or did not pass its health check."""


class Cancelled(RuntimeError):
    """The deployment was aborted (AbortEnvironmentUpdate)."""


@dataclass
class Endpoint:
    """An environment's CNAME: the proxy that keeps it stable."""

    proxy: ProxyHandle

    @property
    def cname(self) -> str:
        return f"127.0.0.1:{self.proxy.port}"

    def point_at(self, instance: Instance | None) -> None:
        """Send new connections to ``instance`` (none: refuse them)."""
        self.proxy.switch(instance.port if instance else 0)

    def close(self) -> None:
        self.proxy.ref.stop(STOP_TIMEOUT)


def open_endpoint(log: Path) -> Endpoint:
    """Start a CNAME proxy (no upstream yet)."""
    return Endpoint(start_proxy(log))


@dataclass
class Instance:
    """One running application version."""

    instance_id: str
    label: str
    process: AppProcess
    venv: Venv
    launched_at: datetime = field(default_factory=utcnow)

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def alive(self) -> bool:
        return self.process.ref is not None and self.process.ref.alive()

    def healthy(self, path: str, timeout: float = 2.0) -> bool:
        """The process runs and ``path`` answers 200."""
        if not self.alive():
            return False
        try:
            return requests.get(self.process.url + path, timeout=timeout).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        with contextlib.suppress(AppProcessError):
            self.process.stop(STOP_TIMEOUT)


def instance_environment(variables: dict[str, str]) -> dict[str, str]:
    """The base process environment of an instance: a few basics, no emulator settings."""
    base = {key: os.environ[key] for key in BASE_VARIABLES if key in os.environ}
    base["PATH"] = SYSTEM_PATH
    return {**base, **variables}


class Runtime:
    """The instance side of one environment (see the module docstring)."""

    def __init__(self, home: Path, say: Say, health_path: str = "/health") -> None:
        self.home = home
        self.say = say
        self.health_path = health_path
        self.instance: Instance | None = None
        self._lock = threading.Lock()

    def unpack(self, label: str, bundle: bytes) -> Path:
        """Unpack ``bundle`` into a fresh folder for ``label`` (an instance's app folder)."""
        target = self.home / "versions" / f"{label}-{secrets.token_hex(3)}"
        target.mkdir(parents=True)
        zip_path = target.with_suffix(".zip")
        zip_path.write_bytes(bundle)
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(target)
        except zipfile.BadZipFile as error:
            raise DeploymentFailed(f"the source bundle of {label} is not a valid zip") from error
        finally:
            zip_path.unlink(missing_ok=True)
        return target

    def launch(
        self,
        label: str,
        app_dir: Path,
        variables: dict[str, str],
        health_timeout: float,
        cancelled: threading.Event,
    ) -> Instance:
        """Install (virtualenv from requirements.txt) and start ``label``; wait until healthy."""
        try:
            venv = ensure_venv(app_dir)
        except VenvError as error:
            raise DeploymentFailed(
                f"Instance deployment failed to install the application's dependencies "
                f"(requirements.txt): {error}"
            ) from error
        if venv.built_in:
            self.say(
                f"Installed the dependencies of {label} in a new virtualenv in "
                f"{venv.built_in:.1f}s (cached for later deployments of this requirements.txt)",
                "INFO",
            )
        if cancelled.is_set():
            raise Cancelled(label)
        instance_id = "i-" + secrets.token_hex(8)
        process = AppProcess(
            app_dir,
            variables,
            log_path=self.home / "logs" / f"{instance_id}.log",
            bin_dir=venv.bin_dir,
            base_env=instance_environment({}),
        )
        try:
            process.start()
            self._wait_healthy(process, health_timeout, cancelled)
        except AppProcessError as error:
            process.stop(STOP_TIMEOUT)
            raise DeploymentFailed(
                f"Instance {instance_id}: the application of {label} did not start or failed "
                f"its health check {self.health_path}: {error}"
            ) from error
        except Cancelled:
            process.stop(STOP_TIMEOUT)
            raise
        return Instance(instance_id, label, process, venv)

    def _wait_healthy(
        self, process: AppProcess, deadline: float, cancelled: threading.Event
    ) -> None:
        """``process.wait_healthy`` in one-second slices, so an abort is seen at once."""
        end = time.monotonic() + deadline
        while True:
            if cancelled.is_set():
                raise Cancelled(process.app_dir.name)
            left = end - time.monotonic()
            try:
                process.wait_healthy(max(0.1, min(left, HEALTH_SLICE)), path=self.health_path)
            except AppProcessError as error:
                if error.check == "process" or time.monotonic() >= end:
                    raise
                continue
            if cancelled.is_set():
                raise Cancelled(process.app_dir.name)
            return

    def deploy_version(
        self,
        label: str,
        bundle: bytes,
        variables: dict[str, str],
        policy: str,
        endpoint: Callable[[], Endpoint | None],
        health_timeout: float,
        cancelled: threading.Event,
    ) -> Instance:
        """Deploy ``label`` with ``policy``; raises ``DeploymentFailed`` or ``Cancelled``.

        ``endpoint`` returns the environment's current CNAME endpoint (it may be swapped
        while the deployment runs)."""
        with self._lock:
            app_dir = self.unpack(label, bundle)
            old = self.instance
            if policy == "AllAtOnce" and old is not None:
                self.say(
                    f"Stopping instance {old.instance_id} ({old.label}) to deploy {label}.", "INFO"
                )
                live = endpoint()
                if live is not None:
                    live.point_at(None)
                old.stop()
                self.instance = None
            try:
                new = self.launch(label, app_dir, variables, health_timeout, cancelled)
            except (DeploymentFailed, Cancelled):
                shutil.rmtree(app_dir, ignore_errors=True)
                raise
            live = endpoint()
            if live is not None:
                try:
                    live.point_at(new)
                except ProxyError as error:
                    new.stop()
                    raise DeploymentFailed(
                        f"the load balancer did not take {label}: {error}"
                    ) from error
                if old is not None and policy != "AllAtOnce":
                    live.proxy.drain(old.port, DRAIN_TIMEOUT)
            if old is not None and policy != "AllAtOnce":
                old.stop()
            self.instance = new
            if old is not None:
                shutil.rmtree(old.process.app_dir, ignore_errors=True)
            return new

    def stop(self) -> None:
        """Stop the instance (terminating the environment)."""
        with self._lock:
            if self.instance is not None:
                self.instance.stop()
                self.instance = None
