"""Execution log of the pipeline: the ``pytest_pipeline`` logger, UTC timestamps, redacted.

Other modules log through ``logging.getLogger("pytest_pipeline.<area>")``. Each record is
written as ``2026-01-02T03:04:05.678Z INFO    pytest_pipeline.deploy [gw0] message``; a
``status=…`` may be given with ``extra={"status": "ok"}`` and is printed after the level.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pytest_pipeline.reporting.redact import redact

LOGGER_NAME = "pytest_pipeline"
LOG_NAME = "pipeline.log"


class UtcFormatter(logging.Formatter):
    """ISO 8601 UTC timestamps with milliseconds, status and worker tags, redacted output."""

    def __init__(self, worker: str | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(tags)s %(message)s")
        self.worker = worker

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        tags = ""
        if self.worker:
            tags += f" [{self.worker}]"
        status = getattr(record, "status", None)
        if status:
            tags += f" status={status}"
        record.tags = tags
        return redact(super().format(record))


def pipeline_logger() -> logging.Logger:
    """The parent logger of everything the pipeline logs."""
    return logging.getLogger(LOGGER_NAME)


def open_log_file(path: Path, worker: str | None = None) -> logging.FileHandler:
    """Attach a handler appending to ``path`` (INFO and above) to the pipeline logger.

    Several xdist workers may append to the same file; each line carries its worker tag.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="a", encoding="utf-8", delay=False)
    handler.setLevel(logging.INFO)
    handler.setFormatter(UtcFormatter(worker))
    logger = pipeline_logger()
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def close_log_file(handler: logging.Handler) -> None:
    """Detach and close a handler made by :func:`open_log_file`."""
    pipeline_logger().removeHandler(handler)
    handler.close()
