"""Reading a pins file (app/requirements.txt, constraints.txt): every line name==version."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.utils import canonicalize_name

PIN = re.compile(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+!-]+)")


def read_pins(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of ``path``; a line that is not an exact pin fails."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.fullmatch(line)
        assert match, f"{path.name}: not pinned with ==: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins
