"""Once-per-run resources: across processes, failed creations, teardown order and policy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_pipeline.runtime import runonce

RESOURCES = """
import json, os, time
from pathlib import Path

def log():
    return Path(os.environ["RUNONCE_LOG"])  # read per call: the module outlives a test


def create_slow():
    time.sleep(0.3)  # long enough for the other processes to queue on the lock
    with log().open("a") as handle:
        handle.write(f"create {os.getpid()}\\n")
    return {"pid": os.getpid(), "url": "http://127.0.0.1:1"}


def destroy(state):
    with log().open("a") as handle:
        handle.write(f"destroy {state['name']}\\n")


def destroy_broken(state):
    raise RuntimeError(f"stack {state['name']} is stuck in DELETE_FAILED")
"""


@pytest.fixture
def resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An importable module of create/destroy functions and the log they write."""
    (tmp_path / "runonce_resources.py").write_text(RESOURCES)
    log = tmp_path / "log.txt"
    log.touch()
    monkeypatch.setenv("RUNONCE_LOG", str(log))
    monkeypatch.syspath_prepend(str(tmp_path))
    return log


def test_created_once_across_processes(tmp_path: Path, resources: Path) -> None:
    run_dir = tmp_path / "run"
    code = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from pathlib import Path
        from pytest_pipeline.runtime.runonce import once_per_run
        import runonce_resources as r
        state = once_per_run(Path({str(run_dir)!r}), "server", r.create_slow,
                             "runonce_resources:destroy")
        print(json.dumps(state))
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes)
    states = {output.strip() for output in outputs}
    assert len(states) == 1, states
    creations = [line for line in resources.read_text().splitlines() if line.startswith("create")]
    assert len(creations) == 1
    assert json.loads(states.pop())["pid"] == int(creations[0].split()[1])


def test_a_failed_creation_is_not_retried(tmp_path: Path, resources: Path) -> None:
    calls: list[int] = []

    def create() -> dict[str, object]:
        calls.append(1)
        raise ConnectionError("moto server did not start on port 5000")

    with pytest.raises(ConnectionError):
        runonce.once_per_run(tmp_path, "moto", create, "runonce_resources:destroy")
    with pytest.raises(
        runonce.RunOnceError,
        match="creation failed earlier in this run: "
        "ConnectionError: moto server did not start on port 5000",
    ):
        runonce.once_per_run(tmp_path, "moto", create, "runonce_resources:destroy")
    assert calls == [1]
    assert runonce.resources(tmp_path) == []


def test_create_must_return_json(tmp_path: Path, resources: Path) -> None:
    with pytest.raises(TypeError, match="JSON serializable"):
        runonce.once_per_run(tmp_path, "bad", lambda: {"x": object()}, "runonce_resources:destroy")


def test_a_bad_destroy_reference_fails_before_creating(tmp_path: Path, resources: Path) -> None:
    with pytest.raises(ValueError, match="has no destory"):
        runonce.once_per_run(tmp_path, "x", lambda: {}, "runonce_resources:destory")
    with pytest.raises(ValueError, match="must look like"):
        runonce.once_per_run(tmp_path, "x", lambda: {}, "runonce_resources.destroy")
    assert not (tmp_path / "once" / "x.json").exists()


def test_teardown_reverse_order_policy_and_idempotence(tmp_path: Path, resources: Path) -> None:
    for name, honour in (("stack", True), ("server", False), ("deployment", True)):
        runonce.once_per_run(
            tmp_path,
            name,
            lambda name=name: {"name": name},  # type: ignore[misc]
            "runonce_resources:destroy",
            honour_teardown=honour,
        )
    assert runonce.teardown_all(tmp_path, lambda name: False) == []
    assert resources.read_text().splitlines() == ["destroy server"]
    assert runonce.teardown_all(tmp_path, lambda name: True) == []
    assert resources.read_text().splitlines() == [
        "destroy server",
        "destroy deployment",
        "destroy stack",
    ]
    assert runonce.teardown_all(tmp_path, lambda name: True) == []
    assert len(resources.read_text().splitlines()) == 3


def test_teardown_failures_are_returned(tmp_path: Path, resources: Path) -> None:
    runonce.once_per_run(
        tmp_path, "stack", lambda: {"name": "s1"}, "runonce_resources:destroy_broken"
    )
    runonce.once_per_run(tmp_path, "bucket", lambda: {"name": "b1"}, "runonce_resources:destroy")
    failures = runonce.teardown_all(tmp_path, lambda name: True)
    assert [failure.name for failure in failures] == ["stack"]
    assert failures[0].describe() == (
        "teardown of 'stack' (runonce_resources:destroy_broken) failed, it may be left behind: "
        "RuntimeError: stack s1 is stuck in DELETE_FAILED"
    )
    assert resources.read_text().splitlines() == ["destroy b1"]


