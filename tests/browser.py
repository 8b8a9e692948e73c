"""Headless Chromium driven over the DevTools protocol: open a page, ask it, photograph it.

What a reviewer sees is what the browser rendered, so the report tests ask the browser:
which images decoded (``naturalWidth``), where an element is and whether it is shown, and a
screenshot of exactly that element. A small client (websocket-client) on the loopback
DevTools port of a Chromium this test starts and stops.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,1000",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def chromium() -> str:
    """The Chromium binary, or skip saying how to install it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed: apt-get install -y chromium (CI installs it)")


class Page:
    """One tab of a running Chromium."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a DevTools command and return its result (events in between are dropped)."""
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def open(self, url: str, settle_s: float = 1.0) -> None:
        """Navigate to ``url`` and wait for its load event and the page's scripts to settle."""
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            message = json.loads(self.socket.recv())
            if message.get("method") == "Page.loadEventFired":
                break
        else:
            raise TimeoutError(f"{url} did not finish loading in 60 s")
        time.sleep(settle_s)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` evaluated in the page."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, selector: str | None = None) -> bytes:
        """A PNG of the page's viewport, or of the element ``selector`` (scrolled to)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": selector is not None}
        if selector is not None:
            rect = self.evaluate(
                f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                " if (!e) return null; const r = e.getBoundingClientRect();"
                " return {x: r.left + window.scrollX, y: r.top + window.scrollY,"
                " width: r.width, height: r.height}; })()"
            )
            if not rect or rect["width"] < 1 or rect["height"] < 1:
                raise AssertionError(f"{selector} is not shown on the page (box {rect})")
            params["clip"] = {**rect, "scale": 1}
        import base64

        return base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])


@contextlib.contextmanager
def browser(profile: Path) -> Iterator[Page]:
    """Start a headless Chromium with a fresh profile and yield its first tab."""
    import websocket  # websocket-client

    port_file = profile / "DevToolsActivePort"
    port_file.unlink(missing_ok=True)  # a reused profile keeps the last run's port
    proc = subprocess.Popen(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.loads(answer.read())
        url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        try:
            yield Page(socket)
        finally:
            socket.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def not_blank(png: bytes, min_stddev: float = 10.0) -> float:
    """The grey-level standard deviation of a screenshot; AssertionError when it is blank."""
    from PIL import Image, ImageStat

    spread = float(ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).stddev[0])
    assert spread > min_stddev, f"the screenshot is blank (grey-level spread {spread:.1f})"
    return spread


DASHBOARD_FACTS = """(() => {
  const shown = (e) => { if (!e) return false; const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  const decoded = (img) => img.complete && img.naturalWidth > 0;
  const gallery = [...document.querySelectorAll('#pipeline-gallery img')];
  const rows = [...document.querySelectorAll('img.pipeline-picture')];
  const histogram = document.querySelector('.pipeline-dashboard-histogram img');
  return {
    stages: [...document.querySelectorAll('#pipeline-stages tr.pipeline-stage')]
      .map((r) => [r.dataset.stage, r.dataset.outcome]),
    gallery: gallery.length,
    galleryDecoded: gallery.filter(decoded).length,
    rowPictures: rows.length,
    rowPicturesDecoded: rows.filter(decoded).length,
    histogramShown: shown(histogram) && decoded(histogram),
    ledgerSteps: document.querySelectorAll('#pipeline-ledger .step').length,
    emptyLogs: [...document.querySelectorAll('.log')]
      .filter((e) => e.textContent.trim() === 'No log output captured.').length
      + [...document.querySelectorAll('.logwrapper')]
      .filter((w) => !w.querySelector('.log') && shown(w)).length,
  };
})()"""
"""What the report tests ask the browser about the dashboard."""
