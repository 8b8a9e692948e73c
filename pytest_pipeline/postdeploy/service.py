"""The service under test: waiting for ``/health``, a load run's figures, and ``app/`` run
locally for the predeploy stage (a private moto server, the real ``infra/`` template
provisioned through ``aws.stacks.provision``, the Procfile under gunicorn on loopback).

The fixtures in :mod:`pytest_pipeline.plugin.fixtures.service` load this module when a test asks
for the service.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from pytest_pipeline.aws.clients import MotoServer, resolve_context
from pytest_pipeline.aws.stacks import provision
from pytest_pipeline.deploy.launcher import AppProcess
from pytest_pipeline.postdeploy.http import ServiceClient
from pytest_pipeline.retry import RetryError, wait_until

if TYPE_CHECKING:
    from pytest_pipeline.postdeploy.load import LoadResult

LOCAL_APP_VERSION = "predeploy-local"


@dataclass
class ServiceAvailability:
    """Whether the service came up: the client, and the reason when it did not."""

    client: ServiceClient
    ok: bool
    reason: str
    waited_s: float
    version: str | None = None


def wait_for_service(url: str, timeout_s: float) -> ServiceAvailability:
    """Poll ``GET /health`` until it answers 200 or ``timeout_s`` passes (retry helper)."""
    client = ServiceClient(url)
    started = time.monotonic()
    last: list[str] = ["no answer yet"]

    def probe() -> bool:
        try:
            resp = client.get("/health", timeout_s=min(10.0, max(timeout_s, 1.0)))
        except requests.RequestException as error:
            last[0] = f"{type(error).__name__}: {error}"
            return False
        last[0] = f"HTTP {resp.status}: {resp.text(160)!r}"
        return resp.status == 200

    try:
        wait_until(probe, what=f"GET {url}/health to answer 200", deadline=timeout_s)
    except RetryError:
        waited = time.monotonic() - started
        return ServiceAvailability(
            client,
            False,
            f"service at {url} did not answer GET /health with 200 within {timeout_s:g}s "
            f"(health-timeout); last answer: {last[0]}",
            waited,
        )
    version = None
    with contextlib.suppress(requests.RequestException, ValueError):
        version = client.get("/health").json_field("version")
    return ServiceAvailability(client, True, "", time.monotonic() - started, version)


@dataclass
class LoadRun:
    """A finished load run with the server's CPU/memory samples (when the server is local)."""

    result: LoadResult
    peak_rss_mb: float | None
    mean_cpu_percent: float | None
    resources_note: str


def discard_load_state(state: dict[str, Any]) -> None:
    """Nothing to tear down after a load run (its state is only figures)."""


class PropertyRecord:
    """Figures as JUnit properties when the reporting plugin's ``pipeline_record`` is absent."""

    def __init__(self, record_property: Any) -> None:
        self._record = record_property

    def figure(self, name: str, value: Any, unit: str = "") -> None:
        """A key figure as a JUnit property."""
        self._record(name, f"{value}{unit and ' ' + unit}")

    def slo(self, objective: str, measured: Any, unit: str = "") -> None:
        """The objective and the measured value as JUnit properties."""
        self._record("slo", objective)
        self._record("slo_measured", f"{measured}{unit and ' ' + unit}")

    def image(self, title: str, data: bytes, mime: str = "image/png") -> None:
        """Pictures need the HTML report; only their size is recorded."""
        self._record(f"image:{title}", f"{len(data)} bytes {mime}")

    def side_by_side(self, title: str, items: list[tuple[str, bytes, str]]) -> None:
        """Pictures need the HTML report; only their captions are recorded."""
        self._record(f"pictures:{title}", ", ".join(caption for caption, _, _ in items))

    def histogram(self, title: str, values_ms: list[float]) -> None:
        """The sample count of a histogram."""
        self._record(f"histogram:{title}", f"{len(values_ms)} samples")

    def table(self, title: str, rows: list[Any]) -> None:
        """A table as one property per row."""
        for index, row in enumerate(rows):
            self._record(f"{title}[{index}]", str(row))


@dataclass
class LocalApp:
    """``app/`` under gunicorn on loopback against a private moto server with the real stack."""

    url: str
    table_name: str
    bucket_name: str
    allowed_origins: list[str]
    aws: Any
    pids: list[int]


class LocalAppRunner:
    """Start and stop the local app (moto server, stack from ``infra/``, gunicorn)."""

    def __init__(
        self,
        app_dir: Path,
        template: Path,
        parameters: dict[str, str] | None = None,
        health_timeout_s: float = 60.0,
    ) -> None:
        self.app_dir = app_dir
        self.template = template
        self.parameters = dict(parameters or {})
        self.health_timeout_s = health_timeout_s
        self._moto: Any = None
        self._process: Any = None

    def start(self) -> LocalApp:
        """Provision the stack on a fresh moto server and start the app; wait until healthy."""
        self._moto = MotoServer().start()
        endpoint = self._moto.endpoint_url
        # The "moto" backend on our own server: known to be moto without probing it (a probe
        # that times out on a busy machine would turn off the moto-specific stack handling).
        ctx = resolve_context(
            "moto", source="predeploy local app (private moto)", start_moto=lambda: endpoint
        )
        state = provision(
            ctx, self.template, "passport-photo-predeploy", self.parameters, timeout=120
        )
        outputs = state.outputs
        origins = [o.strip() for o in outputs.get("AllowedOrigins", "").split(",") if o.strip()]
        env = {
            **ctx.env(),
            "TABLE_NAME": outputs["TableName"],
            "BUCKET_NAME": outputs["PhotoBucketName"],
            "ALLOWED_ORIGINS": ",".join(origins),
            "APP_VERSION": LOCAL_APP_VERSION,
            "MAX_UPLOAD_MB": "10",
        }
        # The app runs in its own virtualenv, built from its requirements.txt as Elastic
        # Beanstalk builds it (cached by the file's hash): the pipeline's own environment
        # need not hold the app's dependencies.
        # the embedded backend (moto): the optional extra 'embedded', which local_app demands
        from pytest_pipeline.aws.emulated.venvs import ensure_venv

        app_venv = ensure_venv(self.app_dir)
        self._process = AppProcess(self.app_dir, env, bin_dir=app_venv.bin_dir).start()
        self._process.wait_healthy(
            self.health_timeout_s, LOCAL_APP_VERSION, timeout_name="health-timeout"
        )
        pids = [self._process.pid] if self._process.pid else []
        return LocalApp(
            self._process.url, env["TABLE_NAME"], env["BUCKET_NAME"], origins, ctx, pids
        )

    def stop(self) -> None:
        """Stop the app and the moto server (each even if the other fails)."""
        try:
            if self._process is not None:
                self._process.stop()
        finally:
            if self._moto is not None:
                self._moto.stop()

    def __enter__(self) -> LocalApp:
        """Start; a start that fails half-way stops what it started before raising."""
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
