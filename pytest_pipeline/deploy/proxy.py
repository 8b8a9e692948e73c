"""A loopback TCP proxy that keeps one URL stable while the application behind it changes.

Run as ``python -m pytest_pipeline.deploy.proxy --ready-file F [--port P] [--upstream U]``.
Every new client connection goes to the upstream port current *when it is accepted*; a
switch never touches connections already open, so in-flight requests finish on the old
version (the deployer drains them before stopping it). Switching is one assignment in the
event loop, hence atomic.

A second loopback port takes one-line commands: ``SET <port>`` switches the upstream,
``STATUS`` answers JSON ``{"upstream": port, "active": {port: open connections}}``.
When listening, the proxy writes ``{"pid", "port", "control_port"}`` to the ready file.

HTTP responses are passed through byte for byte except that the first final response of
each connection is marked ``Connection: close`` (see ``_pump_responses``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_pipeline.deploy.launcher import ProcessRef
from pytest_pipeline.retry import Backoff, wait_until

HOST = "127.0.0.1"
_CHUNK = 65536


class ProxyError(RuntimeError):
    """The proxy could not start or did not answer its control port."""


class Proxy:
    """The proxy's event-loop side (used by ``main``)."""

    def __init__(self, upstream: int | None) -> None:
        self.upstream = upstream
        self.active: Counter[int] = Counter()

    async def handle_client(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        port = self.upstream
        if port is None:
            client_w.close()
            return
        self.active[port] += 1
        try:
            try:
                up_r, up_w = await asyncio.open_connection(HOST, port)
            except OSError:
                client_w.close()
                return
            try:
                await asyncio.gather(_pump(client_r, up_w), _pump_responses(up_r, client_w))
            finally:
                up_w.close()
        finally:
            self.active[port] -= 1
            if self.active[port] <= 0:
                del self.active[port]
            with contextlib.suppress(Exception):
                client_w.close()

    async def handle_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = (await reader.readline()).decode().strip()
            verb, _, arg = line.partition(" ")
            if verb == "SET" and arg.isdigit():
                self.upstream = int(arg)
                reply: dict[str, Any] = {"ok": True, "upstream": self.upstream}
            elif verb == "STATUS":
                reply = {"ok": True, "upstream": self.upstream, "active": dict(self.active)}
            else:
                reply = {"ok": False, "error": f"unknown command {line!r}"}
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()
        finally:
            writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


def _close_after(head: bytes) -> bytes:
    """The response head with its Connection/Keep-Alive headers replaced by ``close``."""
    lines = head.split(b"\r\n")
    kept = [
        line
        for line in lines[1:]
        if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive")
    ]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"])


def _status(head: bytes) -> int | None:
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    return int(parts[1])


async def _pump_responses(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Upstream to client, marking the first final response ``Connection: close``.

    A keep-alive client connection would stay pinned to the version it first reached; closed
    after one response, every request opens a new connection, which reaches the current
    upstream, and draining the old version ends as soon as its in-flight requests finish.
    Anything that is not HTTP/1.x (or a 101 upgrade) passes through untouched.
    """
    pending = b""
    rewriting = True
    try:
        while data := await reader.read(_CHUNK):
            if rewriting:
                pending += data
                data = b""
                while rewriting:
                    end = pending.find(b"\r\n\r\n")
                    if end < 0:
                        if len(pending) > _CHUNK:  # no header block in sight: not HTTP
                            rewriting = False
                        break
                    head, pending = pending[:end], pending[end + 4 :]
                    status = _status(head)
                    if status is not None and 100 <= status < 200 and status != 101:
                        data += head + b"\r\n\r\n"  # interim response; the final one follows
                        continue
                    rewriting = False
                    data += (head if status in (None, 101) else _close_after(head)) + b"\r\n\r\n"
                if not rewriting:
                    data, pending = data + pending, b""
                if not data:
                    continue
            writer.write(data)
            await writer.drain()
        if pending:
            writer.write(pending)
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def serve(port: int, upstream: int | None, ready_file: Path) -> None:
    """Serve until SIGTERM/SIGINT, then let open connections finish (up to 10 s)."""
    proxy = Proxy(upstream)
    server = await asyncio.start_server(proxy.handle_client, HOST, port)
    control = await asyncio.start_server(proxy.handle_control, HOST, 0)
    ready = {
        "pid": os.getpid(),
        "port": server.sockets[0].getsockname()[1],
        "control_port": control.sockets[0].getsockname()[1],
    }
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(ready))
    os.replace(tmp, ready_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    control.close()
    for _ in range(100):
        if not proxy.active:
            break
        await asyncio.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of the proxy process."""
    parser = argparse.ArgumentParser(prog="python -m pytest_pipeline.deploy.proxy")
    parser.add_argument("--port", type=int, default=0, help="listening port (0: any free one)")
    parser.add_argument("--upstream", type=int, default=None, help="initial upstream port")
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.upstream, args.ready_file))
    return 0


