"""Deliberately faulty services: a proxy in front of a good one that breaks one thing.

Run as ``python faulty_service.py MODE[,MODE...] UPSTREAM_URL`` — prints ``PORT <n>`` once
listening on 127.0.0.1. Every mode is a small, specific contract violation the postdeploy
suite must catch; modes combine (each touches different requests):

- ``cors-star``: ``Access-Control-Allow-Origin: *`` with credentials, for every origin;
- ``500-on-image``: HTTP 500 for uploads of ``astronaut_dark.jpg``;
- ``grey-background``: output photos of ``astronaut_gray.jpg`` with the white background
  painted grey;
- ``wrong-size``: output photos of ``astronaut.jpg`` 40 px narrower than the spec (the JSON
  still claims the spec's size);
- ``slow-specs``: ``GET /api/v1/specs`` answers after 1.2 s (breaches a p95 threshold);
- ``lying-health``: ``/health`` answers 200 "ok" while its own DynamoDB check says "fail";
- ``health-down``: ``/health`` always answers 503.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import requests
from PIL import Image

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
MODES = (
    "cors-star",
    "500-on-image",
    "grey-background",
    "wrong-size",
    "slow-specs",
    "lying-health",
    "health-down",
)


def uploads(body: bytes, filename: str) -> bool:
    """Whether a multipart body uploads a file called ``filename``."""
    return f'filename="{filename}"'.encode() in body


def _edit_photo(body: bytes, mode: str) -> bytes:
    data = json.loads(body)
    picture = Image.open(io.BytesIO(base64.b64decode(data["image"]))).convert("RGB")
    if mode == "wrong-size":
        picture = picture.resize((picture.width - 40, picture.height))
    else:  # grey-background: every near-white pixel becomes mid grey
        pixels = np.asarray(picture).copy()
        white = (pixels >= 225).all(axis=2)
        pixels[white] = (150, 150, 150)
        picture = Image.fromarray(pixels)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=92)
    data["image"] = base64.b64encode(out.getvalue()).decode()
    return json.dumps(data).encode()


class Handler(BaseHTTPRequestHandler):
    """Forwards to the upstream service, breaking one thing according to ``MODE``."""

    server_version = "faulty"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    modes: frozenset[str] = frozenset()
    upstream = ""
    session = requests.Session()

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        if "health-down" in self.modes and path.startswith("/health"):
            payload = {"status": "fail", "version": "x", "checks": {"app": {"status": "fail"}}}
            self._send(503, {"Content-Type": "application/json"}, json.dumps(payload).encode())
            return
        if "500-on-image" in self.modes and uploads(body, "astronaut_dark.jpg"):
            error = {"error": {"code": "internal_error", "message": "internal error"}}
            self._send(500, {"Content-Type": "application/json"}, json.dumps(error).encode())
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        reply = self.session.request(
            self.command,
            self.upstream + path,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=60,
        )
        out_headers = dict(reply.headers)
        content = reply.content
        if "slow-specs" in self.modes and path.startswith("/api/v1/specs"):
            time.sleep(1.2)
        if "cors-star" in self.modes:
            out_headers["Access-Control-Allow-Origin"] = "*"
            out_headers["Access-Control-Allow-Credentials"] = "true"
        if "lying-health" in self.modes and path.startswith("/health") and reply.ok:
            data = json.loads(content)
            data["status"] = "ok"
            data.setdefault("checks", {})["dynamodb"] = {"status": "fail", "error": "timeout"}
            content = json.dumps(data).encode()
        if path.startswith("/api/v1/photos") and reply.status_code == 200:
            if "grey-background" in self.modes and uploads(body, "astronaut_gray.jpg"):
                content = _edit_photo(content, "grey-background")
            if "wrong-size" in self.modes and uploads(body, "astronaut.jpg"):
                content = _edit_photo(content, "wrong-size")
        self._send(reply.status_code, out_headers, content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _forward


def main() -> None:
    """Start the faulty proxy on a free loopback port and print it."""
    modes, upstream = frozenset(sys.argv[1].split(",")), sys.argv[2].rstrip("/")
    unknown = modes - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
    Handler.modes, Handler.upstream = modes, upstream
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
