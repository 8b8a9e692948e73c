"""Provisioning times on the embedded backend: create, update with no changes, delete.

Run: ``.venv/bin/python benchmarks/provision.py [--rounds N]``. Starts the embedded moto
server (threaded, on 127.0.0.1), provisions ``infra/template.yaml`` with the dev
parameters through ``pytest_pipeline.aws.stacks`` and prints the figures. The first round
includes one-off costs (cfn-lint loading its schemas, boto3 loading service models, moto
importing its backends); the target (create <= 5 s) applies to every round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from pytest_pipeline.aws import inventory, stacks
from pytest_pipeline.aws.clients import MotoServer, resolve_context

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "template.yaml"
CREATE_TARGET = 5.0


def main(argv: list[str] | None = None) -> int:
    """Print create / update-no-op / delete times; exit 1 if a create exceeds the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    params = stacks.load_parameters(ROOT / "infra" / "parameters" / "dev.json")
    started = time.perf_counter()
    with MotoServer() as server:
        print(f"moto server up in {time.perf_counter() - started:.2f}s at {server.endpoint_url}")
        ctx = resolve_context("moto", start_moto=lambda: server.endpoint_url)
        before = inventory.snapshot(ctx)
        figures: dict[str, list[float]] = {"create": [], "update (no changes)": [], "delete": []}
        for round_ in range(args.rounds):
            name = f"bench-{round_}"
            t0 = time.perf_counter()
            state = stacks.provision(ctx, TEMPLATE, name, params, {}, 120)
            t1 = time.perf_counter()
            again = stacks.provision(ctx, TEMPLATE, name, params, {}, 120)
            t2 = time.perf_counter()
            left = stacks.delete(ctx, name, 120)
            t3 = time.perf_counter()
            assert state.status.is_ready and again.status == state.status and not left
            figures["create"].append(t1 - t0)
            figures["update (no changes)"].append(t2 - t1)
            figures["delete"].append(t3 - t2)
            print(
                f"round {round_ + 1}: create {t1 - t0:.3f}s, update (no changes) {t2 - t1:.3f}s, "
                f"delete {t3 - t2:.3f}s, {len(state.resources)} resources, "
                f"{len(state.outputs)} outputs"
            )
        leaked = inventory.snapshot(ctx).new_since(before)
    print()
    for what, values in figures.items():
        print(
            f"{what:<20} first {values[0]:.3f}s  median {statistics.median(values):.3f}s  "
            f"max {max(values):.3f}s"
        )
    print(f"left behind: {leaked or 'nothing'}")
    worst = max(figures["create"])
    verdict = "ok" if worst <= CREATE_TARGET else "TOO SLOW"
    print(f"create target <= {CREATE_TARGET:.0f}s: {verdict} (worst {worst:.3f}s)")
    return 0 if worst <= CREATE_TARGET and not leaked else 1


if __name__ == "__main__":
    sys.exit(main())
