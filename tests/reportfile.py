"""Reads a ``report.html`` that pytest-html wrote: its test rows and the dashboard on top.

pytest-html 4 keeps every test row in a JSON blob (``data-jsonblob``) that its script turns
into the table; the dashboard keeps each distinct picture once in a JSON picture store that
the rows' ``<img data-pipeline-picture>`` refer to. The tests count what a reviewer would
see from these, and the browser tests check the same in Chromium.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_BLOB = re.compile(r'data-jsonblob="([^"]*)"')
_STORE = re.compile(r'<script type="application/json" id="pipeline-picture-store">(.*?)</script>')
_REF = re.compile(r'data-pipeline-picture="([0-9a-f]+)"')


@dataclass
class Report:
    """A parsed report: the raw text, the rows by node id, and the picture store."""

    text: str
    rows: dict[str, list[dict[str, Any]]]
    store: dict[str, str]

    def extras_html(self, nodeid: str) -> str:
        """Every HTML extra of ``nodeid``'s rows, joined."""
        return "".join(
            extra["content"]
            for row in self.rows.get(nodeid, [])
            for extra in row.get("extras", [])
            if extra.get("format_type") == "html"
        )

    def pictures_of(self, nodeid: str, block: str) -> list[str]:
        """Picture keys inside the ``block`` extras (``pipeline-side-by-side`` …) of a test,
        each checked to be in the store."""
        found = []
        for extra in self.extras_html(nodeid).split('<div class="')[1:]:
            if extra.startswith(block):
                found += _REF.findall(extra)
        missing = [key for key in found if key not in self.store]
        assert not missing, f"{nodeid}: pictures {missing} are not in the report's store"
        return found

    def outcome(self, nodeid: str) -> str:
        """The row's result (``Passed``, ``Failed`` …) of the call (or only) phase."""
        rows = self.rows.get(nodeid) or [{}]
        return str(rows[-1].get("result", "missing"))

    def count(self, marker: str) -> int:
        """How often ``marker`` occurs in the page outside the rows' JSON."""
        return _BLOB.sub("", self.text).count(marker)


def read_report(path: Path) -> Report:
    """Parse ``path`` (AssertionError naming what is missing when it is not such a report)."""
    text = path.read_text(encoding="utf-8")
    blob = _BLOB.search(text)
    assert blob is not None, f"{path} has no pytest-html data blob"
    rows = json.loads(html.unescape(blob.group(1)))["tests"]
    store_match = _STORE.search(text)
    store = json.loads(store_match.group(1)) if store_match else {}
    return Report(text, rows, store)
