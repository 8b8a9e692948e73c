"""The run summary a reviewer reads first: where, what, and how every stage ended.

:func:`build_summary` turns the run's :class:`~pytest_pipeline.models.TestResult` list and
what is known about the deployment into a :class:`RunSummary`; the renderers give it as HTML
(top of the pytest-html report), Markdown (GitHub step summary) and plain text
(notifications, the terminal). All renderers redact.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pytest_pipeline.models import TestOutcome, TestResult
from pytest_pipeline.reporting.redact import redact
from pytest_pipeline.stages import Stage

#: Stage names in pipeline order (DESIGN.md §1); other stage names sort after them.
STAGE_ORDER: tuple[str, ...] = tuple(stage.value for stage in Stage)
NO_STAGE = "unstaged"

PASSED, FAILED, HALTED, SKIPPED, NOT_RUN = "passed", "failed", "halted", "skipped", "not run"
INTERRUPTED = "interrupted"
OUTCOMES = (PASSED, FAILED, HALTED, SKIPPED, NOT_RUN)


@dataclass(frozen=True)
class StageSummary:
    """How one stage ended: its outcome, counts of each test outcome, how many tests the gate
    skipped, its duration and its first failure. The one summary of a stage: the terminal,
    the reports, the notifications and the metrics all read it."""

    name: str
    outcome: str
    duration: float
    counts: dict[str, int] = field(default_factory=dict)
    """Tests by :class:`~pytest_pipeline.models.TestOutcome` value (``skipped`` includes
    the gated ones)."""
    first_failure: str = ""
    gated: int = 0
    """Skipped tests the gate skipped (a stage before this one failed)."""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def tally(self) -> str:
        """``"3 passed, 1 failed, 2 halted"``: non-zero counts in a fixed order, the tests the
        gate skipped as ``halted`` apart from the other skipped ones (the terminal line)."""
        counts = self.counts
        errors = counts.get(TestOutcome.ERROR.value, 0)
        parts = [
            (counts.get(TestOutcome.PASSED.value, 0), "passed"),
            (counts.get(TestOutcome.FAILED.value, 0), "failed"),
            (errors, "error" if errors == 1 else "errors"),
            (counts.get(TestOutcome.SKIPPED.value, 0) - self.gated, "skipped"),
            (self.gated, "halted"),
            (counts.get(TestOutcome.XFAILED.value, 0), "xfailed"),
            (counts.get(TestOutcome.XPASSED.value, 0), "xpassed"),
        ]
        return ", ".join(f"{count} {label}" for count, label in parts if count) or "no tests"


@dataclass(frozen=True)
class RunSummary:
    """Everything the top of the report says about a run."""

    environment: str
    stages: tuple[StageSummary, ...]
    commit: str | None = None
    aws_backend: str | None = None
    stack: str | None = None
    version_label: str | None = None
    url: str | None = None
    halted_stage: str | None = None
    run_id: str | None = None
    interrupted_in: str | None = None
    """The stage a run was interrupted in (Ctrl-C, SIGTERM), ``"-"`` before any stage; None
    for a run that finished."""
    problems: tuple[str, ...] = ()
    """What failed at the end of the run itself (the deployment record not written …)."""

    @property
    def succeeded(self) -> bool:
        """True when the run finished, no stage failed and its end went right (skipped stages
        alone do not fail a run; an interrupted run never succeeded, whatever ran before)."""
        return (
            self.interrupted_in is None
            and not self.problems
            and all(s.outcome != FAILED for s in self.stages)
        )

    @property
    def outcome(self) -> str:
        if self.interrupted_in is not None:
            return INTERRUPTED
        return PASSED if self.succeeded else FAILED

    def stage(self, name: str) -> StageSummary:
        """The summary of stage ``name`` (KeyError naming the stages present otherwise)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        known = ", ".join(s.name for s in self.stages) or "none"
        raise KeyError(f"stage {name!r} is not in this run (stages: {known})")

    def fields(self) -> list[tuple[str, str]]:
        """The header fields, in display order, with ``-`` for what is unknown."""
        return [
            ("Environment", self.environment),
            ("Commit", self.commit or "-"),
            ("AWS backend", self.aws_backend or "-"),
            ("Stack", self.stack or "-"),
            ("Version label", self.version_label or "-"),
            ("URL", self.url or "-"),
            ("Halted stage", self.halted_stage or "-"),
            *([("Interrupted in", self.interrupted_in)] if self.interrupted_in else []),
            *[("Problem", problem) for problem in self.problems],
            ("Result", self.outcome),
        ]


