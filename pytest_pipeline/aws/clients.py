"""The one boto3 client factory of the project, the AWS backends and the embedded moto server.

Backends (``aws-backend``):

- ``auto``: real AWS when boto3 finds credentials, otherwise the embedded moto server;
- ``moto``: the embedded moto server on 127.0.0.1 and a free port;
- ``endpoint``: an already running AWS-compatible endpoint (``aws-endpoint-url``: a
  long-running moto server, LocalStack);
- ``aws``: real AWS, and a clear error when no credentials are found.

How the embedded server runs. In a single process it is a ``moto.server.ThreadedMotoServer``
(no extra process, fast start). Under pytest-xdist it is a *detached subprocess*
(``python -m pytest_pipeline.aws.emulated.server``, 127.0.0.1, a free port) started once
per run through ``runonce.once_per_run`` and killed by PID at teardown: a server living in
one worker's thread dies when that worker finishes before the others, taking the other workers' AWS
with it. Either way the server listens on a TCP port, so subprocesses (the deployed app)
reach the same fake AWS through ``AWS_ENDPOINT_URL`` (see ``AwsContext.env``). Either way
it serves the emulated Elastic Beanstalk too (``aws.emulated``).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import botocore.session
import requests
from botocore.config import Config

from pytest_pipeline.retry import wait_until

Backend = Literal["moto", "endpoint", "aws"]
BACKENDS = ("auto", "moto", "endpoint", "aws")
DEFAULT_REGION = "us-east-1"
# moto accepts any key; these make it obvious in logs that nothing real is used.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class AwsBackendError(RuntimeError):
    """The requested AWS backend cannot be used; the message says how to fix it."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


MOTO_PROBE = "/moto-api/config"
"""What tells a moto server: its configuration API answers with a JSON object. Not the
dashboard's ``/moto-api/data.json``: that reads every property of every model moto still
tracks, and one S3 object whose bucket was deleted since makes it answer 500 (moto's
``FakeKey.status`` looks the bucket up), so a probe through it took a live embedded backend
for another endpoint."""


def _answers(url: str) -> bool:
    try:
        requests.get(f"{url}{MOTO_PROBE}", timeout=1)  # any HTTP answer: the server is up
    except requests.RequestException:
        return False
    return True


def is_moto_server(url: str) -> bool:
    """True when ``url`` is a moto server (it serves its own configuration API)."""
    try:
        answer = requests.get(f"{url.rstrip('/')}{MOTO_PROBE}", timeout=2)
    except requests.RequestException:
        return False
    if not answer.ok:
        return False
    try:
        return isinstance(answer.json(), dict)
    except ValueError:
        return False


def wait_for_endpoint(url: str, deadline: float = 20.0) -> None:
    """Block until ``url`` answers HTTP, or raise ``RetryError`` after ``deadline`` seconds."""
    wait_until(lambda: _answers(url), what=f"moto server at {url}", deadline=deadline)


