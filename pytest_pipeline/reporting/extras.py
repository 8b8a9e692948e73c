"""Pure builders of the HTML fragments a test adds to the report.

Every builder returns a self-contained HTML string (pictures are ``data:`` URIs) with all
text escaped and redacted; ``pytest_pipeline.plugin.reporting`` hands them to pytest-html as
``extras.html`` entries. Nothing here imports pytest.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_pipeline.reporting.histogram import Percentiles
from pytest_pipeline.reporting.pictures import Picture
from pytest_pipeline.reporting.redact import redact

IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml")

_BOX = 'style="margin:8px 0;font-family:system-ui,sans-serif"'
_TABLE = 'style="border-collapse:collapse;margin:4px 0;font-size:13px"'
_CELL = 'style="border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top"'
_HEAD = 'style="border:1px solid #ccc;padding:3px 8px;text-align:left;background:#f2f2f2"'


def _text(value: Any) -> str:
    return html.escape(redact(str(value)))


def _title(title: str) -> str:
    return f'<div style="font-weight:600;margin:4px 0">{_text(title)}</div>'


def check_image(data: bytes, mime: str) -> None:
    """Raise ``ValueError`` for a non-image mime type or empty data, saying which."""
    if mime not in IMAGE_MIMES:
        raise ValueError(f"unsupported image type {mime!r}: use one of {', '.join(IMAGE_MIMES)}")
    if not data:
        raise ValueError("image data is empty")


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,…`` for ``data`` (raises ``ValueError`` for a non-image mime)."""
    check_image(data, mime)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def picture_uri(picture: Picture) -> str:
    """The ``data:`` URI of a :class:`Picture`."""
    return data_uri(picture.data, picture.mime)


def format_value(value: Any, unit: str = "") -> str:
    """A figure as people read it: floats to 3 significant decimals, then the unit."""
    if isinstance(value, float):
        shown = f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    else:
        shown = str(value)
    return f"{shown} {unit}".strip()


def figures_html(figures: Sequence[tuple[str, Any, str]]) -> str:
    """The test's key figures as a two-column table (name, value with unit)."""
    rows = "".join(
        f"<tr><td {_CELL}>{_text(name)}</td>"
        f"<td {_CELL}>{_text(format_value(value, unit))}</td></tr>"
        for name, value, unit in figures
    )
    return (
        f'<div class="pipeline-figures" {_BOX}>{_title("Figures")}'
        f"<table {_TABLE}><tr><th {_HEAD}>figure</th><th {_HEAD}>value</th></tr>"
        f"{rows}</table></div>"
    )


def _figure(caption: str, data: bytes, mime: str, max_width: int, key: str = "") -> str:
    # With a key the picture is not inlined: the report's picture store holds each distinct
    # picture once and fills in every <img> that names it (reporting.dashboard).
    source = (
        f'class="pipeline-picture" data-pipeline-picture="{_text(key)}"'
        if key
        else f'src="{data_uri(data, mime)}"'
    )
    return (
        f'<figure style="margin:0 12px 0 0;display:inline-block;vertical-align:top">'
        f'<img {source} alt="{_text(caption)}" '
        f'style="max-width:{max_width}px;max-height:480px;border:1px solid #ddd;'
        f'background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/16px 16px">'
        f'<figcaption style="font-size:12px;color:#444">{_text(caption)}</figcaption></figure>'
    )


def image_html(title: str, data: bytes | Picture, mime: str = "image/png") -> str:
    """One picture with its title: inline bytes, or a stored :class:`Picture` (by its key)."""
    if isinstance(data, Picture):
        figure = _figure(title, data.data, data.mime, 640, data.key)
    else:
        figure = _figure(title, data, mime, 640)
    return f'<div class="pipeline-image" {_BOX}>{_title(title)}{figure}</div>'


def side_by_side_html(
    title: str, items: Sequence[tuple[str, bytes, str]] | Sequence[tuple[str, Picture]]
) -> str:
    """Pictures next to each other (input photo, output photo, mask …), each captioned:
    ``(caption, data, mime)`` inline, or ``(caption, Picture)`` from the picture store."""
    if not items:
        raise ValueError(f"side_by_side {title!r}: no pictures given")
    width = max(200, 1100 // len(items))
    figures = ""
    for item in items:
        caption, payload = str(item[0]), item[1:]
        if isinstance(payload[0], Picture):
            picture = payload[0]
            figures += _figure(caption, picture.data, picture.mime, width, picture.key)
        else:
            figures += _figure(caption, bytes(payload[0]), str(payload[1]), width)
    return (
        f'<div class="pipeline-side-by-side" {_BOX}>{_title(title)}'
        f'<div style="display:flex;flex-wrap:wrap;gap:8px">{figures}</div></div>'
    )


def table_html(title: str, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> str:
    """A table from a list of dicts (columns from their keys) or a list of rows (first = header)."""
    if not rows:
        body = f"<tr><td {_CELL}>(no rows)</td></tr>"
    elif isinstance(rows[0], Mapping):
        columns: list[str] = []
        for row in rows:
            assert isinstance(row, Mapping)
            columns.extend(key for key in row if key not in columns)
        head = "".join(f"<th {_HEAD}>{_text(c)}</th>" for c in columns)
        lines = "".join(
            "<tr>" + "".join(f"<td {_CELL}>{_text(row.get(c, ''))}</td>" for c in columns) + "</tr>"
            for row in rows
            if isinstance(row, Mapping)
        )
        body = f"<tr>{head}</tr>{lines}"
    else:
        header, *rest = rows
        head = "".join(f"<th {_HEAD}>{_text(c)}</th>" for c in header)
        lines = "".join(
            "<tr>" + "".join(f"<td {_CELL}>{_text(cell)}</td>" for cell in row) + "</tr>"
            for row in rest
        )
        body = f"<tr>{head}</tr>{lines}"
    return f'<div class="pipeline-table" {_BOX}>{_title(title)}<table {_TABLE}>{body}</table></div>'


def text_html(title: str, body: str) -> str:
    """Preformatted text (a log excerpt, a response body) with its title."""
    return (
        f'<div class="pipeline-text" {_BOX}>{_title(title)}'
        f'<pre style="white-space:pre-wrap;background:#f7f7f7;padding:6px;margin:0">'
        f"{_text(body)}</pre></div>"
    )


def histogram_html(title: str, png: bytes | Picture, stats: Percentiles) -> str:
    """The latency histogram (PNG bytes, or a stored :class:`Picture`) beside its
    percentile table."""
    chart = png if isinstance(png, Picture) else Picture(png, "image/png")
    table = table_html(
        "Percentiles",
        [
            ("statistic", "value"),
            ("count", stats.count),
            ("p50", format_value(stats.p50, "ms")),
            ("p95", format_value(stats.p95, "ms")),
            ("p99", format_value(stats.p99, "ms")),
            ("min", format_value(stats.minimum, "ms")),
            ("max", format_value(stats.maximum, "ms")),
            ("mean", format_value(stats.mean, "ms")),
        ],
    )
    return (
        f'<div class="pipeline-histogram" {_BOX}>{_title(title)}'
        f'<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">'
        f"{_figure(title, chart.data, chart.mime, 720, chart.key if chart is png else '')}"
        f"{table}</div></div>"
    )