def stage_sort_key(name: str) -> tuple[int, str]:
    """Pipeline order for known stages, then alphabetical."""
    return (STAGE_ORDER.index(name), name) if name in STAGE_ORDER else (len(STAGE_ORDER), name)


def stage_outcome(results: Sequence[TestResult]) -> str:
    """The one outcome rule of a stage: ``not run`` without tests; ``failed`` if any test
    failed or errored; ``passed`` if any passed; ``halted`` if the gate skipped every skipped
    test (:attr:`TestResult.gated`); else ``skipped`` (only skipped and xfailed tests)."""
    if not results:
        return NOT_RUN
    if any(result.outcome.is_failure for result in results):
        return FAILED
    if any(r.outcome in (TestOutcome.PASSED, TestOutcome.XPASSED) for r in results):
        return PASSED
    skipped = [r for r in results if r.outcome is TestOutcome.SKIPPED]
    if skipped and all(r.gated for r in skipped):
        return HALTED
    return SKIPPED


def group_by_stage(results: Iterable[TestResult]) -> dict[str, list[TestResult]]:
    """Results keyed by stage name (``unstaged`` for tests without one), in pipeline order."""
    grouped: dict[str, list[TestResult]] = {}
    for result in results:
        grouped.setdefault(result.stage or NO_STAGE, []).append(result)
    return {name: grouped[name] for name in sorted(grouped, key=stage_sort_key)}