class MotoServer:
    """The embedded moto server: start/stop, context manager, ``endpoint_url``, ``pid``.

    ``detached=False`` runs a ``ThreadedMotoServer`` in this process; ``detached=True``
    runs ``python -m moto.server`` in its own session, so it outlives the process that
    started it until ``stop()`` or ``kill_pid()`` (used under xdist).
    """

    def __init__(
        self, *, detached: bool = False, host: str = "127.0.0.1", log_path: Path | None = None
    ) -> None:
        self.detached = detached
        self.host = host
        self.log_path = log_path
        self.port: int | None = None
        self.pid: int | None = None
        self._thread_server: Any = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running server."""
        if self.port is None:
            raise AwsBackendError("moto server is not running: call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.port is not None

    def start(self) -> MotoServer:
        """Start the server on a free port and wait until it answers; returns ``self``."""
        return self.start_on(0)

    def start_on(self, port: int) -> MotoServer:
        """Start the server on ``port`` (0: a free one) and wait until it answers."""
        with self._lock:
            if self.port is not None:
                return self
            port = port or free_port(self.host)
            if self.detached:
                self._start_process(port)
            else:
                # moto and the emulation load in this process only for the in-process server
                # (a detached server, an endpoint or real AWS never import them), and the
                # emulation imports this module: a cycle at module level.
                from moto.server import ThreadedMotoServer

                from pytest_pipeline.aws import emulated

                _quiet_moto()
                emulated.install(f"http://{self.host}:{port}")
                server = ThreadedMotoServer(ip_address=self.host, port=port, verbose=False)
                server.start()
                self._thread_server = server
                self.pid = os.getpid()
            self.port = port
        try:
            wait_for_endpoint(self.endpoint_url)
        except Exception:
            self.stop()
            raise
        return self

    def _start_process(self, port: int) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [*SERVER_COMMAND, "--host", self.host, "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **DUMMY_CREDENTIALS},
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]  # a file here: DEVNULL is an int
        self.pid = self._process.pid

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        with self._lock:
            if self._thread_server is not None:
                from pytest_pipeline.aws import emulated  # a cycle: it imports this module

                emulated.shutdown()
                self._thread_server.stop()
                self._thread_server = None
            elif self._process is not None:
                kill_pid(self._process.pid)
                self._process.wait(timeout=10)
                self._process = None
            self.port = None
            self.pid = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _quiet_moto() -> None:
    # In-process server: its request log and its notes about resource types it does not
    # model would flood the test output; provisioning reports unmodelled resources itself.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    logging.getLogger("moto").setLevel(logging.ERROR)  # parsing.py logs as "moto"
    warnings.filterwarnings(
        "ignore", message="Tried to parse .* not supported by moto", category=UserWarning
    )


def kill_pid(pid: int, timeout: float = 5.0) -> bool:
    """Terminate the process ``pid`` (SIGTERM, then SIGKILL); True if it was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for existence instead
            finished = 0
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        if finished:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


_servers: dict[int, MotoServer] = {}


def server_state(server: MotoServer) -> dict[str, Any]:
    """JSON state of a running server (for ``runonce.once_per_run``); see ``stop_server``."""
    assert server.port is not None, "server_state() needs a started server"
    _servers[server.port] = server
    return {
        "endpoint_url": server.endpoint_url,
        "pid": server.pid,
        "port": server.port,
        "detached": server.detached,
    }


def stop_server(state: dict[str, Any]) -> None:
    """Destroy callback of ``server_state``: kill a detached server by PID, or stop the
    in-process threaded server this process started."""
    server = _servers.pop(int(state.get("port") or 0), None)
    if server is not None:
        server.stop()
    elif state.get("detached") and state.get("pid"):
        kill_pid(int(state["pid"]))


_loader_lock = threading.Lock()
_loader: Any = None


def _new_session() -> Any:
    """A boto3 session sharing one botocore data loader: service models (large JSON files)
    are then parsed once per process instead of once per client."""
    global _loader
    core = botocore.session.get_session()
    with _loader_lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    return boto3.session.Session(botocore_session=core)


def find_credentials(region: str = DEFAULT_REGION) -> str | None:
    """Where boto3 would take credentials from (``env``, ``shared-credentials-file``...)."""
    credentials = boto3.session.Session(region_name=region).get_credentials()
    if credentials is None:
        return None
    return str(getattr(credentials, "method", "unknown"))


_serves_eb: dict[str, bool] = {}
SERVER_COMMAND = (sys.executable, "-m", "pytest_pipeline.aws.emulated.server")


