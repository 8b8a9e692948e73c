"""Deliberately faulty services: a proxy in front of a correct one that breaks one rule.

Run as ``python faulty_service.py MODE[,MODE...] UPSTREAM_URL`` — prints ``PORT <n>`` once
listening on 127.0.0.1. The modes given on the command line apply to every request; a
request under ``/v/<MODE>[,<MODE>...]/`` (``http://127.0.0.1:PORT/v/off-centre/health``)
gets those modes instead, so one proxy serves every variant of the catalog
(``catalog.py``), each at its own base URL.

Each mode is the fault a careless implementation would really have, breaking one rule of
the contract (DESIGN.md §5) and nothing else; ``catalog.py`` says which rule and which test
of the postdeploy suite must fail on it.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import requests
from PIL import Image, ImageOps

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}
JsonDict = dict[str, object]
Answer = tuple[int, dict[str, str], bytes]


def uploads(body: bytes, filename: str) -> bool:
    """Whether a multipart body uploads a file called ``filename``."""
    return f'filename="{filename}"'.encode() in body


def _photo_part(body: bytes) -> tuple[int, int] | None:
    """Start and end of the ``photo`` part's bytes in a multipart body, or None."""
    match = re.search(rb'name="photo"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n', body)
    if match is None:
        return None
    boundary = body.split(b"\r\n", 1)[0]
    end = body.find(b"\r\n" + boundary, match.end())
    return (match.end(), end) if end >= 0 else None


