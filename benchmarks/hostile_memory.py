"""Peak resident memory of app/'s gunicorn workers under the costliest accepted uploads.

Usage: `python benchmarks/hostile_memory.py [--workers 2] [--threads 2] [--bombs 8] [--check]`

app/ runs as in production (the Procfile under gunicorn, against a private moto server with
the real stack, on 127.0.0.1) with the worker and thread counts of a t3.small (2 GiB, 2 vCPU:
what `app/capacity.py` plans there). A thread samples every worker's RSS (psutil) every
20 ms. Printed, in MiB:

1. each worker at rest after a warm-up photo;
2. the largest accepted image, alone: a 40-megapixel RGBA PNG of ~160 kB (exactly at the
   pixel limit; before decoding was bounded this took a worker to 2.1 GB), then the other
   kinds at their limits (palette PNG with transparency, 20 MP WebP, 40 MP JPEG);
3. N decompression bombs at once (the mix above, N = --bombs), across all workers;
4. the instance total: every worker at its measured peak plus the system reserve of
   capacity.py, against a t3.small's 2 GiB.

Targets: <= 400 MiB per worker for the largest accepted image, and the total fitting
2 GiB with room to spare. `--check` exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "app"))

import capacity  # noqa: E402

from pytest_pipeline.postdeploy.hostile import WorkerMemory  # noqa: E402

MIB = 1024 * 1024
TARGET_WORKER_MIB = 400
T3_SMALL_BYTES = 2048 * MIB


def bomb(kind: str) -> bytes:
    """A picture at the pixel limit of its kind that compresses to almost nothing."""
    size, mode, fmt = {
        "png-rgba-40mp": ((8000, 5000), "RGBA", "PNG"),
        "png-palette-40mp": ((8000, 5000), "P", "PNG"),
        "webp-20mp": ((5000, 4000), "RGB", "WEBP"),
        "jpeg-40mp": ((8000, 5000), "RGB", "JPEG"),
    }[kind]
    image = Image.new(mode, size, 0 if mode == "P" else 200)
    buf = io.BytesIO()
    image.save(buf, fmt, **({"transparency": 0} if mode == "P" else {}))
    return buf.getvalue()


def post(url: str, data: bytes, name: str) -> int:
    files = {"photo": (name, data, "application/octet-stream")}
    return requests.post(f"{url}/api/v1/photos", files=files, timeout=300).status_code


def fmt(sizes: dict[int, int]) -> str:
    return ", ".join(f"pid {pid}: {rss / MIB:.0f}" for pid, rss in sorted(sizes.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (t3.small: 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument("--bombs", type=int, default=8, help="concurrent bombs in step 3")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    from pytest_pipeline.aws.stacks import load_parameters
    from pytest_pipeline.postdeploy.service import LocalAppRunner

    os.environ["WEB_CONCURRENCY"] = str(args.workers)
    os.environ["GUNICORN_THREADS"] = str(args.threads)
    plan = capacity.plan(T3_SMALL_BYTES - 90 * MIB, cpus=2, threads=args.threads)
    print(f"capacity.py on a t3.small: {plan.describe()}")
    kinds = ["png-rgba-40mp", "png-palette-40mp", "webp-20mp", "jpeg-40mp"]
    bombs = {kind: bomb(kind) for kind in kinds}
    runner = LocalAppRunner(
        ROOT / "app",
        ROOT / "infra" / "template.yaml",
        load_parameters(ROOT / "infra" / "parameters" / "dev.json"),
        health_timeout_s=120,
    )
    failures: list[str] = []
    with runner as app:
        master = psutil.Process(app.pids[0])
        warm = (ROOT / "test_images" / "astronaut.jpg").read_bytes()
        for _ in range(args.workers * 2):
            post(app.url, warm, "astronaut.jpg")
        rest = WorkerMemory(master.pid).now()
        print(f"1. workers at rest (MiB): {fmt(rest)}")

        print("2. one upload at a time, peak of the worker that served it (MiB):")
        largest = 0.0
        for kind in kinds:
            with WorkerMemory(master.pid) as sampler:
                started = time.monotonic()
                status = post(app.url, bombs[kind], kind)
                elapsed = time.monotonic() - started
            peak = max(sampler.peak.values()) / MIB
            largest = max(largest, peak)
            print(
                f"   {kind:18s} {len(bombs[kind]) / 1024:7.0f} kB -> HTTP {status}, "
                f"{peak:5.0f} MiB peak, {elapsed:.1f} s"
            )
        if largest > TARGET_WORKER_MIB:
            failures.append(f"largest accepted image: {largest:.0f} > {TARGET_WORKER_MIB} MiB")

        print(f"3. {args.bombs} bombs at once (MiB):")
        mix = [bombs[kinds[i % len(kinds)]] for i in range(args.bombs)]
        with WorkerMemory(master.pid) as sampler, ThreadPoolExecutor(args.bombs) as pool:
            started = time.monotonic()
            statuses = list(pool.map(lambda d: post(app.url, d, "bomb"), mix))
            elapsed = time.monotonic() - started
        print(
            f"   statuses {sorted(statuses)} in {elapsed:.1f} s; peak per worker: "
            f"{fmt(sampler.peak)}"
        )
        if any(status >= 500 for status in statuses):
            failures.append(f"a bomb got a 5xx: {statuses}")

        total = sum(sampler.peak.values()) + capacity.SYSTEM_RESERVE_BYTES
        spare = T3_SMALL_BYTES - total
        print(
            f"4. t3.small: workers' peaks {sum(sampler.peak.values()) / MIB:.0f} MiB + system "
            f"reserve {capacity.SYSTEM_RESERVE_BYTES / MIB:.0f} MiB = {total / MIB:.0f} MiB "
            f"of {T3_SMALL_BYTES / MIB:.0f} MiB ({spare / MIB:.0f} MiB spare)"
        )
        if spare < 256 * MIB:
            failures.append(f"only {spare / MIB:.0f} MiB spare on a t3.small")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
