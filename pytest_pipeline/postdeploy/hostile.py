"""Hostile input for the service, built structurally, and the verdict on each answer.

Pictures in every format and mode the decoders meet (palette with an oversized
transparency table, 16-bit, CMYK, extreme aspect ratios, EXIF orientations, truncation),
declared as the wrong type, inside well- or ill-framed multipart bodies; JSON too deep, too
big or of the wrong type; chunked bodies with invalid chunk sizes; oversized request lines
and headers. Requests are raw bytes sent over one kept-alive socket (:class:`RawClient`) so
that framing is exactly what was built and a connection the server leaves unusable shows.

The verdict (:func:`answer_problems`): never an answer >= 500, every error in the contract's
``{"error": {"code", "message"}}`` shape, nothing leaked. The plugin's tests drive this with
hypothesis against ``app/`` under gunicorn; the postdeploy stage sends :func:`corpus`.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import psutil
from PIL import Image

from pytest_pipeline.postdeploy.contract import Response, check_no_leaks

__all__ = [
    "FORMATS",
    "MODES",
    "ImageCase",
    "RawClient",
    "Request",
    "WorkerMemory",
    "answer_problems",
    "chunked",
    "corpus",
    "email_request",
    "image_bytes",
    "upload_request",
]

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
#: Modes; "P+tRNS" is a palette with a transparency table, "P+tRNS>256" one with 300 entries.
MODES = ("1", "L", "P", "P+tRNS", "P+tRNS>256", "LA", "RGB", "RGBA", "CMYK", "I;16")
UPLOAD_PATHS = ("/api/v1/photos", "/api/v1/background")
EMAIL_PATH = "/api/v1/emails/validate"
_SAVE_MODES = {  # what each format can store; others are converted to the nearest
    "JPEG": {"1": "L", "P": "RGB", "LA": "L", "RGBA": "RGB", "I;16": "L"},
    "WEBP": {"1": "RGB", "L": "RGB", "P": "RGB", "LA": "RGBA", "CMYK": "RGB", "I;16": "RGB"},
    "GIF": {"LA": "P", "RGB": "P", "RGBA": "P", "CMYK": "P", "I;16": "P"},
    "PNG": {"CMYK": "RGB"},
    "TIFF": {},
}


@dataclass(frozen=True)
class ImageCase:
    """One picture to build: format, mode, size, EXIF orientation, truncation."""

    fmt: str = "PNG"
    mode: str = "RGB"
    width: int = 32
    height: int = 32
    orientation: int | None = None  # EXIF 0x0112, any value (valid are 1-8)
    truncate: float | None = None  # keep this share of the bytes
    seed: int = 0
    frames: int = 1  # > 1: animated (APNG, animated WebP or GIF; other formats: one frame)

    def label(self) -> str:
        extra = f", orientation {self.orientation}" if self.orientation is not None else ""
        extra += f", {self.frames} frames" if self.frames > 1 else ""
        cut = f", truncated to {self.truncate:.0%}" if self.truncate is not None else ""
        return f"{self.fmt} {self.mode} {self.width}x{self.height}{extra}{cut}"


def _pixels(case: ImageCase, mode: str) -> Image.Image:
    """A deterministic picture with some structure (gradients), in `mode`."""
    base = Image.linear_gradient("L").resize((case.width, case.height))
    if case.seed % 2:
        base = base.transpose(Image.Transpose.ROTATE_90).resize((case.width, case.height))
    if mode == "I;16":
        return base.convert("I").point(lambda v: v * 257).convert("I;16")
    if mode in ("P", "P+tRNS", "P+tRNS>256"):
        return base.convert("RGB").quantize(colors=64)
    if mode == "CMYK":
        return Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), base))
    return base.convert(mode)


def _oversize_trns(png: bytes) -> bytes:
    """The PNG with its tRNS chunk replaced by one of 300 entries (more than a palette)."""
    start = png.index(b"tRNS") - 4
    length = struct.unpack(">I", png[start : start + 4])[0]
    chunk = b"tRNS" + bytes(range(256)) + bytes(44)
    replacement = struct.pack(">I", 300) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return png[:start] + replacement + png[start + 12 + length :]


def image_bytes(case: ImageCase) -> bytes:
    """The bytes of `case` (a format that cannot store the mode gets the nearest it can)."""
    mode = case.mode
    image = _pixels(case, mode)
    stored = _SAVE_MODES.get(case.fmt, {}).get(mode.split("+")[0])
    if stored:
        image = image.convert(stored)
    if mode == "CMYK" and not stored:
        image = image.convert("CMYK")
    options: dict[str, object] = {}
    if mode.startswith("P+tRNS") and image.mode == "P":
        options["transparency"] = 0 if case.fmt == "GIF" else bytes(range(0, 256, 4))
    if case.orientation is not None and case.fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        exif = Image.Exif()
        exif[0x0112] = case.orientation
        options["exif"] = exif.tobytes()
    if case.frames > 1 and case.fmt in ("PNG", "WEBP", "GIF"):
        # consecutive frames must differ, or the encoder merges them
        flip = Image.Transpose.FLIP_LEFT_RIGHT if case.seed % 2 else Image.Transpose.FLIP_TOP_BOTTOM
        frames = [image.transpose(flip) if i % 2 == 0 else image for i in range(case.frames - 1)]
        options.update(save_all=True, append_images=frames, duration=40)
    buf = io.BytesIO()
    image.save(buf, case.fmt, **options)
    data = buf.getvalue()
    if mode == "P+tRNS>256" and case.fmt == "PNG" and b"tRNS" in data:
        data = _oversize_trns(data)
    if case.truncate is not None:
        data = data[: max(1, int(len(data) * case.truncate))]
    return data


@dataclass(frozen=True)
class Request:
    """One raw HTTP/1.1 request and what it is, for messages."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    label: str = ""
    raw: bytes | None = None  # exact bytes to send (framing built by hand)

    def encode(self, host: str) -> bytes:
        """The bytes on the wire (Content-Length added unless framing is given)."""
        if self.raw is not None:
            return self.raw
        names = {name.lower() for name, _ in self.headers}
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        framed = "content-length" in names or "transfer-encoding" in names
        if not framed and (self.body or self.method in ("POST", "PUT")):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body

    def describe(self) -> str:
        return f"{self.method} {self.path[:60]} ({self.label or 'no label'})"


