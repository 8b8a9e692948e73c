"""The dashboard on top of ``report.html``: what a reviewer reads before any test row.

Failures first (reason and remedy), then the stages, the deployment ledger, every SLO
against its threshold (with the load histogram), security findings by scanner with their
waivers, and a photo gallery of thumbnails that open full size on click. Built from the
run's summary, its results (their JUnit properties say which test judged an SLO or a
finding) and the entries tests recorded through ``pipeline_record`` (gallery cards and
histograms, carried on the test reports so xdist workers' pictures arrive too). Everything
is escaped and redacted. No pytest import.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_pipeline.models import TestOutcome, TestResult
from pytest_pipeline.reporting.ledger import LedgerStep
from pytest_pipeline.reporting.redact import redact
from pytest_pipeline.reporting.summary import RunSummary, summary_html

#: What to do about a failure in each stage when its message names no fix itself.
STAGE_REMEDIES = {
    "predeploy": "fix the code, dependency or template it names, or accept the finding with "
    "an expiring waiver in pipeline-waivers.toml",
    "infra": "correct infra/template.yaml or the stack parameters; the test's log lists the "
    "stack events of the failing resource",
    "deploy": "read the deployment events in the test's log; fix the bundle (app/, its "
    "requirements.txt, Procfile) or the environment's settings and deploy again",
    "postdeploy": "the deployed service breaks the contract rule named in the reason: fix the "
    "service (docs/postdeploy.md lists the rules) or, for a threshold, its capacity",
    "monitoring": "check the stack's alarms, log groups and topic in infra/template.yaml and "
    "the instance role's permissions",
}
_DEFAULT_REMEDY = "open the test's row below for the full error"
_FIX_MARKERS = (" — fix: ", " - fix: ", "; fix: ", "fix: ")

_OUTCOME_COLOURS = {
    "passed": "#1a7f37",
    "xpassed": "#1a7f37",
    "failed": "#cf222e",
    "error": "#cf222e",
    "skipped": "#9a6700",
    "xfailed": "#9a6700",
}

STYLE = """
<style>
#pipeline-dashboard{font-family:system-ui,sans-serif;margin:8px 0 20px;color:#1f2328}
#pipeline-dashboard h3{margin:18px 0 6px;font-size:16px;color:#1f2328}
#pipeline-dashboard a{color:#0969da}
#pipeline-dashboard small{color:#57606a}
#pipeline-dashboard table{border-collapse:collapse;font-size:13px}
#pipeline-dashboard th,#pipeline-dashboard td{border:1px solid #d0d7de;padding:4px 10px;
text-align:left;vertical-align:top}
#pipeline-dashboard th{background:#f6f8fa}
.pipeline-ledger{display:flex;flex-wrap:wrap;align-items:stretch;gap:4px;font-size:12px}
.pipeline-ledger .step{border:1px solid #d0d7de;border-radius:6px;padding:4px 8px;
max-width:220px;overflow-wrap:anywhere;background:#f6f8fa}
.pipeline-ledger .step b{display:block;color:#57606a;font-weight:600}
.pipeline-ledger .arrow{align-self:center;color:#57606a}
.pipeline-gallery{display:flex;flex-wrap:wrap;gap:10px}
.pipeline-card{border:1px solid #d0d7de;border-radius:6px;padding:6px;font-size:12px;
max-width:330px}
.pipeline-card a{display:inline-block;margin:2px;cursor:zoom-in}
.pipeline-card img{max-width:144px;max-height:144px;border:1px solid #ddd;
background:repeating-conic-gradient(#eee 0 25%,#fff 0 50%) 0 0/12px 12px}
.pipeline-verdict{font-weight:700}
#pipeline-lightbox{position:fixed;inset:0;background:rgba(0,0,0,.75);z-index:1000;
display:flex;align-items:center;justify-content:center;flex-direction:column;cursor:zoom-out}
#pipeline-lightbox[hidden]{display:none}
#pipeline-lightbox img{max-width:95vw;max-height:88vh;background:#fff}
#pipeline-lightbox figcaption{color:#fff;margin-top:6px}
.logwrapper:not(:has(.log)){display:none}
tr.extras-row:not(:has(.log)):not(:has(.extraHTML > *)){display:none}
</style>
"""

# The picture store holds each distinct picture of the report once (the same input photo
# serves every spec and both the local and the deployed run); pytest-html renders the test
# rows from its JSON after this script runs, and again on sorting and filtering, so every
# <img data-pipeline-picture> gets its source as it appears. A thumbnail of the gallery
# opens its full-size picture in a lightbox.
SCRIPT = """
<script>
(function () {
  var element = document.getElementById('pipeline-picture-store');
  var store = element ? JSON.parse(element.textContent) : {};
  function fill() {
    document.querySelectorAll('img[data-pipeline-picture]:not([src])').forEach(function (img) {
      var uri = store[img.getAttribute('data-pipeline-picture')];
      if (uri) { img.src = uri; }
    });
  }
  new MutationObserver(fill).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener('DOMContentLoaded', fill);
  function box() { return document.getElementById('pipeline-lightbox'); }
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('[data-pipeline-full]');
    var lightbox = box();
    if (!lightbox) { return; }
    if (!link) { if (event.target.closest && event.target.closest('#pipeline-lightbox')) {
      lightbox.hidden = true; } return; }
    event.preventDefault();
    var full = store[link.getAttribute('data-pipeline-full')];
    lightbox.querySelector('img').src = full || link.querySelector('img').src;
    lightbox.querySelector('figcaption').textContent = link.title;
    lightbox.hidden = false;
  });
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape' && box()) { box().hidden = true; }
  });
})();
</script>
"""


def _esc(value: object) -> str:
    return html.escape(redact(str(value)))


@dataclass(frozen=True)
class Failure:
    """A failed or errored test: where, why, and what to do."""

    nodeid: str
    stage: str
    reason: str
    remedy: str


def remedy_for(message: str, stage: str | None) -> tuple[str, str]:
    """``(reason, remedy)`` of a failure message: its own ``fix:`` clause when it has one,
    else what to do about a failure in ``stage``."""
    for marker in _FIX_MARKERS:
        reason, found, fix = message.partition(marker)
        if found and fix.strip():
            return reason.strip() or message, fix.strip()
    return message, STAGE_REMEDIES.get(stage or "", _DEFAULT_REMEDY)


def failures(results: Iterable[TestResult]) -> list[Failure]:
    """Every failed or errored test in pipeline order, each with reason and remedy."""
    found = []
    for result in results:
        if result.outcome.is_failure:
            reason, remedy = remedy_for(result.message or result.outcome.value, result.stage)
            found.append(Failure(result.nodeid, result.stage or "-", reason, remedy))
    return found


def _failures_html(items: Sequence[Failure]) -> str:
    if not items:
        return ""
    rows = "".join(
        f"<tr><td>{_esc(f.stage)}</td><td><code>{_esc(f.nodeid)}</code></td>"
        f"<td>{_esc(f.reason)}</td><td>{_esc(f.remedy)}</td></tr>"
        for f in items
    )
    return (
        f'<h3 style="color:#cf222e">Failures ({len(items)})</h3>'
        '<table id="pipeline-failures"><tr><th>stage</th><th>test</th><th>reason</th>'
        f"<th>remedy</th></tr>{rows}</table>"
    )


def _ledger_html(steps: Sequence[LedgerStep]) -> str:
    parts = []
    for step in steps:
        value = _esc(step.value) if step.value else "&ndash;"
        if step.name == "URL" and step.value and step.value.startswith(("http://", "https://")):
            value = f'<a href="{_esc(step.value)}">{value}</a>'
        note = f"<small>{_esc(step.note)}</small>" if step.note else ""
        parts.append(
            f'<div class="step" data-step="{_esc(step.name)}"><b>{_esc(step.name)}</b>'
            f"{value}<br>{note}</div>"
        )
    return (
        '<h3>Deployment ledger</h3><div class="pipeline-ledger" id="pipeline-ledger">'
        + '<span class="arrow">&rarr;</span>'.join(parts)
        + "</div>"
    )


def _verdict(outcome: str) -> str:
    colour = _OUTCOME_COLOURS.get(outcome, "#57606a")
    return f'<span class="pipeline-verdict" style="color:{colour}">{_esc(outcome)}</span>'


def _slo_html(results: Sequence[TestResult], histograms: Sequence[dict[str, Any]]) -> str:
    rows = "".join(
        f'<tr class="pipeline-slo"><td>{_esc(r.properties["slo"])}</td>'
        f"<td>{_esc(r.properties.get('slo_measured', '-'))}</td>"
        f"<td>{_verdict(r.outcome.value)}</td><td><code>{_esc(r.nodeid)}</code></td></tr>"
        for r in results
        if "slo" in r.properties
    )
    if not rows and not histograms:
        return ""
    table = (
        '<table id="pipeline-slos"><tr><th>objective</th><th>measured</th><th>verdict</th>'
        f"<th>test</th></tr>{rows}</table>"
        if rows
        else "<p>No SLO was judged in this run.</p>"
    )
    pictures = "".join(
        f'<figure class="pipeline-dashboard-histogram" style="margin:8px 0">'
        f'<img data-pipeline-picture="{_esc(h["key"])}" alt="{_esc(h["title"])}" '
        f'style="max-width:720px;'
        f'width:100%;border:1px solid #ddd"><figcaption>{_esc(h["title"])}</figcaption></figure>'
        for h in histograms
    )
    return f"<h3>Service-level objectives</h3>{table}{pictures}"


def _findings_html(results: Sequence[TestResult]) -> str:
    cases = [r for r in results if "scanner" in r.properties]
    if not cases:
        return ""
    scanners: dict[str, dict[str, int]] = {}
    for r in cases:
        counts = scanners.setdefault(str(r.properties["scanner"]), {})
        if "waiver" in r.properties:
            kind = "waived"
        elif "rule" in r.properties:
            kind = "open" if r.outcome.is_failure else "accepted"
        else:
            kind = "clean" if r.outcome is TestOutcome.PASSED else r.outcome.value
        counts[kind] = counts.get(kind, 0) + 1
    columns = ("open", "waived", "accepted", "clean", "skipped", "failed", "error")
    head = "".join(f"<th>{c}</th>" for c in columns)
    rows = "".join(
        f'<tr data-scanner="{_esc(name)}"><td>{_esc(name)}</td>'
        + "".join(f"<td>{counts.get(c, 0) or ''}</td>" for c in columns)
        + "</tr>"
        for name, counts in sorted(scanners.items())
    )
    details = "".join(
        f"<tr><td>{_esc(r.properties['scanner'])}</td><td>{_esc(r.properties['rule'])}</td>"
        f"<td>{_esc(r.properties.get('severity', ''))}</td>"
        f"<td>{_esc(r.properties.get('location', ''))}</td>"
        f"<td>{_verdict(r.outcome.value)}</td>"
        f"<td>{_esc(r.properties.get('waiver', ''))}</td></tr>"
        for r in cases
        if "rule" in r.properties
    )
    listing = (
        '<table id="pipeline-finding-list" style="margin-top:6px"><tr><th>scanner</th>'
        "<th>rule</th><th>severity</th><th>where</th><th>verdict</th><th>waiver</th></tr>"
        f"{details}</table>"
        if details
        else ""
    )
    return (
        "<h3>Security findings by scanner</h3>"
        f'<table id="pipeline-findings"><tr><th>scanner</th>{head}</tr>{rows}</table>{listing}'
    )


def _gallery_html(cards: Sequence[tuple[TestResult | None, str, dict[str, Any]]]) -> str:
    if not cards:
        return ""
    parts = []
    for result, nodeid, entry in cards:
        outcome = result.outcome.value if result is not None else "unknown"
        stage = (result.stage if result is not None else None) or "-"
        thumbs = "".join(
            f'<a href="#" data-pipeline-full="{_esc(p["key"])}" '
            f'title="{_esc(entry["title"])}: {_esc(p["caption"])}">'
            f'<img class="pipeline-thumb" src="{_esc(p["thumb"])}" alt="{_esc(p["caption"])}">'
            "</a>"
            for p in entry["pictures"]
        )
        captions = " · ".join(_esc(p["caption"]) for p in entry["pictures"])
        parts.append(
            f'<div class="pipeline-card" data-outcome="{_esc(outcome)}" '
            f'data-test="{_esc(nodeid)}"><div><b>{_esc(entry["title"])}</b></div>'
            f"<div>{_verdict(outcome)} <small>({_esc(stage)})</small></div>{thumbs}"
            f'<div style="color:#57606a">{captions}</div></div>'
        )
    return (
        f"<h3>Photo gallery ({len(cards)})</h3>"
        '<p style="margin:2px 0 6px;font-size:12px">Click a thumbnail for the full-size '
        "picture.</p>"
        f'<div class="pipeline-gallery" id="pipeline-gallery">{"".join(parts)}</div>'
    )


def _store_html(pictures: Mapping[str, str]) -> str:
    # data: URIs and hex keys hold no "<", so the JSON cannot end the script element early
    text = json.dumps(dict(pictures), separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="pipeline-picture-store">{text}</script>'


def dashboard_html(
    summary: RunSummary,
    ledger: Sequence[LedgerStep],
    results: Sequence[TestResult],
    entries: Sequence[tuple[str, dict[str, Any]]],
    pictures: Mapping[str, str] | None = None,
) -> str:
    """The dashboard block; ``entries`` are ``(nodeid, entry)`` recorded by tests and
    ``pictures`` the picture store (``key -> data: URI``) their report rows refer to."""
    by_id = {r.nodeid: r for r in results}
    cards = [(by_id.get(n), n, e) for n, e in entries if e.get("kind") == "gallery"]
    # failed cases first, then in the order the tests ran
    cards.sort(key=lambda c: 0 if c[0] is not None and c[0].outcome.is_failure else 1)
    histograms = [e for _, e in entries if e.get("kind") == "histogram"]
    return (
        f'{STYLE}<div id="pipeline-dashboard">'
        f"{_failures_html(failures(results))}"
        f"{summary_html(summary)}"
        f"{_ledger_html(ledger)}"
        f"{_slo_html(results, histograms)}"
        f"{_findings_html(results)}"
        f"{_gallery_html(cards)}"
        '<figure id="pipeline-lightbox" hidden><img alt="full size"><figcaption></figcaption>'
        f"</figure></div>{_store_html(pictures or {})}{SCRIPT}"
    )
