"""Load engine benchmark: Locust (as the pipeline runs it) against wrk on one trivial endpoint.

Both tools hit the same trivial endpoint on loopback for the same time; the script prints
requests per second, p50/p95 latency and Locust's share of wrk's rate (target >= 0.5).
Two servers, because they answer different questions:

- ``gunicorn``: a one-line WSGI app under gunicorn (2 gthread workers), the kind of server
  the pipeline loads — the server is the bottleneck, so this measures whether Locust can
  drive a Python web service as hard as wrk does;
- ``pong``: a minimal asyncio responder, far faster than any WSGI app — the load generator
  is the bottleneck, so this measures the engines' own ceilings on this machine.

wrk comes from Debian (``apt-get install -y wrk``).

    .venv/bin/python benchmarks/load_engine.py [--server gunicorn|pong|both] [--duration 10]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_pipeline.postdeploy.load import Endpoint, LoadPlan, run_load

# A minimal asyncio HTTP/1.1 server answering every request with "pong", keep-alive.
SERVER = r"""
import asyncio, sys
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Type: text/plain\r\n\r\npong"
class Pong(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.transport.write(RESPONSE)
async def main():
    server = await asyncio.get_running_loop().create_server(Pong, "127.0.0.1", 0)
    print("PORT", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

WSGI_APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def start_server() -> tuple[subprocess.Popen[str], str]:
    """Start the pong server on a free loopback port; return it and its URL."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline().split()[1])
    return proc, f"http://127.0.0.1:{port}"


def start_gunicorn(work: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the one-line WSGI app under gunicorn on a free loopback port."""
    from pytest_pipeline.deploy.launcher import free_port

    (work / "trivial.py").write_text(WSGI_APP)
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen(
        [
            gunicorn,
            "-w",
            "2",
            "-k",
            "gthread",
            "--threads",
            "8",
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(work),
            "trivial:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    from pytest_pipeline.retry import wait_until

    def answers() -> bool:
        import requests

        try:
            return requests.get(url, timeout=1).ok
        except requests.RequestException:
            return False

    wait_until(answers, what=f"gunicorn at {url}", deadline=20)
    return proc, url


def run_wrk(url: str, duration: float, connections: int, threads: int) -> dict[str, float]:
    """rps, p50 and p95 (ms) measured by wrk."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if not match:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    requests, seconds, p50, p95 = (float(g) for g in match.groups())
    return {"rps": requests / seconds, "p50": p50, "p95": p95, "requests": requests}


def run_locust(url: str, duration: float, users: int, workers: int) -> dict[str, float]:
    """rps, p50 and p95 (ms) measured by the pipeline's Locust engine (no think time)."""
    plan = LoadPlan((Endpoint("pong", "GET", "/", 1),), wait_min_s=0, wait_max_s=0)
    with tempfile.TemporaryDirectory() as work:
        result = run_load(
            url,
            plan,
            users=users,
            spawn_rate=users,
            duration_s=duration,
            work_dir=Path(work),
            workers=workers,
        )
    stats = result.stats()["overall"]
    return {
        "rps": stats.rps,
        "p50": stats.metric("p50"),
        "p95": stats.metric("p95"),
        "requests": float(stats.count),
    }


def compare(name: str, url: str, args: argparse.Namespace) -> float:
    """Run wrk then Locust against ``url``, print the table, return the rate ratio."""
    wrk = run_wrk(url, args.duration, args.users, args.wrk_threads)
    time.sleep(1)
    locust = run_locust(url, args.duration, args.users, args.workers)
    print(f"\n{name} server at {url}, {args.duration:g}s, {args.users} users/connections")
    print(f"{'engine':<34}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'requests':>10}")
    locust_name = f"locust FastHttpUser, {args.workers} workers"
    for label, row in ((f"wrk, {args.wrk_threads} threads", wrk), (locust_name, locust)):
        print(
            f"{label:<34}{row['rps']:>10.0f}{row['p50']:>10.2f}{row['p95']:>10.2f}"
            f"{row['requests']:>10.0f}"
        )
    ratio = locust["rps"] / wrk["rps"] if wrk["rps"] else 0.0
    verdict = "meets" if ratio >= 0.5 else "below"
    print(f"locust/wrk rate ratio: {ratio:.2f} ({verdict} the 0.5 target)")
    return ratio


def main() -> None:
    """Run both engines against the chosen server(s) and print the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server", choices=("gunicorn", "pong", "both"), default="both")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=64, help="Locust users = wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="Locust worker processes")
    parser.add_argument("--wrk-threads", type=int, default=2)
    args = parser.parse_args()
    servers = ("gunicorn", "pong") if args.server == "both" else (args.server,)
    for name in servers:
        with tempfile.TemporaryDirectory() as work:
            proc, url = start_gunicorn(Path(work)) if name == "gunicorn" else start_server()
            try:
                compare(name, url, args)
            finally:
                proc.terminate()
                proc.wait(timeout=20)


if __name__ == "__main__":
    main()
