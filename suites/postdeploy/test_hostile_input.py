"""Hostile input against the service: a small corpus built structurally (palette PNG with an
oversized transparency table, 16-bit, CMYK, extreme aspect ratios, EXIF orientations,
truncation, wrong declared types, broken multipart, JSON too deep or too big or of the wrong
type, invalid chunk sizes, oversized request lines and headers).

Every answer must be below 500 and every error the contract's JSON ``{"error": {"code",
"message"}}`` without a trace or a versioned banner, whoever answers (the app, gunicorn or the
proxy in front). The requests go over one kept-alive connection: a server that closes it
without saying ``Connection: close`` leaves the next request unanswered, and that fails too.
The plugin's own tests run the same checks with hypothesis over 2,000 generated requests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_pipeline.plugin.extras import need_extra

need_extra("images", "the hostile-input corpus (its images are built with Pillow)")

from pytest_pipeline.postdeploy.hostile import (  # noqa: E402
    RawClient,
    Request,
    answer_problems,
    corpus,
)
from pytest_pipeline.postdeploy.http import ServiceClient  # noqa: E402

CORPUS = list(corpus())


@pytest.fixture(scope="module")
def raw_client(service: ServiceClient) -> Iterator[RawClient]:
    """One kept-alive raw HTTP connection to the service for the whole corpus."""
    client = RawClient(service.base_url, timeout_s=service.timeout_s)
    yield client
    client.close()


@pytest.mark.parametrize(
    "hostile", CORPUS, ids=[f"{r.method} {r.path[:28]} {r.label}" for r in CORPUS]
)
def test_hostile_request_gets_a_contract_error_not_a_5xx(
    raw_client: RawClient, hostile: Request
) -> None:
    """Below 500, errors in the contract's JSON shape, the connection left usable."""
    try:
        response = raw_client.send(hostile)
    except ConnectionError as error:
        pytest.fail(str(error))
    problems = answer_problems(response)
    assert not problems, "\n".join(problems)