def multipart(
    parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "hostile-boundary"
) -> tuple[bytes, str]:
    """(body, content type) of multipart/form-data parts (name, filename, type, data)."""
    out = io.BytesIO()
    for name, filename, media_type, data in parts:
        out.write(f"--{boundary}\r\n".encode())
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.write(f"Content-Disposition: {disposition}\r\n".encode("utf-8", "replace"))
        if media_type is not None:
            out.write(f"Content-Type: {media_type}\r\n".encode("latin-1", "replace"))
        out.write(b"\r\n" + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def upload_request(
    path: str,
    data: bytes,
    *,
    label: str,
    declared: str = "image/png",
    filename: str = "photo.png",
    spec: str | None = None,
    framing: str = "ok",
) -> Request:
    """A multipart upload of `data` as the `photo` field; `framing` breaks the multipart:
    "ok", "no-closing-boundary", "wrong-boundary", "no-boundary-param", "field-name"."""
    parts: list[tuple[str, str | None, str | None, bytes]] = [
        ("photo" if framing != "field-name" else "picture", filename, declared, data)
    ]
    if spec is not None:
        parts.append(("spec", None, None, spec.encode("utf-8", "replace")))
    body, content_type = multipart(parts)
    if framing == "no-closing-boundary":
        body = body[: body.rindex(b"--hostile-boundary--")]
    elif framing == "wrong-boundary":
        content_type = "multipart/form-data; boundary=another-boundary"
    elif framing == "no-boundary-param":
        content_type = "multipart/form-data"
    return Request("POST", path, (("Content-Type", content_type),), body, label)


def email_request(body: bytes, *, label: str, content_type: str = "application/json") -> Request:
    """A POST to the email endpoint with `body` as it is."""
    return Request("POST", EMAIL_PATH, (("Content-Type", content_type),), body, label)


def nested_json(depth: int) -> bytes:
    """``{"email": [[[ ... ]]]}`` nested `depth` levels."""
    return b'{"email": ' + b"[" * depth + b"]" * depth + b"}"


def chunked(
    method: str,
    path: str,
    body: bytes,
    *,
    label: str,
    bad_size: bytes | None = None,
    content_type: str = "application/json",
    host: str = "localhost",
) -> Request:
    """A chunked request; `bad_size` replaces the first chunk's size line (e.g. b"zz")."""
    size = bad_size if bad_size is not None else f"{len(body):x}".encode()
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode("latin-1")
    raw = head + size + b"\r\n" + body + b"\r\n0\r\n\r\n"
    return Request(method, path, body=body, label=label, raw=raw)


@dataclass
class RawClient:
    """Raw requests over one kept-alive connection, reconnecting only when the server said
    ``Connection: close`` (an unannounced close is reported: the next request on a kept-alive
    connection must get an answer)."""

    base_url: str
    timeout_s: float = 30.0
    _sock: socket.socket | None = field(default=None, repr=False)
    _buffer: bytes = field(default=b"", repr=False)
    reconnects: int = 0

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _connect(self) -> socket.socket:
        parts = urlsplit(self.base_url)
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", port), self.timeout_s)
        if https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        self._buffer = b""
        return sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send(self, request: Request) -> Response:
        """Send `request` and read its answer; raises ``ConnectionError`` when the server
        closed a kept-alive connection without answering."""
        fresh = self._sock is None
        if self._sock is None:
            self._sock = self._connect()
        wire = self._wire(request)
        # the server may answer (413, 431) and close before reading it all
        with contextlib.suppress(OSError):
            self._sock.sendall(wire)
        try:
            response, close = self._read(request)
        except ConnectionError as error:
            self.close()
            state = "a new" if fresh else "a kept-alive"
            raise ConnectionError(
                f"{request.describe()}: no answer on {state} connection ({error})"
            ) from None
        if close:
            self.close()
            self.reconnects += 1
        return response

    def _wire(self, request: Request) -> bytes:
        """The request's bytes for this server: its Host, under the base URL's path."""
        prefix = urlsplit(self.base_url).path.rstrip("/")
        if request.raw is None:
            return replace(request, path=prefix + request.path).encode(self.host)
        wire = request.raw.replace(b"Host: localhost", f"Host: {self.host}".encode(), 1)
        target = f" {request.path} ".encode()
        return wire.replace(target, f" {prefix}{request.path} ".encode(), 1)

    def _recv(self) -> bytes:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(65536)
        except (ConnectionResetError, TimeoutError, ssl.SSLError, OSError) as error:
            raise ConnectionError(f"{type(error).__name__}: {error}") from None
        return chunk

    def _read(self, request: Request) -> tuple[Response, bool]:
        while b"\r\n\r\n" not in self._buffer:
            chunk = self._recv()
            if not chunk:
                raise ConnectionError("closed before the status line")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        lower = {k.lower(): v for k, v in headers.items()}
        close = lower.get("connection", "").lower() == "close"
        if "content-length" in lower:
            length = int(lower["content-length"])
            while len(self._buffer) < length:
                chunk = self._recv()
                if not chunk:
                    raise ConnectionError("closed inside the body")
                self._buffer += chunk
            body, self._buffer = self._buffer[:length], self._buffer[length:]
        elif lower.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:  # delimited by close
            while chunk := self._recv():
                self._buffer += chunk
            body, self._buffer, close = self._buffer, b"", True
        return Response(status, headers, body, request.describe()), close

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self._buffer:
                self._buffer += self._recv() or b""
            size_line, self._buffer = self._buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self._buffer) < size + 2:
                self._buffer += self._recv() or b""
            body += self._buffer[:size]
            self._buffer = self._buffer[size + 2 :]
            if size == 0:
                return body


