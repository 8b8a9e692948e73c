"""The embedded deploy target: what Elastic Beanstalk does, on this machine.

An environment lives in ``<root>/local/<env>/``: application versions unpacked under
``versions/<label>/``, logs under ``logs/``, and ``state.json`` (versions, serving and
previous labels, the proxy's and the apps' PIDs and ports, events). Any process can build a
``LocalTarget`` on the same folder and *attach* to the running environment — another xdist
worker, or a later pytest run rolling back.

Deploying is blue/green: the new version starts beside the serving one, the stable URL (a
loopback proxy, see ``deploy.proxy``) switches to it only once its ``/health`` reports the
new label, and the old version is stopped after its open connections drained. A version that
fails its health check never takes traffic.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import psutil
import requests
from filelock import FileLock, Timeout

from pytest_pipeline.aws.bundles import Bundle, sha256_file
from pytest_pipeline.deploy.base import DeployError, deployed, event, rolled_back
from pytest_pipeline.deploy.launcher import AppProcess, AppProcessError, ProcessRef
from pytest_pipeline.deploy.localstate import LocalState
from pytest_pipeline.deploy.proxy import ProxyError, ProxyHandle, start_proxy
from pytest_pipeline.models import DeploymentEvent, DeploymentMetadata, utcnow
from pytest_pipeline.retry import Backoff, wait_until

# Stack output -> environment variable the application reads.
OUTPUT_ENV = {
    "TableName": "TABLE_NAME",
    "PhotoBucketName": "BUCKET_NAME",
    "AllowedOrigins": "ALLOWED_ORIGINS",
    "MaxUploadMb": "MAX_UPLOAD_MB",
    "AppSecretArn": "APP_SECRET_ARN",
}


def app_environment(outputs: dict[str, str], aws_env: dict[str, str]) -> dict[str, str]:
    """The application's environment: mapped stack outputs plus the AWS region/endpoint."""
    env = dict(aws_env)
    env.update({var: outputs[key] for key, var in OUTPUT_ENV.items() if key in outputs})
    return env


