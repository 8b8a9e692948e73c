"""Deploy-stage figures: bundle build time, deploy-to-healthy time, and failed requests while
a new version replaces the serving one.

    .venv/bin/python benchmarks/deploy.py                  # the real app/, Elastic Beanstalk
    .venv/bin/python benchmarks/deploy.py --tiny           # the tiny test app

The Elastic Beanstalk figures come from the production deploy code (``ElasticBeanstalkTarget``)
against the embedded backend's emulated Elastic Beanstalk, on the stack of infra/template.yaml:
the first deploy (with the virtualenv build when its cache is cold), then one deploy under each
deployment policy (Immutable, Rolling, AllAtOnce) and a blue/green CNAME swap, each with
/health requested continuously.

Targets: deploy-to-healthy <= 10 s with the virtualenv cached; 0 failed requests across the
Immutable and Rolling deploys and the swap; AllAtOnce shows its outage (failed requests > 0).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_pipeline.aws.bundles import Bundle, build_bundle  # noqa: E402


class Poller(threading.Thread):
    """Requests /health as fast as it can; counts failures and when they happened."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.sent, self.failed = url, 0, 0
        self.failures: list[float] = []
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
            if not ok:
                self.failures.append(time.monotonic())
                time.sleep(0.01)

    @property
    def outage(self) -> float:
        """Seconds from the first failed request to the last."""
        return self.failures[-1] - self.failures[0] if self.failures else 0.0


def during(url: str, action: Callable[[], object]) -> tuple[float, Poller]:
    """Run ``action`` while polling ``url``; its duration and the poller."""
    poller = Poller(url)
    poller.start()
    time.sleep(0.5)
    start = time.perf_counter()
    action()
    took = time.perf_counter() - start
    time.sleep(0.5)
    poller.stop.set()
    poller.join()
    return took, poller


def elasticbeanstalk(app: Path, work: Path, tiny: bool) -> int:
    """The Elastic Beanstalk figures (see the module docstring); 0 when every target is met."""
    from pytest_pipeline.aws.bundles import upload
    from pytest_pipeline.aws.clients import MotoServer, resolve_context
    from pytest_pipeline.aws.emulated.venvs import COMPLETE, cache_root, requirements_key
    from pytest_pipeline.aws.stacks import load_parameters, provision
    from pytest_pipeline.deploy.elasticbeanstalk import ElasticBeanstalkTarget
    from pytest_pipeline.retry import Backoff

    key = requirements_key((app / "requirements.txt").read_bytes())
    cached = (cache_root() / key / COMPLETE).is_file()
    with MotoServer() as server:
        ctx = resolve_context("endpoint", server.endpoint_url)
        params = load_parameters(ROOT / "infra" / "parameters" / "dev.json")
        params["Environment"] = "dev"
        state = provision(ctx, ROOT / "infra" / "template.yaml", "bench", params, timeout=120)
        application, environment = (
            state.outputs["ApplicationName"],
            state.outputs["EnvironmentName"],
        )
        bucket = state.outputs["DeploymentBucketName"]
        eb = ctx.client("elasticbeanstalk")
        counter = iter(range(1000))

        def publish() -> Bundle:
            return upload(ctx, build_bundle(app, work / "eb", f"bench-eb-{next(counter)}"), bucket)

        def target(strategy: str = "update") -> ElasticBeanstalkTarget:
            return ElasticBeanstalkTarget(
                ctx, application, environment, strategy, 300, backoff=Backoff(0.05, 0.3)
            )

        start = time.perf_counter()
        target().deploy(publish())
        first = time.perf_counter() - start
        label = "virtualenv cached" if cached else "virtualenv built now (cold cache)"
        print(f"elasticbeanstalk: first deploy-to-healthy: {first:.2f} s ({label})")
        start = time.perf_counter()
        target().deploy(publish())
        warm = time.perf_counter() - start
        print(
            f"elasticbeanstalk: deploy-to-healthy, virtualenv cached: {warm:.2f} s (target <= 10 s)"
        )
        if not cached:
            print(
                f"elasticbeanstalk: first run's extra time (virtualenv build): {first - warm:.2f} s"
            )
        ok = warm <= 10
        for policy in ("Immutable", "Rolling", "AllAtOnce"):
            live = target()
            eb.update_environment(
                EnvironmentName=live.health()["environment"],
                OptionSettings=[
                    {"Namespace": "aws:elasticbeanstalk:command", "OptionName": "DeploymentPolicy",
                     "Value": policy},
                ],
            )  # fmt: skip
            while live.health()["environment_status"] != "Ready":
                time.sleep(0.2)
            bundle = publish()
            took, poller = during(live.url, lambda live=live, bundle=bundle: live.deploy(bundle))
            print(
                f"elasticbeanstalk {policy}: deploy {took:.2f} s, failed requests "
                f"{poller.failed} of {poller.sent}"
                + (f", outage {poller.outage:.2f} s" if poller.failed else "")
            )
            ok = ok and (poller.failed > 0 if policy == "AllAtOnce" else poller.failed == 0)
        bundle = publish()
        url, before = target().url, target().inventory()
        took, poller = during(url, lambda: target("swap").deploy(bundle))
        after = target().inventory()
        print(
            "elasticbeanstalk swap (clone, swap, deploy to the stack's environment, swap back, "
            f"terminate the clone): {took:.2f} s, failed requests {poller.failed} of "
            f"{poller.sent} (target 0); environments before {before}, after {after}"
        )
        ok = ok and poller.failed == 0 and before == after
        eb.describe_environments()  # the server answers after all of it
        from pytest_pipeline.aws.stacks import delete

        delete(ctx, "bench", 120)
        left = [
            e["EnvironmentName"]
            for e in eb.describe_environments(IncludeDeleted=False)["Environments"]
            if e["Status"] != "Terminated"
        ]
        print(f"environments left after deleting the stack: {left} (target none)")
        ok = ok and not left
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="deploy the tiny test app")
    parser.add_argument("--builds", type=int, default=5, help="bundle builds to time")
    args = parser.parse_args()
    app = ROOT / ("tests/deploy/tinyapp" if args.tiny else "app")
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
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
        return elasticbeanstalk(app, work, args.tiny)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
