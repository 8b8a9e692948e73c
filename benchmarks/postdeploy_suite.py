"""Wall time of the postdeploy stage against ``app/``, with the default fuzzing budget.

    .venv/bin/python benchmarks/postdeploy_suite.py            # default settings
    .venv/bin/python benchmarks/postdeploy_suite.py --runs 2   # best and worst of two runs
    .venv/bin/python benchmarks/postdeploy_suite.py -- --fuzz-examples 100   # extra pytest args

``app/`` runs under gunicorn on loopback against a private moto server (the real
``infra/`` template, dev parameters), exactly as the plugin's own end-to-end tests start it;
then ``pytest -m postdeploy --target-url URL`` runs in a subprocess over ``suites/`` and its
wall time (interpreter start to exit) is printed, with the stage's own test counts and the
time spent in the contract fuzzing tests.

Target: <= 45 s on a 2-core machine with the defaults (``fuzz-examples`` 30, load 10 s).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_pipeline.aws.stacks import load_parameters  # noqa: E402
from pytest_pipeline.postdeploy.service import LocalAppRunner  # noqa: E402

TARGET_S = 45.0


def run_stage(url: str, extra: list[str]) -> tuple[float, str, float]:
    """One postdeploy run: wall seconds, the summary line, seconds in the fuzzing tests."""
    args = [
        sys.executable, "-m", "pytest", "-m", "postdeploy", "--target-url", url,
        "-p", "no:cacheprovider", "-q", "--durations=0", "--durations-min=0.5", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else f"exit {done.returncode}"
    fuzz = sum(
        float(m.group(1))
        for m in re.finditer(r"^([\d.]+)s call\s+\S*test_contract_fuzz", done.stdout, re.M)
    )
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    return wall, summary, fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="postdeploy runs to time")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    options = parser.parse_args()
    runner = LocalAppRunner(
        ROOT / "app",
        ROOT / "infra" / "template.yaml",
        load_parameters(ROOT / "infra" / "parameters" / "dev.json"),
        health_timeout_s=90,
    )
    started = time.perf_counter()
    with runner as app:
        print(f"app/ up at {app.url} in {time.perf_counter() - started:.1f} s (not counted)")
        walls = []
        for index in range(options.runs):
            wall, summary, fuzz = run_stage(app.url, options.pytest_args)
            walls.append(wall)
            print(f"run {index + 1}: {wall:.1f} s wall ({summary}); fuzzing tests {fuzz:.1f} s")
    verdict = "within" if max(walls) <= TARGET_S else "ABOVE"
    print(
        f"pytest -m postdeploy --target-url: best {min(walls):.1f} s, worst {max(walls):.1f} s "
        f"({verdict} the {TARGET_S:.0f} s target)"
    )


if __name__ == "__main__":
    main()
