"""Time each predeploy scanner on this repository, cold (no resolution cache) and warm.

    .venv/bin/python benchmarks/predeploy_scans.py [--vuln-db ../shared/advisory-db]

Target: `pytest -m predeploy` (these scans plus the app tested locally) within 60 s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pytest_pipeline.predeploy.scanners import SCANNERS, ScanContext, run_scan

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vuln-db", type=Path, default=ROOT.parent / "shared" / "advisory-db")
    args = parser.parse_args()
    vuln_db = args.vuln_db.resolve() if args.vuln_db.is_dir() else None
    ctx = ScanContext.for_repository(ROOT, vuln_db=vuln_db)
    cache = ctx.cache_dir
    for path in cache.glob("resolve-*.json") if cache.is_dir() else ():
        path.unlink()
    for label in ("cold", "warm"):
        total = 0.0
        print(f"-- {label} --")
        for name in SCANNERS:
            start = time.perf_counter()
            outcome = run_scan(name, ctx)
            elapsed = time.perf_counter() - start
            total += elapsed
            state = outcome.error or outcome.skipped or f"{len(outcome.findings)} findings"
            print(f"{name:16s} {elapsed:6.2f} s  {state}  ({outcome.summary})")
        print(f"{'total':16s} {total:6.2f} s")


if __name__ == "__main__":
    main()
