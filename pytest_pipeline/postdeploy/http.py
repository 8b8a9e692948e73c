"""A small HTTP client for a service under test, returning :class:`contract.Response` objects.

It works without pytest (a script can use it), labels every response with the request that
produced it (for messages), and records the latency of each call.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from pytest_pipeline.postdeploy.contract import Response

__all__ = ["ServiceClient"]

#: Photos are CPU-heavy on small instances: allow them time, but never hang forever.
DEFAULT_TIMEOUT_S = 60.0


class ServiceClient:
    """Requests against ``base_url`` (which may carry a path prefix), never following redirects."""

    def __init__(self, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"service URL must be http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "pytest-pipeline postdeploy"

    @property
    def https(self) -> bool:
        """Whether the service is reached over HTTPS."""
        return self.base_url.startswith("https://")

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` under the base URL."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        label: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> Response:
        """Send one request; connection errors propagate as ``requests.RequestException``."""
        started = time.perf_counter()
        reply = self.session.request(
            method,
            self.url(path),
            headers=dict(headers or {}),
            timeout=timeout_s or self.timeout_s,
            allow_redirects=False,
            **kwargs,
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        return Response(
            status=reply.status_code,
            headers=dict(reply.headers),
            body=reply.content,
            request=label or f"{method} {path}",
            elapsed_ms=elapsed_ms,
        )

    def get(self, path: str, **kwargs: Any) -> Response:
        """``GET path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        """``POST path``."""
        return self.request("POST", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Response:
        """``OPTIONS path`` (CORS preflight)."""
        return self.request("OPTIONS", path, **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()
