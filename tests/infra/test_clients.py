"""Backends, the client factory and the embedded moto server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from pytest_pipeline.aws.clients import (
    MOTO_PROBE,
    AwsBackendError,
    MotoServer,
    is_moto_server,
    resolve_context,
    server_state,
    stop_server,
)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials anywhere boto3 looks (environment, files, instance metadata)."""
    for name in list(os.environ):
        if name.startswith("AWS_") and name != "AWS_CA_BUNDLE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _never() -> str:
    raise AssertionError("the moto server must not start")


def test_auto_without_credentials_uses_moto(no_credentials: None) -> None:
    """``auto`` falls back to the embedded server and says why."""
    ctx = resolve_context("auto", start_moto=lambda: "http://127.0.0.1:1")
    assert (ctx.backend, ctx.requested) == ("moto", "auto")
    assert ctx.source == "auto: no credentials found → moto"
    assert ctx.endpoint_url == "http://127.0.0.1:1"
    assert ctx.emulated and ctx.moto_server and ctx.dummy_credentials


def test_auto_with_credentials_uses_aws(
    no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``auto`` uses real AWS when boto3 finds credentials, without starting moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    ctx = resolve_context("auto", region="eu-west-1", start_moto=_never)
    assert ctx.backend == "aws" and not ctx.emulated
    assert ctx.source == "auto: credentials found (env) → aws"
    assert ctx.endpoint_url is None
    assert ctx.env() == {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}


def test_aws_without_credentials_is_one_clear_error(no_credentials: None) -> None:
    """``aws`` without credentials says how to provide them."""
    with pytest.raises(AwsBackendError) as caught:
        resolve_context("aws", source="--aws-backend", start_moto=_never)
    message = str(caught.value)
    assert "found no AWS credentials" in message
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_PROFILE" in message
    assert "--aws-backend moto" in message and "--aws-backend" in message


def test_endpoint_needs_an_url() -> None:
    """``endpoint`` without ``aws-endpoint-url`` names the setting to give."""
    with pytest.raises(AwsBackendError, match="needs aws-endpoint-url"):
        resolve_context("endpoint")


def test_unknown_backend() -> None:
    """A backend name that does not exist lists the valid ones."""
    with pytest.raises(AwsBackendError, match="auto, moto, endpoint, aws"):
        resolve_context("localstack")


def test_client_factory_applies_region_endpoint_retries_and_timeouts(no_credentials: None) -> None:
    """One factory: region, endpoint, adaptive bounded retries, timeouts; cached per service."""
    ctx = resolve_context(
        "moto",
        region="eu-central-1",
        start_moto=lambda: "http://127.0.0.1:9",
        max_attempts=3,
        connect_timeout=2,
        read_timeout=7,
    )
    client = ctx.client("dynamodb")
    assert client is ctx.client("dynamodb")
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    config = client.meta.config
    # botocore counts retries in max_attempts and the first call in total_max_attempts
    assert config.retries["mode"] == "adaptive"
    assert config.retries["total_max_attempts"] == 4
    assert (config.connect_timeout, config.read_timeout) == (2, 7)
    probe = ctx.client("dynamodb", max_attempts=1)
    assert probe is not client and probe.meta.config.retries["total_max_attempts"] == 1


def test_env_lets_a_subprocess_reach_the_same_aws(no_credentials: None) -> None:
    """Endpoint, region and dummy credentials for the deployed app on moto."""
    ctx = resolve_context("auto", start_moto=lambda: "http://127.0.0.1:9")
    assert ctx.env() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    assert "moto at http://127.0.0.1:9" in ctx.describe()
    assert "no credentials found" in ctx.describe()


def test_threaded_server_serves_and_stops(no_credentials: None) -> None:
    """The in-process server answers AWS calls on 127.0.0.1 until stopped."""
    with MotoServer() as server:
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        assert server.pid == os.getpid()
        ctx = resolve_context("endpoint", server.endpoint_url)
        assert ctx.moto_server and ctx.dummy_credentials
        assert ctx.client("sts").get_caller_identity()["Account"] == "123456789012"
        url = server.endpoint_url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}{MOTO_PROBE}", timeout=2)


def test_an_embedded_backend_stays_one_after_a_bucket_with_objects_went(
    no_credentials: None,
) -> None:
    """An S3 object whose bucket was deleted (what every ephemeral stack's teardown leaves)
    makes moto's dashboard API ``/moto-api/data.json`` answer 500 once; the probe that tells
    an embedded backend must not take it for another endpoint then (it did: the stack then
    went the change-set way, on which moto drops the Elastic Beanstalk resources)."""
    with MotoServer() as server:
        url = server.endpoint_url
        s3 = resolve_context("endpoint", url).client("s3")
        s3.create_bucket(Bucket="probe-gone")
        s3.put_object(Bucket="probe-gone", Key="bundle.zip", Body=b"x")
        s3.delete_object(Bucket="probe-gone", Key="bundle.zip")
        s3.delete_bucket(Bucket="probe-gone")
        assert is_moto_server(url)
        assert resolve_context("endpoint", url).moto_server
    assert not is_moto_server(url)  # stopped: nothing answers
    assert not is_moto_server("http://127.0.0.1:9")


def test_detached_server_outlives_its_object_until_killed_by_pid(tmp_path: Path) -> None:
    """Under xdist the server is a detached process, recorded and killed by PID."""
    server = MotoServer(detached=True, log_path=tmp_path / "moto.log").start()
    state = server_state(server)
    assert state["detached"] and state["pid"] != os.getpid()
    assert is_moto_server(str(state["endpoint_url"]))
    stop_server(state)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{state['endpoint_url']}{MOTO_PROBE}", timeout=2)
    with pytest.raises(ProcessLookupError):
        os.kill(int(state["pid"]), 0)