def replace_photo(body: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """The multipart body with the ``photo`` part's bytes replaced by ``edit(bytes)``."""
    span = _photo_part(body)
    if span is None:
        return body
    start, end = span
    return body[:start] + edit(body[start:end]) + body[end:]


def _encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return out.getvalue()


def _white_canvas(picture: Image.Image) -> Image.Image:
    return Image.new("RGB", picture.size, (255, 255, 255))


# -- faults on the output photo (the JSON answer's base64 JPEG) -----------------------------


def off_centre(picture: Image.Image) -> Image.Image:
    """Centres the crop on the face box's left third instead of its middle (8% off)."""
    canvas = _white_canvas(picture)
    canvas.paste(picture, (round(picture.width * 0.08), 0))
    return canvas


def small_head(picture: Image.Image) -> Image.Image:
    """Composes ``eu`` with ``us``'s head ratio (0.595 instead of 0.75): the head too small."""
    factor = 0.595 / 0.755
    small = picture.resize((round(picture.width * factor), round(picture.height * factor)))
    canvas = _white_canvas(picture)
    top = round(picture.height * 0.45 * (1 - factor))  # the face's height stays put
    canvas.paste(small, ((picture.width - small.width) // 2, top))
    return canvas


def grey_background(picture: Image.Image) -> Image.Image:
    """Composites the person on light studio grey (212) instead of white."""
    pixels = np.asarray(picture).copy()
    white = (pixels >= 235).all(axis=2)
    pixels[white] = (212, 212, 212)
    return Image.fromarray(pixels)


def upside_down(picture: Image.Image) -> Image.Image:
    """Writes rows bottom-up (a BMP-style row order bug): the photo comes out upside down."""
    return ImageOps.flip(picture)


def one_px_wider(picture: Image.Image) -> Image.Image:
    """Rounds 35 mm at 300 dpi up: ``eu`` photos 414 px wide (the JSON still says 413)."""
    return picture.resize((picture.width + 1, picture.height)) if picture.width == 413 else picture


PHOTO_EDITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "off-centre": off_centre,
    "small-head": small_head,
    "grey-background": grey_background,
    "upside-down": upside_down,
    "one-px-wider": one_px_wider,
}


# -- faults on the upload (what a service that mishandles its input would see) ---------------


def strip_orientation(data: bytes) -> bytes:
    """Ignores EXIF orientation: the pixels as stored, without the tag."""
    with Image.open(io.BytesIO(data)) as image:
        if image.getexif().get(0x0112, 1) == 1:
            return data
        return _encode(image.convert("RGB"))


def drop_alpha(data: bytes) -> bytes:
    """Drops the alpha channel: transparent pixels show the colours stored under them."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode != "RGBA":
            return data
        return _encode(image.convert("RGB"), "PNG")


def trim_and_upscale(data: bytes) -> bytes:
    """Trims a uniform border, then upscales the rest 2x: a small face becomes large enough."""
    with Image.open(io.BytesIO(data)) as image:
        rgb = np.asarray(image.convert("RGB"))
    differs = np.abs(rgb.astype(np.int16) - rgb[0, 0].astype(np.int16)).max(axis=2) > 12
    rows, cols = np.flatnonzero(differs.any(axis=1)), np.flatnonzero(differs.any(axis=0))
    content = Image.fromarray(rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    return _encode(content.resize((content.width * 2, content.height * 2)))


def largest_face_only(data: bytes) -> bytes:
    """Keeps the largest face and ignores the others (the left half of the picture)."""
    with Image.open(io.BytesIO(data)) as image:
        return _encode(image.convert("RGB").crop((0, 0, image.width // 2, image.height)))


#: Faults on the upload: the mode, the sample files it changes (None: every upload), the edit.
UPLOAD_EDITS: dict[str, tuple[tuple[str, ...] | None, Callable[[bytes], bytes]]] = {
    "exif-ignored": (None, strip_orientation),
    "alpha-dropped": (None, drop_alpha),
    "tiny-face-accepted": (("small_face.jpg", "tiny.jpg"), trim_and_upscale),
    "multiple-faces-accepted": (("two_faces.jpg",), largest_face_only),
}

MODES = (
    *PHOTO_EDITS,
    *UPLOAD_EDITS,
    "name-trusted",
    "webp-refused",
    "upload-limit-missing",
    "email-permissive",
    "csp-missing",
    "empty-part-415",
    "pixel-limit-missing",
    "undecodable-500",
    "no-face-400",
    "background-kept",
    "email-local-lowercased",
    "nosniff-missing-on-errors",
    "framable",
    "cors-reflect",
    "cors-star",
    "html-404",
    "trace-on-bad-json",
    "emails-500-on-non-string",
    "eu-spec-wrong",
    "slow-specs",
    "lying-health",
    "health-down",
)


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"Content-Type": "application/json"}, body


def short_circuit(modes: frozenset[str], method: str, path: str, body: bytes) -> Answer | None:
    """An answer the faulty service gives without asking upstream, or None."""
    if "health-down" in modes and path.startswith("/health"):
        payload = {"status": "fail", "version": "x", "checks": {"app": {"status": "fail"}}}
        return 503, {"Content-Type": "application/json"}, json.dumps(payload).encode()
    photo_call = method == "POST" and path.startswith(("/api/v1/photos", "/api/v1/background"))
    if photo_call and "name-trusted" in modes and b'.jpg"' in body and b"\x89PNG" in body:
        return _error(415, "unsupported_media_type", "a .jpg file must be a JPEG")
    if photo_call and "webp-refused" in modes and re.search(rb"\r\n\r\nRIFF....WEBP", body):
        return _error(415, "unsupported_media_type", "send a JPEG or PNG picture")
    if photo_call and "upload-limit-missing" in modes and len(body) > 10 * 2**20:
        return _error(415, "unsupported_media_type", "the upload is not a picture")
    if photo_call and "empty-part-415" in modes:
        span = _photo_part(body)
        if span is not None and span[0] == span[1]:
            return _error(415, "unsupported_media_type", "the upload is not a picture")
    if photo_call and "pixel-limit-missing" in modes and uploads(body, "huge.png"):
        return _error(422, "no_face", "no face was found in the photo")
    if photo_call and "undecodable-500" in modes and uploads(body, "truncated.jpg"):
        return _error(500, "internal_error", "image decoding failed")
    if "html-404" in modes and not path.startswith(("/health", "/api/v1/")):
        html = b"<!doctype html><title>404 Not Found</title><h1>Not Found</h1>"
        return 404, {"Content-Type": "text/html; charset=utf-8"}, html
    if path.startswith("/api/v1/emails") and method == "POST":
        try:
            payload = json.loads(body)
        except ValueError:
            if "trace-on-bad-json" in modes:
                trace = (
                    "Traceback (most recent call last):\n"
                    '  File "/srv/app/routes.py", line 88, in validate\n'
                    "json.decoder.JSONDecodeError: Expecting value: line 1 column 11"
                )
                return 500, {"Content-Type": "text/plain"}, trace.encode()
            return None
        email = payload.get("email", "") if isinstance(payload, dict) else ""
        if "emails-500-on-non-string" in modes and not isinstance(email, str):
            return _error(500, "internal_error", "internal error")
    return None


def edit_answer(
    modes: frozenset[str],
    request: tuple[str, str | None],
    status: int,
    headers: dict[str, str],
    content: bytes,
) -> tuple[int, bytes]:
    """The upstream answer (status, body) with the modes' faults applied to it.

    ``request`` is the path and the Origin header; ``headers`` are edited in place.
    """
    path, origin = request
    if "slow-specs" in modes and path.startswith("/api/v1/specs"):
        time.sleep(1.2)
    if "eu-spec-wrong" in modes and path.startswith("/api/v1/specs") and status == 200:
        specs = json.loads(content)
        specs["eu"]["height_px"] = 532
        content = json.dumps(specs).encode()
    if "cors-star" in modes:
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Access-Control-Allow-Credentials"] = "true"
    if "cors-reflect" in modes and origin:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    if "nosniff-missing-on-errors" in modes and status >= 400:
        headers.pop("X-Content-Type-Options", None)
    if "csp-missing" in modes:
        headers.pop("Content-Security-Policy", None)
    if "framable" in modes:
        headers.pop("X-Frame-Options", None)
        headers["Content-Security-Policy"] = "default-src 'none'"
    if "lying-health" in modes and path.startswith("/health") and status == 200:
        data = json.loads(content)
        data["status"] = "ok"
        data.setdefault("checks", {})["dynamodb"] = {"status": "fail", "error": "timeout"}
        content = json.dumps(data).encode()
    if "no-face-400" in modes and status == 422 and b'"no_face"' in content:
        status = 400
    if "email-permissive" in modes and path.startswith("/api/v1/emails") and status == 200:
        data = json.loads(content)
        # A regex validator: something@something.something is an address.
        if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", str(data["email"])):
            data["valid"], data["reason"] = True, None
        content = json.dumps(data).encode()
    if "email-local-lowercased" in modes and path.startswith("/api/v1/emails") and status == 200:
        data = json.loads(content)
        data["email"] = str(data["email"]).lower()
        content = json.dumps(data).encode()
    if "background-kept" in modes and path.startswith("/api/v1/background") and status == 200:
        with Image.open(io.BytesIO(content)) as picture:
            pixels = np.asarray(picture.convert("RGBA")).copy()
        # A soft mask scaled to [160, 255] instead of [0, 255]: the background stays visible.
        pixels[:, :, 3] = 160 + (pixels[:, :, 3].astype(np.uint16) * 95 // 255)
        content = _encode(Image.fromarray(pixels, "RGBA"), "PNG")
    if path.startswith("/api/v1/photos") and status == 200:
        edits = [PHOTO_EDITS[m] for m in PHOTO_EDITS if m in modes]
        if edits:
            data: JsonDict = json.loads(content)
            picture = Image.open(io.BytesIO(base64.b64decode(str(data["image"])))).convert("RGB")
            for edit in edits:
                picture = edit(picture)
            data["image"] = base64.b64encode(_encode(picture)).decode()
            content = json.dumps(data).encode()
    return status, content


class Handler(BaseHTTPRequestHandler):
    """Forwards to the upstream service, breaking what its modes say."""

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
        path, modes = self.path, self.modes
        variant = re.match(r"/v/([a-z0-9,-]+)(/.*)?$", path)
        if variant:
            modes = frozenset(variant.group(1).split(","))
            path = variant.group(2) or "/"
        early = short_circuit(modes, self.command, path, body)
        if early is not None:
            self._send(*early)
            return
        for mode, (files, edit) in UPLOAD_EDITS.items():
            if mode in modes and (files is None or any(uploads(body, f) for f in files)):
                body = replace_photo(body, edit)
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
        status, content = edit_answer(
            modes,
            (path, self.headers.get("Origin")),
            reply.status_code,
            out_headers,
            reply.content,
        )
        self._send(status, out_headers, content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _forward


def main() -> None:
    """Start the faulty proxy on a free loopback port and print it."""
    modes = frozenset(m for m in sys.argv[1].split(",") if m and m != "none")
    upstream = sys.argv[2].rstrip("/")
    unknown = modes - set(MODES)
    if unknown:
        raise SystemExit(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
    Handler.modes, Handler.upstream = modes, upstream
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