class LocalTarget:
    """A local Elastic-Beanstalk-like environment (see the module docstring)."""

    name = "local"

    def __init__(
        self,
        root: Path | str,
        environment: str,
        app_env: dict[str, str] | None = None,
        health_timeout: float = 60.0,
        drain_timeout: float = 10.0,
        stop_timeout: float = 10.0,
        timeout_name: str = "deploy-timeout",
    ) -> None:
        self.environment = environment
        self.timeout_name = timeout_name
        """The setting ``health_timeout`` came from (named when it expires)."""
        self.home = Path(root) / "local" / environment
        self.app_env = dict(app_env or {})
        self.health_timeout = health_timeout
        self.drain_timeout = drain_timeout
        self.stop_timeout = stop_timeout
        self.state_path = self.home / "state.json"
        self._lock = FileLock(str(self.home / "state.lock"))

    # -- state -----------------------------------------------------------------------------

    def _load(self) -> LocalState:
        return LocalState.read(self.state_path)

    def _save(self, state: LocalState) -> None:
        state.write(self.state_path, self.environment)

    def _locked(self) -> FileLock:
        self.home.mkdir(parents=True, exist_ok=True)
        return self._lock

    def _acquire(self) -> None:
        timeout = self.health_timeout + self.drain_timeout + 2 * self.stop_timeout + 30
        try:
            self._locked().acquire(timeout=timeout)
        except Timeout as error:
            raise DeployError(
                f"another deployment to local environment {self.environment} held "
                f"{self._lock.lock_file} for {timeout:.0f}s",
                remediation="wait for it to finish, or remove the lock if its process is gone",
            ) from error

    # -- the protocol ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The stable URL (the proxy) of the environment."""
        proxy = self._load().proxy
        if proxy is None:
            raise DeployError(
                f"local environment {self.environment} has no deployment yet ({self.home})",
                remediation="deploy a bundle first",
            )
        return ProxyHandle.from_dict(proxy).url

    def current_version(self) -> str | None:
        """The label serving traffic."""
        return self._load().serving

    def previous_version(self) -> str | None:
        """The label that served before the current one."""
        return self._load().previous

    def versions(self) -> list[str]:
        """Application versions known to the environment, oldest first."""
        return self._load().labels()

    def events(self) -> list[DeploymentEvent]:
        """The environment's events, oldest first."""
        return [DeploymentEvent.from_dict(item) for item in self._load().events]

    def health(self) -> dict[str, Any]:
        """``/health`` through the stable URL, with the serving label and the HTTP status."""
        state = self._load()
        result: dict[str, Any] = {"status": "down", "version": state.serving, "color": "Grey"}
        if state.proxy is None:
            return {**result, "detail": "no deployment"}
        url = ProxyHandle.from_dict(state.proxy).url + "/health"
        try:
            response = requests.get(url, timeout=5)
        except requests.RequestException as error:
            return {**result, "color": "Red", "detail": f"{url}: {type(error).__name__}"}
        try:
            body = response.json()
        except ValueError:
            body = {}
        ok = response.status_code == 200 and body.get("status") == "ok"
        return {
            "status": "ok" if ok else "degraded",
            "color": "Green" if ok else "Red",
            "version": body.get("version", state.serving),
            "http_status": response.status_code,
            "body": body,
        }

    def deploy(self, bundle: Bundle) -> DeploymentMetadata:
        """Unpack the bundle as a new version and switch to it once healthy (blue/green)."""
        started = utcnow()
        self._acquire()
        try:
            state = self._load()
            new_events: list[DeploymentEvent] = []
            previous = state.serving
            try:
                self._unpack(state, bundle, new_events)
                self._activate(state, bundle.version_label, new_events)
            finally:
                self._record(state, new_events)
            return deployed(self, self.environment, bundle, previous, started, new_events)
        finally:
            self._lock.release()

    def rollback(self, to_version: str | None = None) -> DeploymentMetadata:
        """Serve ``to_version`` (default: the previous version) again, blue/green."""
        started = utcnow()
        self._acquire()
        try:
            state = self._load()
            current = state.serving
            target = to_version or state.previous
            new_events: list[DeploymentEvent] = []
            if target is None or state.version(target) is None:
                known = ", ".join(state.labels()) or "none"
                raise DeployError(
                    f"cannot roll back local environment {self.environment} to "
                    f"{target or '(no previous version)'}: known versions: {known}",
                    self.events(),
                    remediation="name an existing version label, or deploy one first",
                )
            new_events.append(event(f"rolling back from {current} to {target}"))
            try:
                self._activate(state, target, new_events)
            finally:
                self._record(state, new_events)
            sha256 = (state.version(target) or {}).get("sha256")
            return rolled_back(self, self.environment, target, current, started, new_events, sha256)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Nothing to release: the environment keeps running for others to attach (see destroy)."""

    def pids(self) -> list[int]:
        """PIDs of every process the environment runs (proxy and application versions)."""
        state = self._load()
        refs = [ProcessRef.from_dict(app) for app in state.apps.values()]
        if state.proxy:
            refs.append(ProcessRef.from_dict(state.proxy))
        return [ref.pid for ref in refs if ref.alive()]

    def serving_pids(self) -> list[int]:
        """PIDs of the serving version: its gunicorn master and workers (for resource sampling)."""
        state = self._load()
        app = state.apps.get(state.serving or "")
        proc = ProcessRef.from_dict(app).process() if app else None
        if proc is None:
            return []
        try:
            return [proc.pid, *(child.pid for child in proc.children(recursive=True))]
        except psutil.Error:
            return [proc.pid]

    def destroy(self, remove_files: bool = False, owner: str | None = None) -> list[int]:
        """Stop every process of the environment, verify each is gone by PID; return the PIDs.

        ``remove_files`` also deletes the unpacked versions (state and logs stay for review).
        With ``owner`` (the label a run deployed), the environment is left alone when it now
        serves another label: a later run deployed over it and owns it.
        """
        self._acquire()
        try:
            state = self._load()
            if owner is not None and state.serving not in (None, owner):
                self._record(
                    state, [event(f"teardown for {owner} skipped: {state.serving} serves now")]
                )
                return []
            refs = [ProcessRef.from_dict(app) for app in state.apps.values()]
            if state.proxy:
                refs.append(ProcessRef.from_dict(state.proxy))
            stopped = [ref.pid for ref in refs if ref.alive()]
            for ref in refs:
                ref.stop(self.stop_timeout)
            survivors = [ref.pid for ref in refs if ref.alive()]
            if survivors:
                raise DeployError(
                    f"processes {survivors} of local environment {self.environment} survived "
                    "termination",
                    remediation=f"kill them by hand (kill -9 {survivors[0]})",
                )
            state.apps, state.proxy, state.serving = {}, None, None
            if remove_files:
                shutil.rmtree(self.home / "versions", ignore_errors=True)
                state.versions, state.previous = [], None
            self._record(state, [event(f"environment terminated (stopped PIDs {stopped})")])
        finally:
            self._lock.release()
        return stopped

    # -- internals -------------------------------------------------------------------------

    def _record(self, state: LocalState, new_events: list[DeploymentEvent]) -> None:
        state.events.extend(item.to_dict() for item in new_events)
        self._save(state)

    def _version_dir(self, label: str) -> Path:
        return self.home / "versions" / label

    def _unpack(self, state: LocalState, bundle: Bundle, new_events: list[DeploymentEvent]) -> None:
        label = bundle.version_label
        actual = sha256_file(bundle.path)
        if actual != bundle.sha256:
            raise DeployError(
                f"bundle {bundle.path} has sha256 {actual}, not the recorded {bundle.sha256}",
                remediation="rebuild the bundle; it changed after it was built",
            )
        known = state.version(label)
        if known is not None:
            if known["sha256"] != bundle.sha256:
                raise DeployError(
                    f"application version {label} already exists with different content",
                    remediation="version labels are immutable: build the bundle with a new label",
                )
            if self._version_dir(label).is_dir():
                return
        target = self._version_dir(label)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{label}-", dir=target.parent))
        with zipfile.ZipFile(bundle.path) as zf:
            zf.extractall(staging)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        if known is None:
            state.versions.append(
                {
                    "label": label,
                    "sha256": bundle.sha256,
                    "bundle_key": bundle.s3_key,
                    "created_at": utcnow().isoformat(),
                }
            )
        new_events.append(event(f"created application version {label} ({bundle.sha256[:12]})"))

    def _proxy(self, state: LocalState, new_events: list[DeploymentEvent]) -> ProxyHandle:
        if state.proxy is not None:
            handle = ProxyHandle.from_dict(state.proxy)
            if handle.ref.alive():
                return handle
            new_events.append(event(f"proxy PID {handle.ref.pid} was gone; restarting it", "WARN"))
        serving = state.apps.get(state.serving or "")
        upstream = int(serving["port"]) if serving else None
        log = self.home / "logs" / "proxy.log"
        port = int(state.proxy["port"]) if state.proxy else 0
        try:
            handle = start_proxy(log, upstream=upstream, port=port)
        except ProxyError:
            if port == 0:
                raise
            handle = start_proxy(log, upstream=upstream, port=0)
        state.proxy = handle.to_dict()
        new_events.append(event(f"proxy listening on {handle.url} (PID {handle.ref.pid})"))
        return handle

    def _start_healthy(
        self, state: LocalState, label: str, new_events: list[DeploymentEvent]
    ) -> AppProcess:
        env = {**self.app_env, "APP_VERSION": label}
        key = f"{label} (starting)"
        for attempt in (1, 2):
            app = AppProcess(self._version_dir(label), env, log_path=self._log(label))
            try:
                app.start()
            except AppProcessError as error:
                new_events.append(event(f"{label} could not start: {error}", "ERROR"))
                raise DeployError(
                    f"version {label} could not start in local environment "
                    f"{self.environment}: {error}",
                    new_events,
                    remediation="check the version's Procfile and that its files are intact "
                    f"under {self._version_dir(label)}; deploy a fresh bundle if they are not",
                ) from error
            new_events.append(event(f"started {label} on port {app.port} (PID {app.pid})"))
            # Recorded before the wait, so a crash here leaves a trace the next deploy cleans.
            state.apps[key] = self._app_record(app)
            self._save(state)
            try:
                app.wait_healthy(
                    self.health_timeout, expect_version=label, timeout_name=self.timeout_name
                )
            except AppProcessError as error:
                app.stop(self.stop_timeout)
                state.apps.pop(key, None)
                if attempt == 1 and "Address already in use" in error.log_tail:
                    new_events.append(event(f"port {app.port} was taken; retrying", "WARN"))
                    continue
                new_events.append(event(f"{label} failed health check {error.check}", "ERROR"))
                raise DeployError(
                    f"version {label} failed its health check '{error.check}' in local "
                    f"environment {self.environment}: {error}",
                    new_events,
                    remediation=f"the new version never took traffic; fix the failing check "
                    f"(log: {app.log_path}) and deploy a new version",
                ) from error
            state.apps.pop(key, None)
            new_events.append(event(f"{label} is healthy on port {app.port}"))
            return app
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _app_record(app: AppProcess) -> dict[str, Any]:
        return {
            **(app.ref.to_dict() if app.ref else {}),
            "port": app.port,
            "log": str(app.log_path),
        }

    def _stop_stale(
        self, state: LocalState, keep: set[str], new_events: list[DeploymentEvent]
    ) -> None:
        """Stop recorded processes that serve nothing (left by a run that crashed mid-deploy)."""
        for name in [name for name in state.apps if name not in keep]:
            ref = ProcessRef.from_dict(state.apps.pop(name))
            if ref.alive():
                ref.stop(self.stop_timeout)
                new_events.append(event(f"stopped stale process of {name} (PID {ref.pid})", "WARN"))

    def _log(self, label: str) -> Path:
        return self.home / "logs" / f"{label}-{utcnow():%Y%m%dT%H%M%S%f}.log"

    def _activate(self, state: LocalState, label: str, new_events: list[DeploymentEvent]) -> None:
        """Start ``label`` beside the serving version, switch the proxy, drain and stop the old."""
        old_label = state.serving
        running = state.apps.get(label)
        if old_label == label and running and ProcessRef.from_dict(running).alive():
            new_events.append(event(f"{label} is already serving"))
            return
        try:
            proxy = self._proxy(state, new_events)
        except ProxyError as error:
            raise DeployError(str(error), new_events, "see the proxy log") from error
        self._stop_stale(state, keep={label, old_label or ""}, new_events=new_events)
        app = self._start_healthy(state, label, new_events)
        old = state.apps.get(old_label) if old_label and old_label != label else None
        try:
            proxy.switch(app.port)
            self._confirm(proxy, label)
        except (ProxyError, DeployError) as error:
            if old is not None:
                proxy.switch(int(old["port"]))
            app.stop(self.stop_timeout)
            new_events.append(event(f"switch to {label} failed: {error}", "ERROR"))
            raise DeployError(
                f"could not switch local environment {self.environment} to {label}: {error}",
                new_events,
                remediation=f"{old_label or 'nothing'} keeps serving; see {proxy.url} and the "
                f"proxy log in {self.home / 'logs'}",
            ) from error
        new_events.append(event(f"traffic switched to {label} at {proxy.url}"))
        if old is not None:
            state.apps.pop(old_label or "", None)
        state.apps[label] = self._app_record(app)
        state.serving = label
        if old_label and old_label != label:
            state.previous = old_label
        self._save(state)  # attachers see the new serving version before the old one stops
        if old is not None:
            drained = proxy.drain(int(old["port"]), self.drain_timeout)
            ProcessRef.from_dict(old).stop(self.stop_timeout)
            new_events.append(
                event(
                    f"stopped {old_label} (PID {old['pid']})"
                    + (
                        ""
                        if drained
                        else f" with connections still open after {self.drain_timeout}s"
                    ),
                    "INFO" if drained else "WARN",
                )
            )

    def _confirm(self, proxy: ProxyHandle, label: str) -> None:
        def serves() -> bool:
            response = requests.get(proxy.url + "/health", timeout=3)
            return response.status_code == 200 and response.json().get("version") == label

        try:
            wait_until(
                serves,
                what=f"{proxy.url} to serve {label}",
                deadline=10,
                retry_on=(requests.RequestException, ValueError),
                backoff=Backoff(0.02, 0.3),
            )
        except TimeoutError as error:
            raise DeployError(
                f"the proxy at {proxy.url} switched but does not serve {label}: {error}",
                remediation="check the proxy log and the state file; then deploy again",
            ) from error
