"""Run an application's Procfile ``web`` command on a loopback port, detached, and stop it for sure.

The process starts in its own session (so it outlives the pytest worker that started it and
its whole process group can be signalled), with ``PORT`` and ``BIND_HOST=127.0.0.1`` set,
stdout and stderr captured in a log file whose tail goes into every error message. A stopped
process is verified gone by PID *and* creation time, so a recycled PID is never mistaken for
it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import requests

from pytest_pipeline.retry import Backoff, RetryError, wait_until

LOG_TAIL_LINES = 30
_HEALTH_ACCESS = re.compile(r'"GET /health[ ?]|"path": "/health"|GET /health HTTP')
_VAR = re.compile(r"\$(?:\{(\w+)(?::-([^}]*))?\}|(\w+))")


class AppProcessError(RuntimeError):
    """The application did not start, did not become healthy, or would not stop."""

    def __init__(self, message: str, log_tail: str = "", check: str | None = None) -> None:
        self.log_tail = log_tail
        self.check = check
        text = message if not log_tail else f"{message}\n--- application log (tail) ---\n{log_tail}"
        super().__init__(text)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ProcessRef:
    """A process identified by PID and creation time (a recycled PID does not match)."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        return cls(pid, psutil.Process(pid).create_time())

    def process(self) -> psutil.Process | None:
        """The live process, or None when it is gone (zombies count as gone)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def alive(self) -> bool:
        return self.process() is not None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL what is left after ``timeout``; verify by PID."""
        proc = self.process()
        if proc is None:
            return
        try:
            family = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            family = [proc]
        _signal_group(self.pid, signal.SIGTERM)
        for member in family:
            with contextlib.suppress(psutil.Error):
                member.terminate()
        _, alive = psutil.wait_procs(family, timeout=timeout)
        if alive:
            _signal_group(self.pid, signal.SIGKILL)
            for member in alive:
                with contextlib.suppress(psutil.Error):
                    member.kill()
            _, alive = psutil.wait_procs(alive, timeout=5)
        still = [m.pid for m in alive if _really_alive(m)]
        if still:
            raise AppProcessError(
                f"processes {still} survived SIGKILL; kill them by hand (kill -9 {still[0]})"
            )

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRef:
        return cls(int(data["pid"]), float(data["create_time"]))


def _really_alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        pgid = os.getpgid(pid)
        if pgid == pid:  # only signal a group the process leads (its own session)
            os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def read_procfile(app_dir: Path, process_type: str = "web") -> str:
    """The command of ``process_type`` in ``app_dir/Procfile``."""
    procfile = app_dir / "Procfile"
    if not procfile.is_file():
        raise AppProcessError(f"{procfile} does not exist; the app needs a Procfile with 'web:'")
    for line in procfile.read_text(encoding="utf-8").splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() == process_type and command.strip():
            return command.strip()
    raise AppProcessError(f"{procfile} has no '{process_type}:' line; add 'web: <command>'")


