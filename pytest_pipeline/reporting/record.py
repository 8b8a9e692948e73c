"""``reports/deployment.json``: the run's DeploymentMetadata with every stage's results."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_pipeline.models import DeploymentMetadata, DeploymentStatus, TestResult, utcnow
from pytest_pipeline.reporting.ledger import LedgerStep, ledger_dicts
from pytest_pipeline.reporting.redact import default_redactor, redact_data
from pytest_pipeline.reporting.summary import group_by_stage

RECORD_NAME = "deployment.json"


def build_record(
    results: list[TestResult],
    *,
    deployment: DeploymentMetadata | None,
    environment: str,
    url: str | None = None,
    commit: str | None = None,
    stack_name: str | None = None,
    aws_backend: str | None = None,
    deploy_target: str = "none",
) -> DeploymentMetadata:
    """The record to write: ``deployment`` (when the run deployed) or one built from what is
    known, with ``stage_results`` holding every stage's results in pipeline order.

    A run that deployed nothing gets version label ``not-deployed`` and status ``pending``.
    """
    stage_results = group_by_stage(results)
    if deployment is not None:
        return replace(
            deployment,
            url=deployment.url or url,
            commit=deployment.commit or commit,
            stack_name=deployment.stack_name or stack_name,
            aws_backend=deployment.aws_backend or aws_backend,
            stage_results=stage_results,
        )
    return DeploymentMetadata(
        environment=environment,
        version_label="not-deployed",
        deploy_target=deploy_target,
        status=DeploymentStatus.PENDING,
        url=url,
        commit=commit,
        stack_name=stack_name,
        aws_backend=aws_backend,
        started_at=min(
            (r.started_at for r in results if r.started_at is not None), default=utcnow()
        ),
        finished_at=utcnow(),
        stage_results=stage_results,
    )


_RESULTS_SLOT = "\u0000stage_results\u0000"
_BETWEEN = '}, {"'
"""What stands between two results in a compact JSON list of them. No string holds it (a
string's quotes are escaped); should a result ever nest a list of mappings, the count tells
and the results are encoded one by one."""


def _results_json(stage_results: dict[str, list[dict[str, object]]]) -> str:
    """``stage_results`` with one compact line per test.

    json's indenting encoder is pure Python: each stage's results are encoded in one call of
    the C encoder and broken into lines where one result ends and the next begins.
    """
    if not stage_results:
        return "{}"
    blocks = []
    for stage, results in stage_results.items():
        if results:
            compact = json.dumps(results, sort_keys=True, ensure_ascii=False)[1:-1]
            if compact.count(_BETWEEN) == len(results) - 1:
                rows = "      " + compact.replace(_BETWEEN, '},\n      {"')
            else:
                rows = ",\n".join(
                    "      " + json.dumps(r, sort_keys=True, ensure_ascii=False) for r in results
                )
            body = f"[\n{rows}\n    ]"
        else:
            body = "[]"
        blocks.append(f"    {json.dumps(stage, ensure_ascii=False)}: {body}")
    return "{\n" + ",\n".join(blocks) + "\n  }"


def _render(data: dict[str, Any]) -> str:
    data = dict(data)
    results = data.pop("stage_results")
    data["stage_results"] = _RESULTS_SLOT
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    return text.replace(json.dumps(_RESULTS_SLOT), _results_json(results), 1) + "\n"


def record_json(
    record: DeploymentMetadata,
    ledger: list[LedgerStep] | None = None,
    run: dict[str, Any] | None = None,
) -> str:
    """The record as indented JSON (a line per test result), every string redacted; with
    ``ledger``, the deployment ledger the report's dashboard shows, as ``ledger``; with
    ``run``, how the run ended (``run_outcome``: passed, failed or interrupted, and
    ``interrupted_in``), whatever the deployment's own status says.

    The rendered text is checked for secrets once; only when it may hold one are the
    record's strings redacted one by one and the record rendered again.
    """
    data = record.to_dict()
    if ledger is not None:
        data["ledger"] = ledger_dicts(ledger)
    data.update(run or {})
    text = _render(data)
    if default_redactor().clean_json_text(text):
        return text
    return _render(redact_data(data))


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename (no torn files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; reports are read by CI uploaders
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_record(
    reports_dir: Path,
    record: DeploymentMetadata,
    ledger: list[LedgerStep] | None = None,
    run: dict[str, Any] | None = None,
) -> Path:
    """Write ``<reports_dir>/deployment.json`` (redacted, with ``ledger`` and ``run``) and
    return its path."""
    return write_text_atomic(Path(reports_dir) / RECORD_NAME, record_json(record, ledger, run))