@dataclass(frozen=True)
class AwsContext:
    """Where AWS is for this run, and the one factory of boto3 clients."""

    backend: Backend
    requested: str
    source: str
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    dummy_credentials: bool = False
    moto_server: bool = False
    """The endpoint is a moto server (its quirks are worked around, DESIGN §2)."""
    _clients: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def emulated(self) -> bool:
        """True unless this is real AWS (moto or another endpoint)."""
        return self.backend != "aws"

    def config(self) -> Config:
        """Region, adaptive retries with bounded attempts, and timeouts."""
        return Config(
            region_name=self.region,
            retries={"mode": "adaptive", "max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def client(self, service: str, *, max_attempts: int | None = None) -> Any:
        """A boto3 client for ``service`` on this backend (cached: one per service).

        ``max_attempts`` overrides the bound on attempts (first call included), e.g. 1 for
        probes whose failure is an answer (an API the backend does not implement).
        """
        key = service if max_attempts is None else f"{service}#{max_attempts}"
        with self._lock:
            if key not in self._clients:
                config = self.config()
                if max_attempts is not None:
                    config = config.merge(
                        Config(retries={"mode": "adaptive", "total_max_attempts": max_attempts})
                    )
                kwargs: dict[str, Any] = {"config": config, "region_name": self.region}
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                if self.dummy_credentials:
                    kwargs["aws_access_key_id"] = DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]
                    kwargs["aws_secret_access_key"] = DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
                self._clients[key] = _new_session().client(service, **kwargs)
            return self._clients[key]

    def serves_elasticbeanstalk(self) -> bool:
        """True when Elastic Beanstalk deployments can run here: real AWS, or an endpoint
        serving the emulated Elastic Beanstalk (it answers DescribeEvents, which stock moto
        does not implement). Probed once per endpoint."""
        if not self.emulated:
            return True
        url = str(self.endpoint_url)
        if url not in _serves_eb:
            try:
                self.client("elasticbeanstalk", max_attempts=1).describe_events(MaxRecords=1)
            except Exception:  # stock moto answers 500; anything else: no usable EB here
                _serves_eb[url] = False
            else:
                _serves_eb[url] = True
        return _serves_eb[url]

    def env(self) -> dict[str, str]:
        """Environment variables that make a subprocess reach this same AWS."""
        values = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            values["AWS_ENDPOINT_URL"] = self.endpoint_url
        if self.dummy_credentials:
            values.update(DUMMY_CREDENTIALS)
        return values

    def describe(self) -> str:
        """One line for the report header."""
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"aws backend: {self.backend}{where}, region {self.region} ({self.source})"


def resolve_context(
    backend: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    *,
    source: str = "default",
    start_moto: Any = None,
    max_attempts: int = 5,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> AwsContext:
    """Resolve the requested backend into an ``AwsContext``.

    ``start_moto`` is a callable returning the endpoint URL of a running moto server; it is
    only called when the moto server is actually needed (default: a process-wide threaded
    server, stopped at interpreter exit).
    """
    if backend not in BACKENDS:
        raise AwsBackendError(
            f"aws-backend: unknown backend {backend!r} (from {source}); "
            f"choose one of {', '.join(BACKENDS)}"
        )
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = region or DEFAULT_REGION
    common: dict[str, Any] = {
        "requested": backend,
        "region": region,
        "max_attempts": max_attempts,
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
    }
    if backend == "endpoint":
        if not endpoint_url:
            raise AwsBackendError(
                f"aws-backend 'endpoint' (from {source}) needs aws-endpoint-url: pass "
                "--aws-endpoint-url http://127.0.0.1:5000 or set PIPELINE_AWS_ENDPOINT_URL"
            )
        return AwsContext(
            backend="endpoint",
            source=f"{source}: endpoint {endpoint_url}",
            endpoint_url=endpoint_url,
            dummy_credentials=find_credentials(region) is None,
            moto_server=is_moto_server(endpoint_url),
            **common,
        )
    method = find_credentials(region) if backend in ("auto", "aws") else None
    if backend == "aws" or (backend == "auto" and method):
        if not method:
            raise AwsBackendError(
                f"aws-backend 'aws' (from {source}) but boto3 found no AWS credentials: set "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials, "
                "or run where an instance/task role or OIDC web identity is available; or use "
                "--aws-backend moto for the embedded server"
            )
        why = f"auto: credentials found ({method}) → aws" if backend == "auto" else source
        return AwsContext(backend="aws", source=why, **common)
    starter = start_moto or default_moto_endpoint
    url = str(starter())
    why = "auto: no credentials found → moto" if backend == "auto" else source
    return AwsContext(
        backend="moto",
        source=why,
        endpoint_url=url,
        dummy_credentials=True,
        moto_server=True,
        **common,
    )


_default_server: MotoServer | None = None
_default_lock = threading.Lock()


def recorded_context(endpoint_url: str | None, region: str | None, *, source: str) -> AwsContext:
    """The AWS a run recorded (its ``aws`` record or its stack's): the endpoint it used, or
    real AWS. Few retries: the end of a run must not hang on a backend that went away."""
    return resolve_context(
        "endpoint" if endpoint_url else "aws",
        endpoint_url,
        region,
        source=source,
        max_attempts=2,
    )


def default_moto_endpoint() -> str:
    """The process-wide threaded moto server, started on first use, stopped at exit."""
    global _default_server
    with _default_lock:
        if _default_server is None:
            _default_server = MotoServer().start()
            atexit.register(_default_server.stop)
        return _default_server.endpoint_url
