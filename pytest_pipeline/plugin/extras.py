"""The pytest side of :mod:`pytest_pipeline.extras`: a missing extra skips or fails a test."""

from __future__ import annotations

import pytest

from pytest_pipeline import extras


def need_extra(extra: str, purpose: str, *, fail: bool = False) -> None:
    """Skip the calling test (or, at a test module's top, the whole module) when ``extra``
    is not installed, with the command that installs it; ``fail=True`` fails instead, for a
    stage that cannot do without it (the embedded backend, the scanners)."""
    __tracebackhide__ = True  # the skip is reported where it was asked for, not here
    message = extras.problem(extra, purpose)
    if message is None:
        return
    if fail:
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)
