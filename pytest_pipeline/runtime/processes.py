"""When another process started, from psutil, which loads only when that is asked.

Plain library code: the environment lock and the killed-run sweep tell a live process from a
later one that reuses its pid by its start time.
"""

from __future__ import annotations


def create_time(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), None when there is none (or it cannot be
    read)."""
    # psutil loads with the first question (an environment lock taken or checked, a process
    # start /proc cannot tell), not with every run
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, ValueError):
        return None