def expand(command: str, env: dict[str, str]) -> list[str]:
    """Split a Procfile command and expand ``$VAR``, ``${VAR}`` and ``${VAR:-default}``."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        return env.get(name) or (match.group(2) or "")

    return [_VAR.sub(substitute, word) for word in shlex.split(command)]


def _resolve(argv: list[str], bin_dir: Path) -> list[str]:
    """Prefer executables of ``bin_dir`` (the virtualenv's gunicorn, python)."""
    first = argv[0]
    if first in ("python", "python3"):
        python = bin_dir / "python"
        return [str(python) if python.exists() else sys.executable, *argv[1:]]
    beside = bin_dir / first
    if os.sep not in first and beside.exists():
        return [str(beside), *argv[1:]]
    return argv


class AppProcess:
    """One running instance of an app folder's Procfile ``web`` command.

    By default it runs with this interpreter's virtualenv and inherits this process's
    environment; ``bin_dir`` names another virtualenv's ``bin`` folder and ``base_env``
    replaces the inherited environment (an isolated instance sees only what it is given).
    """

    def __init__(
        self,
        app_dir: Path | str,
        env: dict[str, str],
        port: int | None = None,
        log_path: Path | str | None = None,
        host: str = "127.0.0.1",
        *,
        bin_dir: Path | None = None,
        base_env: dict[str, str] | None = None,
    ) -> None:
        self.app_dir = Path(app_dir)
        self.bin_dir = bin_dir or Path(sys.executable).parent
        self.base_env = base_env
        self.host = host
        self.port = port or free_port(host)
        self.env = dict(env)
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"{self.app_dir.name}-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self.ref: ProcessRef | None = None
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.ref is None else self.ref.pid

    def command(self) -> list[str]:
        """The argv that ``start()`` runs."""
        return _resolve(expand(read_procfile(self.app_dir), self._child_env()), self.bin_dir)

    def _child_env(self) -> dict[str, str]:
        base = dict(os.environ) if self.base_env is None else dict(self.base_env)
        env = {**base, **self.env, "PORT": str(self.port), "BIND_HOST": self.host}
        env["PATH"] = str(self.bin_dir) + os.pathsep + env.get("PATH", "")
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> AppProcess:
        """Start the command detached (own session); returns self."""
        if self.ref is not None and self.ref.alive():
            raise AppProcessError(f"{self.app_dir} is already running as PID {self.ref.pid}")
        argv = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self._popen = subprocess.Popen(
                    argv,
                    cwd=self.app_dir,
                    env=self._child_env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise AppProcessError(
                    f"could not run {argv[0]!r} from {self.app_dir}/Procfile: {error}; "
                    "install it in the environment running the pipeline"
                ) from error
        self.ref = ProcessRef.of(self._popen.pid)
        return self

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the captured stdout/stderr, without the access-log lines of our
        own health polling (they would push the lines that explain a failure out of view)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        kept = [line for line in text.splitlines() if not _HEALTH_ACCESS.search(line)]
        return "\n".join(kept[-lines:])

    def exit_code(self) -> int | None:
        """The exit status once the process ended (None while it runs or when not ours)."""
        return None if self._popen is None else self._popen.poll()

    def wait_healthy(
        self,
        deadline: float,
        expect_version: str | None = None,
        path: str = "/health",
        timeout_name: str | None = None,
    ) -> dict[str, Any]:
        """Poll ``GET <path>`` until it answers 200 with status ok (and the expected version).

        Raises ``AppProcessError`` naming the failing check (the process exited, the health
        check failed, or the wrong version answered) with the log tail; ``timeout_name`` (the
        setting ``deadline`` came from) is named when it expires, so a short timeout is not
        taken for a broken app.
        """
        url = self.url + path
        last: dict[str, str] = {"reason": "no answer yet", "check": "connect"}

        def probe() -> dict[str, Any] | None:
            code = self.exit_code()
            if code is not None or (self.ref is not None and not self.ref.alive()):
                raise AppProcessError(
                    f"{self.app_dir}: the process exited (status {code}) before {url} "
                    f"answered; see {self.log_path}",
                    self.log_tail(),
                    check="process",
                )
            try:
                response = requests.get(url, timeout=3)
            except requests.RequestException as error:
                last.update(reason=f"{type(error).__name__}", check="connect")
                return None
            body = _json(response)
            if response.status_code != 200 or body.get("status") != "ok":
                failing = _failing_checks(body)
                last.update(
                    reason=f"GET {path} returned {response.status_code}"
                    + (f", failing check(s): {failing}" if failing else ""),
                    check=failing or "health",
                )
                return None
            if expect_version is not None and body.get("version") != expect_version:
                last.update(
                    reason=f"GET {path} reports version {body.get('version')!r}, "
                    f"expected {expect_version!r}",
                    check="version",
                )
                return None
            return body

        try:
            return wait_until(
                probe, what=f"{url} to be healthy", deadline=deadline, backoff=Backoff(0.05, 0.5)
            )
        except RetryError as error:
            waited = f"{deadline:g} s" + (f" ({timeout_name})" if timeout_name else "")
            remedy = (
                f"if the app only needs longer to start, raise {timeout_name}; otherwise fix "
                "the app or its configuration"
                if timeout_name
                else "fix the app or its configuration"
            )
            raise AppProcessError(
                f"{self.app_dir}: no healthy answer within {waited}: {last['reason']} ({url}); "
                f"{remedy}, see {self.log_path}",
                self.log_tail(),
                check=last["check"],
            ) from error

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group, kill it after ``timeout``, verify it is gone by PID."""
        if self.ref is not None:
            self.ref.stop(timeout)
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=1)

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _failing_checks(body: dict[str, Any]) -> str:
    checks = body.get("checks")
    if not isinstance(checks, dict):
        return ""
    failing = []
    for name, result in sorted(checks.items()):
        if isinstance(result, dict) and result.get("status") not in (None, "ok"):
            detail = result.get("error") or result.get("message") or result.get("detail")
            failing.append(f"{name}" + (f" ({detail})" if detail else ""))
    return ", ".join(failing)


def wait_gone(ref: ProcessRef, timeout: float) -> bool:
    """True once ``ref`` is gone, False when it still runs after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not ref.alive():
            return True
        time.sleep(0.05)
    return not ref.alive()