@dataclass(frozen=True)
class ProxyHandle:
    """A running proxy process, as recorded in a local environment's state."""

    ref: ProcessRef
    port: int
    control_port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self, line: str, timeout: float = 5.0) -> dict[str, Any]:
        """Send one control command and return the JSON answer."""
        try:
            with socket.create_connection((HOST, self.control_port), timeout=timeout) as sock:
                sock.sendall((line + "\n").encode())
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError as error:
            raise ProxyError(
                f"proxy PID {self.ref.pid} did not answer {line!r} on control port "
                f"{self.control_port}: {error}"
            ) from error
        reply: dict[str, Any] = json.loads(data or b"{}")
        if not reply.get("ok"):
            raise ProxyError(f"proxy refused {line!r}: {reply.get('error')}")
        return reply

    def switch(self, upstream: int) -> None:
        """Send new connections to ``upstream`` from now on."""
        self.command(f"SET {upstream}")

    def status(self) -> dict[str, Any]:
        """``{"upstream": port, "active": {port: open connections}}``."""
        reply = self.command("STATUS")
        reply["active"] = {int(k): int(v) for k, v in reply.get("active", {}).items()}
        return reply

    def drain(self, upstream: int, deadline: float) -> bool:
        """Wait until no connection to ``upstream`` is open; False if some still are."""
        try:
            wait_until(
                lambda: self.status()["active"].get(upstream, 0) == 0,
                what=f"connections to port {upstream} to finish",
                deadline=deadline,
                backoff=Backoff(0.05, 0.5),
            )
        except TimeoutError:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {**self.ref.to_dict(), "port": self.port, "control_port": self.control_port}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProxyHandle:
        return cls(ProcessRef.from_dict(data), int(data["port"]), int(data["control_port"]))


def start_proxy(
    log_path: Path, upstream: int | None = None, port: int = 0, deadline: float = 15.0
) -> ProxyHandle:
    """Start the proxy detached (own session) and wait until it listens."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd, ready_name = tempfile.mkstemp(prefix="proxy-", suffix=".json", dir=log_path.parent)
    os.close(fd)
    ready_file = Path(ready_name)
    ready_file.unlink()
    argv = [sys.executable, "-m", "pytest_pipeline.deploy.proxy", "--ready-file", str(ready_file)]
    argv += ["--port", str(port)] + ([] if upstream is None else ["--upstream", str(upstream)])
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        info = wait_until(
            lambda: _read_ready(ready_file, popen),
            what="the deploy proxy to listen",
            deadline=deadline,
            backoff=Backoff(0.02, 0.2),
        )
    except TimeoutError as error:
        popen.kill()
        raise ProxyError(
            f"the deploy proxy did not start within {deadline:.0f}s; see {log_path}"
        ) from error
    finally:
        ready_file.unlink(missing_ok=True)
    return ProxyHandle(ProcessRef.of(popen.pid), int(info["port"]), int(info["control_port"]))


def _read_ready(ready_file: Path, popen: subprocess.Popen[bytes]) -> dict[str, Any] | None:
    if popen.poll() is not None:
        raise ProxyError(f"the deploy proxy exited with status {popen.returncode} at start")
    try:
        data: dict[str, Any] = json.loads(ready_file.read_text())
    except (OSError, ValueError):
        return None
    return data


if __name__ == "__main__":  # pragma: no cover - exercised as a subprocess
    sys.exit(main())
