"""How big the pipeline's report is: the whole pipeline on the embedded default, then its
``report.html`` taken apart (target: under 5 MB, so it opens quickly and uploads cheaply).

Run: ``.venv/bin/python benchmarks/report_size.py [pytest args…]`` from the repository root
(prints one figure per line; extra arguments go to pytest, e.g. ``-n 2``). The run writes
its reports to a temporary folder, not to ``reports/``.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 5.0


def main(args: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="report-size-") as folder:
        out = Path(folder)
        report = out / "report.html"
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--reports-dir={out}",
                f"--html={report}",
                "--self-contained-html",
                f"--junitxml={out / 'junit.xml'}",
                *args,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        print(f"pipeline run: {time.monotonic() - started:.1f} s, exit {done.returncode}")
        if not report.is_file():
            print(done.stdout[-3000:] + done.stderr[-3000:])
            return 1
        text = report.read_text(encoding="utf-8")
        blob = re.search(r'data-jsonblob="([^"]*)"', text)
        store = re.search(r'id="pipeline-picture-store">(.*?)</script>', text, re.S)
        pictures = json.loads(store.group(1)) if store else {}
        rows = json.loads(html.unescape(blob.group(1)))["tests"] if blob else {}
        size_mb = len(text.encode()) / 1e6
        rows_mb = len(blob.group(1)) / 1e6 if blob else 0.0
        store_mb = len(store.group(1)) / 1e6 if store else 0.0
        thumbs = re.findall(r'class="pipeline-thumb" src="([^"]*)"', text)
        cards = text.count('class="pipeline-card"')
        print(f"report.html: {size_mb:.2f} MB (target < {TARGET_MB:.0f} MB)")
        print(f"  test rows (JSON): {rows_mb:.2f} MB, {len(rows)} tests")
        print(f"  picture store: {store_mb:.2f} MB, {len(pictures)} distinct pictures")
        thumbs_mb = sum(len(t) for t in thumbs) / 1e6
        print(f"  gallery: {cards} cards, {len(thumbs)} thumbnails, {thumbs_mb:.2f} MB")
        print(f"  picture references in rows: {text.count('data-pipeline-picture=')}")
        print(f"within target: {'yes' if size_mb < TARGET_MB else 'NO'}")
        return 0 if size_mb < TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
