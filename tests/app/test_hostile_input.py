"""Hostile input against app/ under gunicorn on loopback: no answer >= 500, every error in
the contract's JSON shape, kept-alive connections stay usable, worker memory bounded.

Requests are built structurally (``pytest_pipeline.postdeploy.hostile``): pictures in every
format and mode with extreme sizes, EXIF orientations and truncation, declared as the wrong
type, in well- and ill-framed multipart bodies; JSON of any type, depth and size; chunked
bodies with invalid chunk sizes; oversized request lines and headers. All go over one
kept-alive connection, while a thread samples the worker's resident memory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pytest_pipeline.postdeploy.hostile import (
    EMAIL_PATH,
    FORMATS,
    MODES,
    UPLOAD_PATHS,
    ImageCase,
    RawClient,
    Request,
    WorkerMemory,
    answer_problems,
    chunked,
    corpus,
    email_request,
    image_bytes,
    nested_json,
    upload_request,
)

from .serving import Served, serve_app

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
MAX_PIXELS = 40_000_000
#: The target of the issue: one worker stays under this for the largest accepted image.
WORKER_RSS_BOUND = 400 * MIB
EXAMPLES = {"uploads": 900, "json": 700, "framing": 400}  # 2,000 in all


@pytest.fixture(scope="module")
def hostile_app(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One gunicorn worker (2 threads), 10 MB uploads, a 40 MP pixel limit."""
    log = tmp_path_factory.mktemp("hostile") / "gunicorn.log"
    settings_ = {
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
        "MAX_UPLOAD_MB": "10",
        "MAX_IMAGE_PIXELS": str(MAX_PIXELS),
    }
    with serve_app(moto_endpoint, log, **settings_) as served:
        yield served


@pytest.fixture(scope="module")
def raw(hostile_app: Served) -> Iterator[RawClient]:
    """One kept-alive connection for the whole module."""
    client = RawClient(hostile_app.base, timeout_s=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def sampler(hostile_app: Served) -> Iterator[WorkerMemory]:
    """Worker memory sampled over the whole module."""
    with WorkerMemory(hostile_app.master.pid) as rss:
        yield rss


def _check(raw: RawClient, request: Request) -> Any:
    response = raw.send(request)
    problems = answer_problems(response)
    assert not problems, "\n".join(problems)
    return response


# --- strategies -----------------------------------------------------------------------------

_sides = st.integers(min_value=1, max_value=96)
_extreme = st.tuples(st.integers(1, 3), st.integers(300, 4000))
_sizes = st.one_of(
    st.tuples(_sides, _sides),
    _extreme,
    _extreme.map(lambda wh: (wh[1], wh[0])),
)
image_cases = st.builds(
    lambda fmt, mode, size, orientation, truncate, seed, frames: ImageCase(
        fmt, mode, size[0], size[1], orientation, truncate, seed, frames
    ),
    st.sampled_from(FORMATS),
    st.sampled_from(MODES),
    _sizes,
    st.one_of(st.none(), st.integers(0, 9), st.just(65535)),
    st.one_of(st.none(), st.none(), st.none(), st.floats(0.02, 0.98)),
    st.integers(0, 3),
    st.sampled_from([1, 1, 1, 2, 4]),
)
_declared = st.sampled_from(
    ["image/png", "image/jpeg", "image/webp", "text/plain", "application/octet-stream", ""]
)
_names = st.sampled_from(["photo.png", "photo.jpg", "x", "../../etc/passwd", "ünï.webp", ""])
_specs = st.sampled_from([None, None, None, None, "us", "eu", "uk", " US ", "mars", "", "\x00"])
_framings = st.sampled_from(
    ["ok"] * 8 + ["no-closing-boundary", "wrong-boundary", "no-boundary-param", "field-name"]
)
_magic = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBP", b""])
_garbage = st.builds(lambda head, tail: head + tail, _magic, st.binary(max_size=512))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def email_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["object", "any", "deep", "big", "bytes", "email"]))
    if kind == "object":
        body = json.dumps({"email": draw(json_values)}).encode()
    elif kind == "any":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "deep":
        body = nested_json(draw(st.integers(1, 3000)))
    elif kind == "big":
        body = b'{"email": "' + b"a" * draw(st.integers(10_000, 200_000)) + b'@example.com"}'
    elif kind == "email":
        local = draw(st.text(min_size=0, max_size=70))
        body = json.dumps({"email": f"{local}@{draw(st.text(max_size=30))}"}).encode()
    else:
        body = draw(st.binary(max_size=300))
    content_type = draw(
        st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1"])
    )
    return body, content_type


