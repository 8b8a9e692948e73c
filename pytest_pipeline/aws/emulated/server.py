"""The embedded backend as a standalone server: moto with the emulated Elastic Beanstalk.

``pytest-pipeline serve-aws --port N`` (also ``python -m pytest_pipeline.aws.emulated.server``)
prints the endpoint URL as its first line, serves until SIGTERM or SIGINT, then stops every
emulated environment's processes before it exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from pytest_pipeline.aws.clients import DUMMY_CREDENTIALS, MotoServer, free_port


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    out: TextIO | None = None,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Serve until ``stop`` is set or SIGTERM/SIGINT arrives (in the main thread); 0 on a
    clean stop. The URL is printed to ``out`` (first line) and passed to ``ready``."""
    for key, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    server = MotoServer(host=host).start_on(port or free_port(host))
    try:
        url = server.endpoint_url
        stream = out or sys.stdout
        print(url, file=stream, flush=True)
        if ready is not None:
            ready(url)
        stop.wait()
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pytest-pipeline serve-aws",
        description="Serve the embedded AWS backend (moto + emulated Elastic Beanstalk).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    args = parser.parse_args(argv)
    if args.port:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((args.host, args.port))
        except OSError as error:
            print(
                f"serve-aws: cannot listen on {args.host}:{args.port} ({error.strerror}); "
                "choose another --port, or 0 for a free one",
                file=sys.stderr,
            )
            return 2
    return serve(args.host, args.port)


if __name__ == "__main__":  # pragma: no cover - run as a process
    sys.exit(main())