def answer_problems(resp: Response) -> list[str]:
    """What is wrong with an answer to hostile input: a 5xx, an error not in the contract's
    JSON shape, a leaked trace or banner."""
    problems: list[str] = []
    if resp.status >= 500:
        problems.append(f"{resp.request}: answered {resp.status} (body {resp.text(160)!r})")
    if resp.status >= 400:
        body: object = None
        try:
            body = json.loads(resp.body) if resp.media_type == "application/json" else None
        except ValueError:
            body = None
        error = body.get("error") if isinstance(body, dict) else None
        if not (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and error["code"]
            and isinstance(error.get("message"), str)
            and error["message"].strip()
        ):
            problems.append(
                f"{resp.request}: error {resp.status} is not JSON "
                f'{{"error": {{"code", "message"}}}} (Content-Type '
                f"{resp.header('Content-Type')!r}, body {resp.text(120)!r})"
            )
    problems.extend(check_no_leaks(resp))
    return problems


def corpus(upload_paths: tuple[str, ...] = UPLOAD_PATHS) -> Iterator[Request]:
    """A small, fixed hostile corpus (a few dozen requests) for a deployed service."""
    cases = [
        ImageCase("PNG", "P+tRNS>256", 48, 48),
        ImageCase("PNG", "I;16", 40, 30),
        ImageCase("PNG", "LA", 30, 40),
        ImageCase("PNG", "1", 64, 16),
        ImageCase("JPEG", "CMYK", 40, 40),
        ImageCase("JPEG", "L", 2000, 2, orientation=6),
        ImageCase("JPEG", "RGB", 48, 48, orientation=65535),
        ImageCase("WEBP", "RGBA", 1, 1500),
        ImageCase("PNG", "RGBA", 40, 30, frames=3),
        ImageCase("WEBP", "RGB", 30, 40, frames=3),
        ImageCase("PNG", "RGB", 64, 64, truncate=0.5),
        ImageCase("JPEG", "RGB", 64, 64, truncate=0.3),
        ImageCase("GIF", "P+tRNS", 32, 32),
        ImageCase("TIFF", "RGB", 32, 32),
    ]
    for index, case in enumerate(cases):
        path = upload_paths[index % len(upload_paths)]
        declared = ("image/jpeg", "text/plain", "image/png")[index % 3]
        yield upload_request(path, image_bytes(case), label=case.label(), declared=declared)
    png = image_bytes(ImageCase("PNG", "RGB", 32, 32))
    for framing in ("no-closing-boundary", "wrong-boundary", "no-boundary-param", "field-name"):
        yield upload_request(UPLOAD_PATHS[0], png, label=f"multipart {framing}", framing=framing)
    yield Request("POST", UPLOAD_PATHS[0], (("Content-Type", "image/png"),), png, "raw body")
    yield email_request(nested_json(1000), label="JSON nested 1000 deep")
    yield email_request(nested_json(20), label="JSON nested 20 deep")
    yield email_request(b'{"email": "' + b"a" * 40_000 + b'@example.com"}', label="40 kB JSON")
    for body, label in (
        (b"[]", "JSON array"),
        (b'"a@example.com"', "JSON string"),
        (b'{"email": 5}', "email a number"),
        (b'{"email": null}', "email null"),
        (b'{"email": {"a": 1}}', "email an object"),
        (b"\xff\xfe{", "not UTF-8"),
        (b'{"email": "a@example.com"', "unterminated JSON"),
        (b'{"email": "\\ud800@example.com"}', "lone surrogate"),
        (b"", "empty body"),
    ):
        yield email_request(body, label=label)
    yield email_request(b'{"email": "a@example.com"}', label="form type", content_type="text/plain")
    for path in (EMAIL_PATH, UPLOAD_PATHS[0]):
        yield chunked(
            "POST", path, b'{"email": "a@example.com"}', label="chunk size zz", bad_size=b"zz"
        )
        yield chunked("POST", path, b"{}", label="chunk size -1", bad_size=b"-1")
    yield Request("GET", "/api/v1/specs?" + "a" * 9000, label="9 kB request line")
    yield Request("GET", "/api/v1/specs", (("X-Big", "a" * 9000),), label="9 kB header field")
    many = tuple((f"X-Many-{i}", "y") for i in range(150))
    yield Request("GET", "/api/v1/specs", many, label="150 header fields")
    yield Request(
        "POST",
        EMAIL_PATH,
        (("Content-Length", "abc"),),
        label="Content-Length abc",
        raw=b"POST " + EMAIL_PATH.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Length: abc\r\n\r\n",
    )


class WorkerMemory:
    """Peak resident memory of each worker (child) of a server's master process, sampled
    with psutil in a thread every `interval_s` while the ``with`` block runs."""

    def __init__(self, master_pid: int, interval_s: float = 0.02) -> None:
        self.master = psutil.Process(master_pid)
        self.interval_s = interval_s
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-memory", daemon=True)

    def now(self) -> dict[int, int]:
        """Each worker's resident memory now, in bytes."""
        sizes: dict[int, int] = {}
        for worker in self.master.children(recursive=True):
            try:
                sizes[worker.pid] = worker.memory_info().rss
            except psutil.Error:
                continue
        return sizes

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, rss in self.now().items():
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def worst_mib(self) -> float:
        """The highest peak of any worker, in MiB."""
        return max(self.peak.values(), default=0) / (1024 * 1024)
