"""One environment, one run at a time: the lock file, and a second run refused by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_pipeline.runtime import envlock


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_run_holds_and_the_same_run_may_ask_again(tmp_path: Path) -> None:
    first = envlock.owner("run-1", os.getpid(), "dev-stack")
    assert envlock.acquire(tmp_path, "dev-stack", first) is None
    assert envlock.acquire(tmp_path, "dev-stack", first) is None  # another process of run-1
    second = envlock.owner("run-2", os.getpid(), "dev-stack")
    with pytest.raises(envlock.EnvironmentBusy, match=r"held by run run-1 \(pid \d+\) since "):
        envlock.acquire(tmp_path, "dev-stack", second)
    assert not envlock.release(tmp_path, "dev-stack", "run-2")  # not its lock
    assert envlock.release(tmp_path, "dev-stack", "run-1")
    assert envlock.acquire(tmp_path, "dev-stack", second) is None


def test_a_killed_runs_lock_is_taken_over_and_said(tmp_path: Path) -> None:
    gone = envlock.Holder("run-1", _dead_pid(), 0.0, "2026-01-01T00:00:00+00:00", "dev-s")
    (tmp_path / "dev-s.json").write_text(json.dumps(gone.__dict__))
    note = envlock.acquire(tmp_path, "dev-s", envlock.owner("run-2", os.getpid(), "dev-s"))
    assert note is not None and "run run-1" in note and "which is gone" in note
    assert json.loads((tmp_path / "dev-s.json").read_text())["run_id"] == "run-2"


CONFTEST = """
import pytest
from pytest_pipeline.plugin.run import get_run


@pytest.fixture(scope="session")
def stack(pytestconfig):
    from pytest_pipeline.runtime.envlock import EnvironmentBusy

    try:
        get_run(pytestconfig).hold_environment()
    except EnvironmentBusy as error:
        pytest.fail(str(error), pytrace=False)
    return {"name": "s1"}
"""


def test_a_second_run_in_the_environment_is_refused_naming_the_first(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_it="import pytest\n\n@pytest.mark.infra\ndef test_it(stack):\n    pass\n"
    )
    locks = pytester.path / ".pipeline" / "locks"
    holder = envlock.owner("first-run", os.getpid(), "dev-passport-photo-dev")
    assert envlock.acquire(locks, "dev-passport-photo-dev", holder) is None
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*environment dev-passport-photo-dev is held by run first-run (pid "
            f"{os.getpid()}) since *: wait for that run to finish (or stop it), then run again*"
        ]
    )
    # the refused run leaves the first run's lock alone; once it is released, runs pass
    assert json.loads((locks / "dev-passport-photo-dev.json").read_text())["run_id"] == "first-run"
    assert envlock.release(locks, "dev-passport-photo-dev", "first-run")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert not list(locks.glob("*.json")), "the run did not give its environment back"


def test_a_lock_is_never_made_for_a_process_that_is_not_running() -> None:
    pid = _dead_pid()
    with pytest.raises(ValueError, match=rf"process {pid} is not running: a lock names the live"):
        envlock.owner("run-1", pid, "dev-stack")