# --- properties -----------------------------------------------------------------------------


# Feature: ci-cd-pipeline, Property 2: Pre-deployment Validation Completeness
@settings(
    max_examples=EXAMPLES["uploads"],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=st.one_of(image_cases, _garbage),
    path=st.sampled_from(UPLOAD_PATHS),
    declared=_declared,
    filename=_names,
    spec=_specs,
    framing=_framings,
)
def test_uploads_never_5xx(
    raw: RawClient,
    sampler: WorkerMemory,
    case: ImageCase | bytes,
    path: str,
    declared: str,
    filename: str,
    spec: str | None,
    framing: str,
) -> None:
    """Any picture, any declared type, any multipart framing: < 500, JSON errors."""
    data = image_bytes(case) if isinstance(case, ImageCase) else case
    label = case.label() if isinstance(case, ImageCase) else f"{len(case)} bytes of garbage"
    request = upload_request(
        path, data, label=label, declared=declared, filename=filename, spec=spec, framing=framing
    )
    _check(raw, request)


# Feature: ci-cd-pipeline, Property 2: Pre-deployment Validation Completeness
@settings(
    max_examples=EXAMPLES["json"],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=email_bodies())
def test_email_json_never_5xx(raw: RawClient, body: tuple[bytes, str]) -> None:
    """JSON of any type, depth and size (and not JSON at all): < 500, JSON errors."""
    data, content_type = body
    response = _check(
        raw, email_request(data, label=f"{len(data)} bytes", content_type=content_type)
    )
    assert response.status in (200, 400, 413, 415), response.text()


_bad_sizes = st.sampled_from([b"zz", b"-1", b"", b" ", b"1;" + b"x" * 200, b"g" * 40, b"0x5"])


@st.composite
def framed_requests(draw: st.DrawFn) -> Request:
    kind = draw(st.sampled_from(["chunked", "bad-chunk", "headers", "many", "line"]))
    path = draw(st.sampled_from([EMAIL_PATH, *UPLOAD_PATHS, "/api/v1/specs", "/health"]))
    if kind in ("chunked", "bad-chunk"):
        body = draw(st.sampled_from([b'{"email": "a@example.com"}', b"{}", b"x" * 100]))
        bad = draw(_bad_sizes) if kind == "bad-chunk" else None
        return chunked("POST", path, body, label=f"{kind} {bad!r}", bad_size=bad)
    if kind == "headers":
        size = draw(st.integers(100, 12_000))
        return Request("GET", path, (("X-Hostile", "h" * size),), label=f"{size} B header")
    if kind == "many":
        count = draw(st.integers(10, 180))
        fields = tuple((f"X-H-{i}", "v") for i in range(count))
        return Request("GET", path, fields, label=f"{count} header fields")
    length = draw(st.integers(100, 12_000))
    return Request("GET", "/api/v1/specs?q=" + "q" * length, label=f"{length} B request line")


# Feature: ci-cd-pipeline, Property 2: Pre-deployment Validation Completeness
@settings(
    max_examples=EXAMPLES["framing"],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=framed_requests())
def test_http_framing_never_5xx(raw: RawClient, request: Request) -> None:
    """Chunked bodies (valid or not), big or many headers, long request lines: < 500 and
    JSON errors, whether the app or gunicorn answers."""
    _check(raw, request)


# --- the fixed faults of the issue, each a failure before the fix ---------------------------


