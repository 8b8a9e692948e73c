"""Worker count and pixel limit derived from the instance's memory (app/capacity.py), and the
proxy settings the bundle carries (.platform/nginx) agreeing with the app's own limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import capacity  # app/ is on sys.path (tests/app/helpers.py)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import APP_DIR

MIB = 1024 * 1024
T3_SMALL_MEMTOTAL = 1_955_000 * 1024  # what /proc/meminfo says on a 2 GiB t3.small
NGINX = APP_DIR / ".platform" / "nginx" / "conf.d"


def _peak(plan: capacity.Plan, threads: int) -> int:
    """Memory when every thread of every worker decodes the largest accepted image."""
    per_request = plan.max_pixels * capacity.PEAK_BYTES_PER_PIXEL
    return plan.workers * (capacity.WORKER_BASELINE_BYTES + threads * per_request)


def test_t3_small_gets_two_workers_and_the_full_pixel_limit() -> None:
    plan = capacity.plan(T3_SMALL_MEMTOTAL, cpus=2, threads=2)
    assert (plan.workers, plan.max_pixels) == (2, 40_000_000)
    assert _peak(plan, 2) + capacity.SYSTEM_RESERVE_BYTES <= T3_SMALL_MEMTOTAL


def test_small_memory_lowers_workers_then_pixels() -> None:
    plan = capacity.plan(1024 * MIB, cpus=2, threads=2)
    assert plan.workers == 1 and plan.max_pixels < 40_000_000
    assert _peak(plan, 2) + capacity.SYSTEM_RESERVE_BYTES <= 1024 * MIB


def test_cpus_cap_workers_on_big_machines() -> None:
    assert capacity.plan(64 * 1024 * MIB, cpus=2, threads=2).workers == 2
    assert capacity.plan(64 * 1024 * MIB, cpus=8, threads=2).workers == 8


# Feature: ci-cd-pipeline, Property 5: Configuration Management Flexibility
@settings(max_examples=200, deadline=None)
@given(
    memory=st.integers(1400 * MIB, 256 * 1024 * MIB),
    cpus=st.integers(1, 64),
    threads=st.integers(1, 8),
)
def test_plan_always_fits_the_memory(memory: int, cpus: int, threads: int) -> None:
    plan = capacity.plan(memory, cpus, threads)
    assert 1 <= plan.workers <= cpus
    assert capacity.MIN_PIXELS <= plan.max_pixels <= capacity.MAX_PIXELS_CAP
    assert _peak(plan, threads) + capacity.SYSTEM_RESERVE_BYTES <= memory


def test_memory_is_the_smaller_of_meminfo_and_cgroup(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        4000000 kB\nMemFree:  1 kB\n")
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    v2.write_text("max\n")
    v1.write_text(str(9223372036854771712))
    assert capacity.memory_bytes(meminfo, (v2, v1)) == 4_000_000 * 1024
    v2.write_text(str(1536 * MIB))
    assert capacity.memory_bytes(meminfo, (v2, v1)) == 1536 * MIB


def test_environment_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = capacity.from_environment({"WEB_CONCURRENCY": "3", "MAX_IMAGE_PIXELS": "1000"})
    assert (plan.workers, plan.max_pixels) == (3, 1000)


def _directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.fullmatch(r"([a-z_]+)\s+(.*);", line)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_proxy_limits_match_the_app() -> None:
    limits = _directives(NGINX / "limits.conf")
    ebext = (APP_DIR / ".ebextensions" / "01_python.config").read_text()
    upload_mb = re.search(r'MAX_UPLOAD_MB:\s*"(\d+)"', ebext)
    assert upload_mb, "MAX_UPLOAD_MB missing from .ebextensions"
    assert limits["client_max_body_size"] == [f"{upload_mb.group(1)}m"]
    namespace: dict[str, object] = {}
    exec((APP_DIR / "gunicorn.conf.py").read_text(), namespace)
    _count, size = limits["large_client_header_buffers"][0].split()
    buffer_bytes = int(size.removesuffix("k")) * 1024
    # a line or a field gunicorn accepts fits one buffer, and nothing much longer does
    assert int(str(namespace["limit_request_line"])) <= buffer_bytes <= 8192 + 2
    assert int(str(namespace["limit_request_field_size"])) <= buffer_bytes
    assert limits["server_tokens"] == ["off"]


def test_proxy_error_pages_are_contract_json() -> None:
    conf = (NGINX / "elasticbeanstalk" / "json_errors.conf").read_text()
    pages = dict(re.findall(r"error_page (\d+) (?:=431 )?(/\.errors/\d+\.json);", conf))
    assert "error_page 494 =431 " in conf  # nginx's own 494 leaves as a standard 431
    assert set(pages) == {"400", "413", "414", "431", "494", "502", "504"}
    for status, name in pages.items():
        block = re.search(rf"location = {re.escape(name)} \{{(.*?)\n\}}", conf, re.DOTALL)
        assert block, f"no location {name}"
        assert "internal;" in block.group(1), f"{name} must not be reachable from outside"
        assert "default_type application/json;" in block.group(1)
        answer = re.search(r"return (\d+) '(.*)\\n';", block.group(1))
        assert answer, f"{name} returns no body"
        body = json.loads(answer.group(2))
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
        assert int(answer.group(1)) == (431 if status == "494" else int(status))
    assert "10 MiB" in conf  # the 413 message names the limit of client_max_body_size


def test_bundle_carries_the_proxy_settings_and_capacity() -> None:
    from pytest_pipeline.aws.bundles import select_files

    included, _excluded = select_files(APP_DIR)
    for name in (
        ".platform/nginx/conf.d/limits.conf",
        ".platform/nginx/conf.d/elasticbeanstalk/json_errors.conf",
        "capacity.py",
        "gunicorn.conf.py",
    ):
        assert name in included, f"{name} is not in the bundle"
