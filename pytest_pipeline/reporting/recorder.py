"""What a test adds to its report: figures, pictures, tables, text (no pytest import).

:class:`Recorder` is what the ``pipeline_record`` fixture yields. Figures go to JUnit through
the ``record_property`` callable it is given and into one figures table per report phase;
everything else becomes an HTML block that the pytest-html integration attaches to the
test's report (``report.extras``). Every value passes through the redactor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_pipeline.findings import Finding
from pytest_pipeline.models import PropertyValue
from pytest_pipeline.reporting import extras, pictures
from pytest_pipeline.reporting.histogram import Percentiles, percentiles, render_histogram
from pytest_pipeline.reporting.redact import redact

RecordProperty = Callable[[str, object], None]
DashboardEntry = dict[str, Any]
"""What a test adds to the dashboard on top of the report (JSON, so xdist carries it):
``{"kind": "gallery", "title", "pictures": [{"caption", "thumb", "key"}]}``,
``{"kind": "histogram", "title", "key", "stats"}`` or ``{"kind": "picture", "key", "uri"}``
(a picture for the report's picture store, which holds each distinct picture once)."""


def _junit_value(value: Any) -> PropertyValue:
    if isinstance(value, bool | int | float):
        return value
    return redact(str(value))


def findings_rows(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """Security findings as table rows: rule, severity, file, line, message, fix."""
    return [
        {
            "rule": f.rule_id,
            "severity": f.severity.value,
            "file": f.location,
            "line": "" if f.line is None else f.line,
            "resource": f.resource or "",
            "message": f.message,
            "fix": f.fix,
        }
        for f in findings
    ]


class Recorder:
    """Collects one test's figures and pictures for JUnit and the HTML report."""

    def __init__(self, record_property: RecordProperty) -> None:
        self._record_property = record_property
        self.figures: list[tuple[str, PropertyValue, str]] = []
        self._pending_figures: list[tuple[str, PropertyValue, str]] = []
        self._blocks: list[str] = []
        self._dashboard: list[DashboardEntry] = []

    def figure(self, name: str, value: Any, unit: str = "") -> None:
        """A key figure: a JUnit property ``name`` and a row of the figures table."""
        if not name or not str(name).strip():
            raise ValueError("pipeline_record.figure: the figure needs a non-empty name")
        shown = _junit_value(value)
        self._record_property(redact(str(name)), shown)
        self.figures.append((str(name), shown, unit))
        self._pending_figures.append((str(name), shown, unit))

    def image(self, title: str, data: bytes, mime: str = "image/png") -> None:
        """A picture (PNG, JPEG, …) with its title, sized for the report."""
        self._blocks.append(extras.image_html(title, self._store(data, mime)[0]))

    def side_by_side(
        self, title: str, items: Sequence[tuple[str, bytes, str]], *, gallery: bool = True
    ) -> None:
        """Pictures next to each other: ``[(caption, data, mime), ...]``, sized for the
        report; with ``gallery`` (the default) their thumbnails also go to the dashboard's
        photo gallery under ``title``, with the test's verdict."""
        if not items:
            raise ValueError(f"side_by_side {title!r}: no pictures given")
        shown = []
        thumbs = []
        for caption, data, mime in items:
            picture, thumb = self._store(data, mime)
            shown.append((caption, picture))
            thumbs.append(
                {"caption": redact(caption), "thumb": extras.picture_uri(thumb), "key": picture.key}
            )
        self._blocks.append(extras.side_by_side_html(title, shown))
        if gallery:
            self._dashboard.append({"kind": "gallery", "title": redact(title), "pictures": thumbs})

    def _store(self, data: bytes, mime: str) -> tuple[pictures.Picture, pictures.Picture]:
        extras.check_image(data, mime)
        picture, thumb = pictures.for_report(data, mime)
        self._keep(picture)
        return picture, thumb

    def _keep(self, picture: pictures.Picture) -> None:
        """Send ``picture`` to the report's picture store."""
        self._dashboard.append(
            {"kind": "picture", "key": picture.key, "uri": extras.picture_uri(picture)}
        )

    def histogram(self, title: str, values_ms: Sequence[float]) -> Percentiles:
        """A latency histogram and percentile table; p50/p95/p99 and count become figures."""
        stats = percentiles(values_ms)
        chart = pictures.Picture(render_histogram(title, values_ms), "image/png")
        self._keep(chart)  # a chart stays a PNG: lines and labels, no JPEG artefacts
        self._blocks.append(extras.histogram_html(title, chart, stats))
        self._dashboard.append(
            {
                "kind": "histogram",
                "title": redact(title),
                "key": chart.key,
                "stats": stats.as_figures(),
            }
        )
        for name, value in stats.as_figures().items():
            self.figure(name, value, "" if name.endswith("count") else "ms")
        return stats

    def slo(self, objective: str, measured: Any, unit: str = "") -> None:
        """A service-level objective this test judges (``p95<800ms``) and what was measured:
        JUnit properties ``slo`` and ``slo_measured``; the dashboard lists every SLO of the
        run with the test's verdict."""
        if not objective or not str(objective).strip():
            raise ValueError("pipeline_record.slo: the objective needs a non-empty text")
        self._record_property("slo", redact(str(objective)))
        self._record_property("slo_measured", extras.format_value(measured, unit))

    def table(
        self, title: str, rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]
    ) -> None:
        """A table from dicts (columns from keys) or from rows whose first row is the header."""
        self._blocks.append(extras.table_html(title, rows))

    def findings(self, title: str, findings: Sequence[Finding]) -> None:
        """Security findings as a table with rule, severity, file, line, message and fix."""
        self.table(title, findings_rows(findings) or [{"result": "no findings"}])

    def text(self, title: str, body: str) -> None:
        """Preformatted text (a response body, a log excerpt)."""
        self._blocks.append(extras.text_html(title, body))

    def take_html(self) -> list[str]:
        """The HTML blocks recorded since the last call (figures table first), then forget them."""
        blocks = []
        if self._pending_figures:
            blocks.append(extras.figures_html(self._pending_figures))
        blocks.extend(self._blocks)
        self._pending_figures, self._blocks = [], []
        return blocks

    def take_dashboard(self) -> list[DashboardEntry]:
        """The dashboard entries recorded since the last call, then forget them."""
        entries, self._dashboard = self._dashboard, []
        return entries