def test_fixed_corpus(raw: RawClient) -> None:
    """The postdeploy stage's corpus, against the reference app."""
    problems = [p for request in corpus() for p in answer_problems(raw.send(request))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", UPLOAD_PATHS)
def test_palette_with_oversized_transparency_is_415(raw: RawClient, path: str) -> None:
    data = image_bytes(ImageCase("PNG", "P+tRNS>256", 48, 48))
    response = _check(raw, upload_request(path, data, label="tRNS of 300 entries"))
    assert response.status == 415, response.text()


def test_json_nested_1000_deep_is_invalid_json(raw: RawClient) -> None:
    response = _check(raw, email_request(nested_json(1000), label="1000 deep"))
    assert (response.status, response.json_field("error")["code"]) == (400, "invalid_json")


@pytest.mark.parametrize("path", [EMAIL_PATH, *UPLOAD_PATHS])
def test_invalid_chunk_size_is_400_and_closes(raw: RawClient, path: str) -> None:
    request = chunked("POST", path, b"{}", label="chunk size zz", bad_size=b"zz")
    response = _check(raw, request)
    assert response.status == 400, response.text()
    if path == EMAIL_PATH:  # the app read the body and saw the error itself
        assert response.header("Connection") == "close"


@pytest.mark.parametrize(
    "request_",
    [
        Request("GET", "/api/v1/specs?" + "a" * 9000, label="long line"),
        Request("GET", "/health", (("X-Big", "a" * 9000),), label="long field"),
        Request("GET", "/health", tuple((f"X-{i}", "y") for i in range(150)), label="many"),
    ],
    ids=["request-line", "header-field", "header-count"],
)
def test_gunicorn_limits_answer_json(raw: RawClient, request_: Request) -> None:
    response = _check(raw, request_)
    assert response.status in (400, 414, 431) and response.media_type == "application/json"


@pytest.mark.parametrize(
    "request_",
    [
        Request("POST", UPLOAD_PATHS[0], (("Content-Type", "text/plain"),), b"x" * 300_000),
        email_request(b"{" + b" " * 100_000, label="100 kB not JSON"),
        email_request(b'{"email": "' + b"a" * 3_000_000 + b'"}', label="3 MB JSON"),
        Request("POST", UPLOAD_PATHS[0], (("Content-Type", "text/plain"),), b"x" * (11 * MIB)),
    ],
    ids=["400-unread-300k", "400-json", "413-json", "413-upload"],
)
def test_next_request_on_kept_alive_connection_is_answered(
    hostile_app: Served, request_: Request
) -> None:
    client = RawClient(hostile_app.base)
    try:
        first = client.send(request_)
        assert first.status in (400, 413) and not answer_problems(first)
        if first.header("Connection") == "close":
            return  # announced: the client knows to reconnect
        second = client.send(Request("GET", "/api/v1/specs", label="after an early error"))
        assert second.status == 200
    finally:
        client.close()


# --- memory -----------------------------------------------------------------------------------


def _bomb(mode: str, fmt: str, size: tuple[int, int]) -> bytes:
    """A picture of `size` pixels that compresses to almost nothing."""
    import io

    image = Image.new(mode, size, 200 if mode in ("L", "RGB", "RGBA") else 0)
    buf = io.BytesIO()
    image.save(buf, fmt, **({"transparency": 0} if mode == "P" else {}))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt", "size", "status"),
    [
        ("RGBA", "PNG", (8000, 5000), 422),  # exactly at the limit: accepted, decoded
        ("P", "PNG", (8000, 5000), 422),
        ("RGB", "WEBP", (5000, 4000), 422),  # WebP: half the limit
        ("RGB", "PNG", (8001, 5000), 413),  # one column over: refused from the header
    ],
    ids=["png-rgba-40mp", "png-palette-40mp", "webp-20mp", "png-over-limit"],
)
def test_largest_accepted_images_stay_under_the_memory_bound(
    hostile_app: Served,
    raw: RawClient,
    mode: str,
    fmt: str,
    size: tuple[int, int],
    status: int,
) -> None:
    data = _bomb(mode, fmt, size)
    with WorkerMemory(hostile_app.master.pid) as rss:
        started = time.monotonic()
        response = _check(raw, upload_request(UPLOAD_PATHS[0], data, label=f"{fmt} {size}"))
        elapsed = time.monotonic() - started
    assert response.status == status, response.text()
    assert rss.worst_mib() <= WORKER_RSS_BOUND / MIB, (
        f"{fmt} {mode} {size} ({len(data)} bytes) took a worker to {rss.worst_mib():.0f} MiB "
        f"in {elapsed:.1f}s; the bound is {WORKER_RSS_BOUND // MIB} MiB"
    )


def test_worker_memory_bounded_over_the_whole_module(sampler: WorkerMemory) -> None:
    """Runs last in the module: the peak over every hostile request above."""
    assert sampler.peak, "no worker memory sample was taken"
    assert sampler.worst_mib() <= WORKER_RSS_BOUND / MIB, f"{sampler.worst_mib():.0f} MiB"
