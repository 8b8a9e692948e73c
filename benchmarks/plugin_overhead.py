"""Wall time of 2,000 trivial tests with the pipeline plugin and with ``-p no:pipeline``.

Half of the tests live under ``suites/<stage>/`` (staged: marked, sorted and gated), half
in a plain ``tests/`` folder, so every per-test path of the plugin runs. Each variant runs
``--repeat`` times in fresh subprocesses, the variants interleaved so that each repeat sees
one machine load, in reversed order every other repeat (neither variant always runs
first). The target: the median over the repeats of the ratio with / without is at
most 1.10 (the ratio of the best runs, the least disturbed, is printed beside it).

    python benchmarks/plugin_overhead.py [--tests 2000] [--repeat 9]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("predeploy", "infra", "deploy", "postdeploy", "monitoring")
PER_FILE = 100
TARGET = 1.10
# Steady state: bytecode (and pytest's rewritten-assertion) caches are written by the warm-up
# run and used afterwards, as on any developer machine or CI runner. Without them every run
# recompiles and re-rewrites every module of the plugin, which measures the compiler.
ENVIRON = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_project(root: Path, count: int) -> None:
    """Write ``count`` trivial tests: half staged by folder, half unstaged."""
    (root / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\naddopts = ''\ntestpaths = ['suites', 'tests']\n"
    )
    files = max(1, count // PER_FILE)
    for index in range(files):
        if index % 2 == 0:
            folder = root / "suites" / STAGES[(index // 2) % len(STAGES)]
        else:
            folder = root / "tests"
        folder.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"def test_{index}_{n}():\n    assert {n} == {n}\n\n" for n in range(PER_FILE)
        )
        (folder / f"test_bench_{index}.py").write_text(body)


def run(root: Path, extra: list[str]) -> tuple[float, float, str]:
    """Run pytest once; return its wall time, its CPU time and its last output line.

    CPU time (user + system of the child) hardly moves with other load on the machine,
    wall time does: both are reported.
    """
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=root, capture_output=True, text=True, check=False, env=ENVIRON
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu, done.stdout.strip().splitlines()[-1]


def attribute(root: Path) -> None:
    """Profile one run and print the time spent in each plugin module's hooks and imports.

    Profiling slows everything down alike, so the shares matter, not the seconds.
    """
    import pstats

    run(root, [])  # caches
    profile = root / "run.prof"
    command = [
        sys.executable,
        "-m",
        "cProfile",
        "-o",
        str(profile),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    subprocess.run(command, cwd=root, capture_output=True, check=False, env=ENVIRON)
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]  # undocumented
    total = max(entry[3] for entry in stats.values())
    hooks: dict[str, float] = {}
    imports: dict[str, float] = {}
    for (filename, _, function), entry in stats.items():
        if "pytest_pipeline" not in filename:
            continue
        module = filename[filename.rindex("pytest_pipeline") :]
        if function.startswith("pytest_"):
            hooks[module] = hooks.get(module, 0.0) + entry[3]
        elif function == "<module>" and ("fixtures" in module or module.endswith("hooks.py")):
            imports[module] = entry[3]
    print(f"profiled run: {total:.2f}s; plugin hooks and fixture-module imports, share of it:")
    rows = [("hooks", m, t) for m, t in hooks.items()] + [
        ("import", m, t) for m, t in imports.items()
    ]
    for kind, module, seconds in sorted(rows, key=lambda row: -row[2]):
        if seconds / total >= 0.002:
            print(f"  {kind:<6} {module:<45} {seconds / total:6.1%}")


def main() -> int:
    """Print both timings side by side and whether the ratio meets the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--profile", action="store_true", help="also attribute the plugin's time to its modules"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        root = Path(tmp)
        make_project(root, args.tests)
        variants = {
            "with plugin": [],
            "-p no:pipeline": ["-p", "no:pipeline"],
            # start-up and collection alone, to tell fixed costs from per-test costs
            "with, --co": ["--collect-only"],
            "without, --co": ["--collect-only", "-p", "no:pipeline"],
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        summary: dict[str, str] = {}
        run(root, [])  # warm the import and bytecode caches
        for repeat in range(args.repeat):
            order = list(variants.items())  # interleaved: same machine load for both
            for name, extra in order if repeat % 2 == 0 else order[::-1]:
                elapsed, cpu, summary[name] = run(root, extra)
                times[name].append(elapsed)
                cpus[name].append(cpu)
    print(f"{args.tests} trivial tests, best and median of {args.repeat} runs each")
    print(f"{'variant':<16} {'best s':>8} {'median s':>9} {'best cpu s':>11}  result")
    for name, values in times.items():
        print(
            f"{name:<16} {min(values):>8.2f} {statistics.median(values):>9.2f} "
            f"{min(cpus[name]):>11.2f}  {summary[name]}"
        )
    best = {name: min(values) for name, values in times.items()}
    fixed = best["with, --co"] - best["without, --co"]
    per_test = (best["with plugin"] - best["with, --co"]) - (
        best["-p no:pipeline"] - best["without, --co"]
    )
    print(f"start-up + collection cost of the plugin: {fixed:+.2f}s")
    print(
        f"run-phase cost of the plugin: {per_test:+.2f}s "
        f"({per_test / args.tests * 1e6:+.0f} us/test)"
    )
    best_ratio = best["with plugin"] / best["-p no:pipeline"]
    ratios = [w / wo for w, wo in zip(times["with plugin"], times["-p no:pipeline"], strict=True)]
    ratio = statistics.median(ratios)
    cpu_ratio = statistics.median(
        w / wo for w, wo in zip(cpus["with plugin"], cpus["-p no:pipeline"], strict=True)
    )
    verdict = "OK" if ratio <= TARGET else "ABOVE TARGET"
    print(f"ratio (best with / best without): {best_ratio:.3f}")
    print(
        f"ratio (median of the {args.repeat} repeats' with / without): {ratio:.3f} "
        f"(target <= {TARGET:.2f}) {verdict}"
    )
    print(f"CPU-time ratio (median): {cpu_ratio:.3f}")
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
            make_project(Path(tmp), args.tests)
            attribute(Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