def summarise_stage(name: str, results: Sequence[TestResult]) -> StageSummary:
    """One stage's outcome, counts, summed duration and first failure (``nodeid: message``)."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    failure = next((r for r in results if r.outcome.is_failure), None)
    first = ""
    if failure is not None:
        message = failure.message.strip().splitlines()[0] if failure.message.strip() else ""
        first = f"{failure.nodeid}: {message}" if message else failure.nodeid
    return StageSummary(
        name=name,
        outcome=stage_outcome(results),
        duration=round(sum(r.duration for r in results), 3),
        counts=counts,
        first_failure=first,
        gated=sum(1 for r in results if r.gated),
    )


def build_summary(
    results: Iterable[TestResult],
    *,
    environment: str,
    commit: str | None = None,
    aws_backend: str | None = None,
    stack: str | None = None,
    version_label: str | None = None,
    url: str | None = None,
    halted_stage: str | None = None,
    run_id: str | None = None,
    interrupted_in: str | None = None,
    problems: tuple[str, ...] = (),
    expected_stages: Iterable[str] = (),
    durations: Mapping[str, float] | None = None,
) -> RunSummary:
    """A :class:`RunSummary` of ``results``; ``expected_stages`` with no result show ``not run``.

    A stage's duration is the sum of its tests' durations unless ``durations`` gives it (the
    run's wall time per stage). When ``halted_stage`` is not given it is the first failed
    stage in pipeline order (tests without a stage never halt the pipeline).
    """
    grouped = group_by_stage(results)
    for name in expected_stages:
        grouped.setdefault(name, [])
    stages = tuple(
        summarise_stage(name, grouped[name]) for name in sorted(grouped, key=stage_sort_key)
    )
    if durations:
        stages = tuple(
            replace(s, duration=round(durations[s.name], 3)) if s.name in durations else s
            for s in stages
        )
    if halted_stage is None:
        halted_stage = next(
            (s.name for s in stages if s.outcome == FAILED and s.name in STAGE_ORDER), None
        )
    return RunSummary(
        environment=environment,
        stages=stages,
        commit=commit,
        aws_backend=aws_backend,
        stack=stack,
        version_label=version_label,
        url=url,
        halted_stage=halted_stage,
        run_id=run_id,
        interrupted_in=interrupted_in,
        problems=problems,
    )


def _counts(stage: StageSummary) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(stage.counts.items())) or "no tests"


_COLOURS = {
    PASSED: "#1a7f37",
    FAILED: "#cf222e",
    HALTED: "#bc4c00",
    SKIPPED: "#9a6700",
    NOT_RUN: "#57606a",
    INTERRUPTED: "#cf222e",
}


def summary_html(summary: RunSummary) -> str:
    """The summary as an HTML block for the top of the pytest-html report."""

    def esc(value: object) -> str:
        return html.escape(redact(str(value)))

    cell = 'style="border:1px solid #d0d7de;padding:4px 10px;text-align:left"'
    head = 'style="border:1px solid #d0d7de;padding:4px 10px;text-align:left;background:#f6f8fa"'
    fields = "".join(
        f"<tr><th {head}>{esc(name)}</th><td {cell}>"
        + (
            f'<a href="{esc(value)}">{esc(value)}</a>'
            if name == "URL" and value.startswith(("http://", "https://"))
            else esc(value)
        )
        + "</td></tr>"
        for name, value in summary.fields()
    )
    rows = "".join(
        f'<tr class="pipeline-stage" data-stage="{esc(s.name)}" data-outcome="{esc(s.outcome)}">'
        f"<td {cell}>{esc(s.name)}</td>"
        f'<td {cell}><b style="color:{_COLOURS.get(s.outcome, "#000")}">{esc(s.outcome)}</b></td>'
        f"<td {cell}>{s.duration:.2f} s</td><td {cell}>{esc(_counts(s))}</td>"
        f"<td {cell}>{esc(s.first_failure)}</td></tr>"
        for s in summary.stages
    )
    colour = _COLOURS[summary.outcome]
    halted = ""
    if summary.halted_stage:
        why = next((s.first_failure for s in summary.stages if s.name == summary.halted_stage), "")
        halted = (
            f'<p id="pipeline-halted" style="margin:4px 0;color:{_COLOURS[HALTED]}">'
            f"Halted at <b>{esc(summary.halted_stage)}</b>"
            + (f": {esc(why)}" if why else "")
            + "</p>"
        )
    return (
        '<div id="pipeline-summary" style="margin:8px 0 16px;font-family:system-ui,sans-serif">'
        f'<h3 style="margin:4px 0">Pipeline run: <span style="color:{colour}">'
        f"{esc(summary.outcome.upper())}</span></h3>{halted}"
        '<div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start">'
        f'<table style="border-collapse:collapse">{fields}</table>'
        '<table id="pipeline-stages" style="border-collapse:collapse">'
        f"<tr><th {head}>stage</th><th {head}>outcome</th><th {head}>duration</th>"
        f"<th {head}>tests</th><th {head}>first failure</th></tr>{rows}</table>"
        "</div></div>"
    )


def _md(value: object) -> str:
    return redact(str(value)).replace("|", "\\|").replace("\n", " ")


_ICONS = {
    PASSED: "✅",
    FAILED: "❌",
    HALTED: "⛔",
    SKIPPED: "⏭️",
    NOT_RUN: "-",
    INTERRUPTED: "🛑",
}


def summary_markdown(summary: RunSummary) -> str:
    """The summary as GitHub-flavoured Markdown (step summary, webhook body)."""
    lines = [
        f"## Pipeline run: {_ICONS[summary.outcome]} {summary.outcome}",
        "",
        "| | |",
        "|---|---|",
        *(f"| **{name}** | {_md(value)} |" for name, value in summary.fields()),
        "",
        "| stage | outcome | duration | tests | first failure |",
        "|---|---|---|---|---|",
        *(
            f"| {_md(s.name)} | {_ICONS.get(s.outcome, '')} {s.outcome} | {s.duration:.2f} s "
            f"| {_md(_counts(s))} | {_md(s.first_failure)} |"
            for s in summary.stages
        ),
        "",
    ]
    return "\n".join(lines)


def summary_text(summary: RunSummary) -> str:
    """The summary as plain text lines (terminal, SNS message, log)."""
    lines = [f"pipeline {summary.outcome}: " + ", ".join(f"{k}={v}" for k, v in summary.fields())]
    lines += [
        f"  {s.name}: {s.outcome} in {s.duration:.2f}s ({_counts(s)})"
        + (f" - {s.first_failure}" if s.first_failure else "")
        for s in summary.stages
    ]
    return redact("\n".join(lines))
