"""The Elastic Beanstalk Python platform to run on.

Solution stack names carry a platform version and are retired as new ones ship, so a
name fixed in the template goes stale. On real AWS the newest "64bit Amazon Linux 2023 …
running Python 3.N" is asked for; the template's default is the fallback.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("pytest_pipeline.aws.platforms")

PYTHON_STACK = re.compile(r"^64bit Amazon Linux 2023 v(\d+)\.(\d+)\.(\d+) running Python 3\.(\d+)$")


class _Context(Protocol):
    def client(self, service: str, *, max_attempts: int | None = None) -> Any: ...


def newest_python_stack(names: list[str], python_minor: int | None = None) -> str | None:
    """The newest Amazon Linux 2023 Python solution stack among ``names`` (optionally for
    one Python 3.minor), or None."""
    best: tuple[tuple[int, ...], str] | None = None
    for name in names:
        match = PYTHON_STACK.match(name)
        if not match:
            continue
        major, minor, patch, python = (int(part) for part in match.groups())
        if python_minor is not None and python != python_minor:
            continue
        key = (python, major, minor, patch)
        if best is None or key > best[0]:
            best = (key, name)
    return best[1] if best else None


def current_python_stack(ctx: _Context, python_minor: int | None = None) -> str | None:
    """Ask Elastic Beanstalk for the newest Python solution stack (None if it cannot say)."""
    try:
        names = ctx.client("elasticbeanstalk").list_available_solution_stacks()["SolutionStacks"]
    except (ClientError, BotoCoreError) as error:
        log.warning("cannot list Elastic Beanstalk platforms (%s); using the template's", error)
        return None
    return newest_python_stack(list(names), python_minor)
