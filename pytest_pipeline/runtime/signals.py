"""SIGTERM ends a run the way Ctrl-C does: the same teardown as a normal end, and an
honest verdict.

CI sends SIGTERM when a job is cancelled or times out. Python's default is to die at once,
which leaves the run's stack, deployed version and local processes behind and writes no
verdict. While :class:`TermAsInterrupt` is installed, the first SIGTERM raises
``KeyboardInterrupt`` in the main thread: pytest stops the test that runs, and the end of
the run (rollback decision, record, notifications, once-per-run teardown) runs as after
Ctrl-C. A second SIGTERM during that teardown gets the default behaviour again, so a user
(or CI's grace period) can still force the end. No pytest import.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class TermAsInterrupt:
    """Turns the first SIGTERM into ``KeyboardInterrupt`` and remembers it."""

    def __init__(self) -> None:
        self.received: str | None = None
        """``"SIGTERM"`` once one arrived (the run's verdict names it)."""
        self._installed = False

    def install(self) -> bool:
        """Take SIGTERM if nobody else handles it (main thread only); True when taken."""
        if threading.current_thread() is not threading.main_thread():
            return False
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return False  # an embedding program handles it: leave it alone
        signal.signal(signal.SIGTERM, self._handle)
        self._installed = True
        return True

    def uninstall(self) -> None:
        """Give SIGTERM its default behaviour back (if this object still holds it)."""
        if self._installed and signal.getsignal(signal.SIGTERM) == self._handle:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second TERM ends the process
        self._installed = False
        raise KeyboardInterrupt(f"{self.received} received: ending the run with its teardown")
