"""Property: whatever a client sends, the backend answers without a 5xx.

Random bytes, random small images in every accepted format and mode, random JSON bodies
and random email strings go through the real app (in-process test client on moto).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from .helpers import upload

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MAGIC = [b"", b"\xff\xd8\xff", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\x89PNG\r\n\x1a\n"]
MAGIC.append(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
PATHS = ["/api/v1/photos", "/api/v1/background"]
SPECS = st.sampled_from(["us", "eu", "uk", "", "US ", "mars", "\u00e9", "x" * 300])


def _assert_no_5xx(response: Any) -> None:
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code >= 400:
        body = response.get_json()
        assert set(body) == {"error"} and body["error"]["code"]
        assert "Traceback" not in response.get_data(as_text=True)


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, str]:
    """A small random image encoded as JPEG, PNG or WebP, in a random mode."""
    fmt = draw(st.sampled_from(["JPEG", "PNG", "WEBP"]))
    modes = {"JPEG": ["L", "RGB", "CMYK"], "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]}
    mode = draw(st.sampled_from(modes.get(fmt, ["RGB", "RGBA"])))
    width = draw(st.integers(1, 48))
    height = draw(st.integers(1, 48))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if draw(st.booleans()):  # smooth images compress and look more like photos
        pixels = np.sort(pixels, axis=draw(st.sampled_from([0, 1])))
    image = Image.fromarray(pixels, "RGB").convert(mode if mode != "I;16" else "I")
    if mode == "I;16":
        image = image.convert("I;16")
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    data = buffer.getvalue()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]  # truncated at a random point
    return data, fmt


# Feature: ci-cd-pipeline, Property 9: no input produces a 5xx
@PROPERTY
@given(
    prefix=st.sampled_from(MAGIC),
    body=st.binary(max_size=2048),
    path=st.sampled_from(PATHS),
    spec=SPECS,
    media_type=st.sampled_from(["image/jpeg", "image/png", "text/plain", "", "a/b;c=d"]),
)
def test_random_bytes_never_5xx(
    shared_client: FlaskClient, prefix: bytes, body: bytes, path: str, spec: str, media_type: str
) -> None:
    response = upload(shared_client, prefix + body, path=path, media_type=media_type, spec=spec)
    _assert_no_5xx(response)


# Feature: ci-cd-pipeline, Property 9: no input produces a 5xx
@PROPERTY
@given(image=images(), path=st.sampled_from(PATHS), spec=SPECS)
def test_random_images_never_5xx(
    shared_client: FlaskClient, image: tuple[bytes, str], path: str, spec: str
) -> None:
    data, fmt = image
    response = upload(shared_client, data, path=path, name=f"x.{fmt.lower()}", spec=spec)
    _assert_no_5xx(response)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
EMAILS = st.one_of(
    st.emails(),
    st.text(max_size=300),
    st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=70), st.text(max_size=70)),
    st.just("a" * 5000 + "@example.org"),
)


# Feature: ci-cd-pipeline, Property 9: no input produces a 5xx
@PROPERTY
@given(email=EMAILS, extra=st.dictionaries(st.text(max_size=5), JSON, max_size=2))
def test_random_emails_never_5xx(
    shared_client: FlaskClient, email: str, extra: dict[str, Any]
) -> None:
    response = shared_client.post("/api/v1/emails/validate", json={**extra, "email": email})
    _assert_no_5xx(response)
    if response.status_code == 200:
        body = response.get_json()
        assert isinstance(body["valid"], bool)
        assert (body["reason"] is None) is body["valid"]


# Feature: ci-cd-pipeline, Property 9: no input produces a 5xx
@PROPERTY
@given(
    raw=st.one_of(JSON.map(json.dumps), st.binary(max_size=512).map(repr), st.text(max_size=64)),
    content_type=st.sampled_from(["application/json", "text/plain", "", "multipart/form-data"]),
)
def test_random_json_bodies_never_5xx(
    shared_client: FlaskClient, raw: str, content_type: str
) -> None:
    response = shared_client.post("/api/v1/emails/validate", data=raw, content_type=content_type)
    _assert_no_5xx(response)
