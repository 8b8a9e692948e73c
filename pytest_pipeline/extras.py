"""The optional parts of the distribution (its extras) and the one message a missing one gets.

The core (``pip install pytest-cicd-pipeline``) runs the plugin and the postdeploy stage
against a running service. Each capability beyond that is an extra of ``pyproject.toml``;
code that needs one asks :func:`problem` (or :func:`require`) first, so a user without it
reads the exact command that installs it instead of an ``ImportError`` deep in a stack.
No pytest here: the pytest side turns a problem into a skip or a failure.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping

DISTRIBUTION = "pytest-cicd-pipeline"
"""The name on the package index (``pytest-pipeline`` there is an unrelated project)."""

EXTRAS: Mapping[str, Mapping[str, str]] = {
    # extra -> {importable module: the distribution that provides it}
    "aws": {"cfnlint": "cfn-lint", "pathspec": "pathspec"},
    "embedded": {"moto": "moto", "cfnlint": "cfn-lint", "pathspec": "pathspec"},
    "scanners": {
        "cfnlint": "cfn-lint",
        "bandit": "bandit",
        "detect_secrets": "detect-secrets",  # pragma: allowlist secret
        "pip_audit": "pip-audit",
        "yaml": "pyyaml",
    },
    "load": {"locust": "locust", "numpy": "numpy"},
    "images": {"numpy": "numpy", "cv2": "opencv-python-headless", "PIL": "pillow"},
    "fuzz": {"schemathesis": "schemathesis", "hypothesis": "hypothesis", "yaml": "pyyaml"},
    "parallel": {"xdist": "pytest-xdist"},
}
"""What each extra must make importable. tests/core checks it against pyproject.toml."""


class MissingExtra(ImportError):
    """An extra that a check needs is not installed; the message says how to install it."""


def install_command(extra: str) -> str:
    """The exact command that installs ``extra``: ``pip install '<distribution>[extra]'``."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}: one of {', '.join(EXTRAS)}")
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing(extra: str) -> list[str]:
    """The distributions of ``extra`` whose modules cannot be imported here (empty: all are)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}: one of {', '.join(EXTRAS)}")
    return sorted(
        {dist for module, dist in EXTRAS[extra].items() if not _importable(module)},
    )


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package counts as missing
        return False


def problem(extra: str, purpose: str) -> str | None:
    """One line saying that ``purpose`` needs ``extra`` and how to install it, or ``None``
    when everything it needs is importable."""
    absent = missing(extra)
    if not absent:
        return None
    return (
        f"{purpose} needs the '{extra}' extra ({', '.join(absent)} not installed): "
        f"{install_command(extra)}"
    )


def extra_of(module: str) -> str | None:
    """The first extra (in :data:`EXTRAS` order) that provides the top-level package of
    ``module``, or ``None`` when no extra does (a missing core dependency, a typo)."""
    top = module.split(".", 1)[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def require(extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtra` with :func:`problem`'s message when ``extra`` is missing."""
    message = problem(extra, purpose)
    if message:
        raise MissingExtra(message)
