"""The Locust load engine in subprocesses: standalone and distributed (master + workers)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_pipeline.postdeploy.load import (
    Endpoint,
    LoadError,
    LoadPlan,
    ResourceSampler,
    run_load,
    serving_pids_for,
    write_locustfile,
)

PLAN = LoadPlan(
    (Endpoint("root", "GET", "/", 3), Endpoint("missing", "GET", "/missing", 1)),
    wait_min_s=0.01,
    wait_max_s=0.05,
)


@pytest.fixture(scope="module")
def static_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A trivial loopback HTTP server (Python's http.server) serving an index page."""
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text("ok")
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (...)"
        port = int(line.split(" port ")[1].split()[0])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_generated_locustfile_has_one_task_per_endpoint(tmp_path: Path) -> None:
    source = write_locustfile(PLAN, tmp_path / "locustfile.py").read_text()
    assert "@task(3)" in source and "name='root'" in source
    assert "@task(1)" in source and "name='missing'" in source


def test_upload_plan_needs_a_file(tmp_path: Path) -> None:
    plan = LoadPlan((Endpoint("photos", "POST", "/p", 1, upload="photo"),))
    with pytest.raises(LoadError, match="uploads a file but names none"):
        write_locustfile(plan, tmp_path / "locustfile.py")


@pytest.mark.slow
def test_standalone_run_collects_raw_latencies(static_server: str, tmp_path: Path) -> None:
    pids = serving_pids_for(static_server)
    assert pids, "the loopback listener should be found by port"
    with ResourceSampler(pids, interval_s=0.2) as sampler:
        result = run_load(
            static_server, PLAN, users=4, spawn_rate=4, duration_s=2, work_dir=tmp_path
        )
    stats = result.stats()
    assert stats["root"].count > 20 and stats["root"].errors == 0
    assert stats["missing"].errors == stats["missing"].count > 0  # 404s count as errors
    assert 0 < result.duration_s <= 3
    assert sampler.peak_rss_mb > 1


@pytest.mark.slow
def test_distributed_run_ships_samples_to_the_master(static_server: str, tmp_path: Path) -> None:
    result = run_load(
        static_server, PLAN, users=4, spawn_rate=4, duration_s=2, work_dir=tmp_path, workers=2
    )
    stats = result.stats()
    assert result.workers == 2
    assert stats["overall"].count > 20
    # The master's own count (stats CSV) and the raw samples shipped by the workers agree.
    assert result.engine_requests == stats["overall"].count
