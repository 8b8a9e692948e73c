"""Deploy-stage figures: bundle build time, deploy-to-healthy time on the local target, and
failed requests during a blue/green switch.

    .venv/bin/python benchmarks/deploy.py            # the real app/ on a moto-provisioned stack
    .venv/bin/python benchmarks/deploy.py --tiny     # the tiny test app (no AWS needed)

Targets: deploy-to-healthy <= 10 s, 0 failed requests during the switch.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_pipeline.aws.bundles import Bundle, build_bundle  # noqa: E402
from pytest_pipeline.deploy.local import LocalTarget, app_environment  # noqa: E402


class Poller(threading.Thread):
    """Requests /health as fast as it can; counts failures."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.sent, self.failed = url, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            try:
                ok = session.get(self.url + "/health", timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            self.sent += 1
            self.failed += not ok


def app_env(tiny: bool, stack: list[object]) -> dict[str, str]:
    if tiny:
        return {"TABLE_NAME": "bench-table", "BUCKET_NAME": "bench-bucket"}
    from pytest_pipeline.aws.clients import AwsContext, MotoServer
    from pytest_pipeline.aws.stacks import load_parameters, provision

    moto = MotoServer().start()
    stack.append(moto)
    ctx = AwsContext(
        backend="moto",
        requested="moto",
        source="benchmark",
        endpoint_url=moto.endpoint_url,
        dummy_credentials=True,
        moto_server=True,
    )
    params = load_parameters(ROOT / "infra" / "parameters" / "dev.json")
    params["Environment"] = "dev"
    template = ROOT / "infra" / "template.yaml"
    state = provision(ctx, template, "passport-photo-bench", params, timeout=120)
    return app_environment(state.outputs, ctx.env())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="deploy the tiny test app")
    parser.add_argument("--builds", type=int, default=5, help="bundle builds to time")
    args = parser.parse_args()
    app = ROOT / ("tests/deploy/tinyapp" if args.tiny else "app")
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    resources: list[object] = []
    target: LocalTarget | None = None
    try:
        times = []
        bundles: list[Bundle] = []
        for i in range(args.builds):
            start = time.perf_counter()
            bundles.append(build_bundle(app, work / "out", f"bench-v{i}"))
            times.append(time.perf_counter() - start)
        first = bundles[0]
        print(f"app: {app.relative_to(ROOT)} ({len(first.files)} files, {first.size / 1e6:.2f} MB)")
        print(
            f"bundle build time: median {statistics.median(times) * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms over {args.builds} builds"
        )
        print(f"bundle sha256 identical across builds: {len({b.sha256 for b in bundles}) == 1}")

        target = LocalTarget(work / ".pipeline", "bench", app_env(args.tiny, resources))
        start = time.perf_counter()
        target.deploy(bundles[0])
        healthy = time.perf_counter() - start
        print(f"deploy-to-healthy (first version): {healthy:.2f} s (target <= 10 s)")

        second = build_bundle(app, work / "out2", "bench-v2")
        poller = Poller(target.url)
        poller.start()
        time.sleep(0.5)
        start = time.perf_counter()
        target.deploy(second)
        switch = time.perf_counter() - start
        time.sleep(0.5)
        poller.stop.set()
        poller.join()
        print(f"deploy-to-healthy (blue/green switch): {switch:.2f} s")
        print(f"failed requests during the switch: {poller.failed} of {poller.sent} (target 0)")
        return 0 if healthy <= 10 and poller.failed == 0 else 1
    finally:
        if target is not None:
            target.destroy(remove_files=True)
        for resource in resources:
            resource.stop()  # type: ignore[attr-defined]
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