def test_a_resource_whose_lock_stays_taken_is_a_failure_and_the_others_go(
    tmp_path: Path, resources: Path
) -> None:
    from filelock import FileLock

    runonce.once_per_run(tmp_path, "stack", lambda: {"name": "s1"}, "runonce_resources:destroy")
    runonce.once_per_run(tmp_path, "bucket", lambda: {"name": "b1"}, "runonce_resources:destroy")
    held = FileLock(str(tmp_path / runonce.ONCE_DIR / "bucket.lock"))
    with held:  # another process still creating or destroying it
        failures = runonce.teardown_all(tmp_path, lambda name: True, timeout=0.2)
    assert [failure.describe() for failure in failures] == [
        "teardown of 'bucket' (runonce_resources:destroy) failed, it may be left behind: "
        "once-per-run resource 'bucket': another process held the lock for more than 0.2s "
        "while tearing it down"
    ]
    assert resources.read_text().splitlines() == ["destroy s1"]
    assert runonce.teardown_all(tmp_path, lambda name: True) == []  # the lock is free now
    assert resources.read_text().splitlines() == ["destroy s1", "destroy b1"]


PIPELINE_CONFTEST = """
import pytest
from pytest_pipeline.plugin.run import get_run

@pytest.fixture(scope="session")
def stack(pytestconfig):
    return get_run(pytestconfig).once("stack", lambda: {"name": "s1"}, "{ref}")
"""


@pytest.mark.parametrize(
    ("args", "test_body", "destroyed"),
    [
        ([], "pass", True),
        (["--teardown=on-success"], "pass", True),
        (["--teardown=on-success"], "assert 0", False),
        (["--teardown=never"], "pass", False),
    ],
)
def test_teardown_policy_in_a_run(
    pytester: pytest.Pytester, args: list[str], test_body: str, destroyed: bool
) -> None:
    log = pytester.path / "log.txt"
    pytester.makepyfile(runonce_resources=RESOURCES)
    pytester.makeconftest(PIPELINE_CONFTEST.replace("{ref}", "runonce_resources:destroy"))
    pytester.makepyfile(test_it=f"def test_it(stack):\n    {test_body}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNONCE_LOG", str(log))
        pytester.runpytest(
            "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args
        )
    assert (log.exists() and "destroy s1" in log.read_text()) is destroyed


def test_teardown_failure_becomes_a_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(runonce_resources=RESOURCES)
    pytester.makeconftest(PIPELINE_CONFTEST.replace("{ref}", "runonce_resources:destroy_broken"))
    pytester.makepyfile(test_it="def test_it(stack):\n    assert stack == {'name': 's1'}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNONCE_LOG", str(pytester.path / "log.txt"))
        result = pytester.runpytest(
            "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"
        )
    result.assert_outcomes(passed=1, warnings=1)
    # (no "PytestWarning:" in the pattern: bandit, once another test of this process loaded
    # it, replaces warnings.formatwarning with one that leaves the category out)
    result.stdout.fnmatch_lines(
        [
            "*teardown of 'stack' (runonce_resources:destroy_broken) failed, "
            "it may be left behind: RuntimeError: stack s1 is stuck in DELETE_FAILED"
        ]
    )


TERMINATED_TEST = """
import os
import signal
import time

import pytest


@pytest.mark.deploy
def test_ci_cancels_the_job(stack):
    os.kill(os.getpid(), signal.SIGTERM)  # what CI sends on cancel or timeout
    time.sleep(5)


@pytest.mark.postdeploy
def test_never_reached():
    pass
"""


def test_sigterm_runs_the_teardown_and_the_verdict_says_interrupted(
    pytester: pytest.Pytester,
) -> None:
    log = pytester.path / "log.txt"
    pytester.makepyfile(runonce_resources=RESOURCES)
    pytester.makeconftest(PIPELINE_CONFTEST.replace("{ref}", "runonce_resources:destroy"))
    pytester.makepyfile(test_it=TERMINATED_TEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNONCE_LOG", str(log))
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "destroy s1" in log.read_text(), "the once-per-run teardown did not run"
    result.stdout.fnmatch_lines(
        ["pipeline interrupted by SIGTERM in stage deploy: the run did not finish*"]
    )
    assert "pipeline passed" not in result.stdout.str()


KILLED_RUN = """
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.deploy
def test_deploys_then_the_runner_dies():
    # a server the run starts (as gunicorn is), then the run is killed: no teardown at all
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    Path("server.pid").write_text(str(server.pid))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_what_a_killed_run_left_running_is_stopped_by_the_next_run(
    pytester: pytest.Pytester,
) -> None:
    import psutil

    pytester.makepyfile(test_killed=KILLED_RUN)
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert first.ret == -9  # SIGKILL
    server = int((pytester.path / "server.pid").read_text())
    assert psutil.pid_exists(server), "the killed run's server should still be running"
    (pytester.path / "test_killed.py").write_text("def test_unrelated():\n    pass\n")
    unrelated = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    unrelated.assert_outcomes(passed=1)  # no pipeline test: no run, nothing swept
    assert "was killed before its end" not in unrelated.stdout.str()
    assert psutil.pid_exists(server)
    (pytester.path / "test_killed.py").write_text(
        "import pytest\n\n\n@pytest.mark.deploy\ndef test_next():\n    pass\n"
    )
    second = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(
        [f"pipeline: run * (pid *) was killed before its end: stopped python* (pid {server})"]
    )
    assert not psutil.pid_exists(server) or psutil.Process(server).status() == "zombie"
    third = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "was killed before its end" not in third.stdout.str()  # swept once
