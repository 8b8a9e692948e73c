"""AWS access: DynamoDB validation records, S3 bucket probe, the optional app secret.

Clients honour `AWS_ENDPOINT_URL` (and the per-service variants) natively through boto3;
this module never passes an endpoint of its own.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .config import Settings

log = logging.getLogger("passport.storage")

RETENTION_DAYS = 90
_MAX_ATTR = 512  # characters kept of client-supplied text in an item
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=3,
    retries={"mode": "standard", "max_attempts": 2},
)
_PROBE_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})


class StorageError(RuntimeError):
    """The validations table could not be written."""


def _clean(text: str, limit: int = _MAX_ATTR) -> str:
    """Text DynamoDB will accept: valid UTF-8 (lone surrogates replaced), bounded length."""
    return text.encode("utf-8", "replace").decode("utf-8")[:limit]


_SESSION_LOCK = threading.Lock()
_SESSIONS: list[boto3.session.Session] = []


def shared_session() -> boto3.session.Session:
    """One boto3 session per process: its loaded service models make new clients cheap."""
    with _SESSION_LOCK:
        if not _SESSIONS:
            _SESSIONS.append(boto3.session.Session())
        return _SESSIONS[0]


class Aws:
    """Lazily created boto3 clients shared by the app's threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, bool], Any] = {}

    def client(self, service: str, probe: bool = False) -> Any:
        """A boto3 client for `service` in the configured region (probe: short timeouts)."""
        key = (service, probe)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = _client(service, self.settings.region, probe)
            return self._clients[key]

    def warm_up(self) -> None:
        """Create the clients now (no network), so the first requests do not pay for it."""
        for service, probe in (("dynamodb", False), ("dynamodb", True), ("s3", True)):
            self.client(service, probe=probe)

    def put_validation(
        self, email: str, valid: bool, reason: str | None, request_id: str
    ) -> dict[str, Any]:
        """Store one validation result; raise `StorageError` when the table is unusable."""
        if not self.settings.table_name:
            raise StorageError("TABLE_NAME is not set; the validation cannot be stored")
        now = datetime.now(UTC)
        clean = _clean(email)
        digest = hashlib.sha256(clean.lower().encode("utf-8")).hexdigest()
        domain = clean.rsplit("@", 1)[1].lower()[:255] if valid and "@" in clean else "(invalid)"
        item: dict[str, Any] = {
            "pk": {"S": f"EMAIL#{digest}"},
            "sk": {"S": f"{now.isoformat(timespec='microseconds')}#{_clean(request_id, 64)}"},
            "email": {"S": clean or "(empty)"},
            "valid": {"BOOL": valid},
            "domain": {"S": domain or "(invalid)"},
            "date": {"S": now.date().isoformat()},
            "expires_at": {"N": str(int(now.timestamp()) + RETENTION_DAYS * 86400)},
        }
        if reason:
            item["reason"] = {"S": _clean(reason)}
        try:
            self.client("dynamodb").put_item(TableName=self.settings.table_name, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(
                f"could not store the validation in {self.settings.table_name}: {_error_code(exc)}"
            ) from exc
        return item

    def probe_table(self) -> dict[str, Any]:
        """`{"status": "ok"|"fail", ...}` for the validations table."""
        name = self.settings.table_name
        if not name:
            return {"status": "fail", "error": "TABLE_NAME is not set"}
        started = time.perf_counter()
        try:
            desc = self.client("dynamodb", probe=True).describe_table(TableName=name)["Table"]
        except (ClientError, BotoCoreError) as exc:
            return {"status": "fail", "table": name, "error": _error_code(exc)}
        state = desc.get("TableStatus", "UNKNOWN")
        return {
            "status": "ok" if state in ("ACTIVE", "UPDATING") else "fail",
            "table": name,
            "table_status": state,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def probe_bucket(self) -> dict[str, Any]:
        """`{"status": "ok"|"fail", ...}` for the photo bucket."""
        name = self.settings.bucket_name
        if not name:
            return {"status": "fail", "error": "BUCKET_NAME is not set"}
        started = time.perf_counter()
        try:
            self.client("s3", probe=True).head_bucket(Bucket=name)
        except (ClientError, BotoCoreError) as exc:
            return {"status": "fail", "bucket": name, "error": _error_code(exc)}
        return {
            "status": "ok",
            "bucket": name,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def read_secret(self) -> str | None:
        """The value of `APP_SECRET_ARN`, or None; failures are logged without the value."""
        arn = self.settings.app_secret_arn
        if not arn:
            return None
        try:
            value = self.client("secretsmanager", probe=True).get_secret_value(SecretId=arn)
        except (ClientError, BotoCoreError) as exc:
            log.warning("app secret not read", extra={"secret_arn": arn, "error": _error_code(exc)})
            return None
        secret = value.get("SecretString")
        return secret if isinstance(secret, str) else None


def _client(service: str, region: str, probe: bool) -> Any:
    session = shared_session()
    with _SESSION_LOCK:  # client creation from a shared session is not thread-safe
        return session.client(
            service,  # type: ignore[call-overload]  # the stubs' overloads take literal names
            region_name=region,
            config=_PROBE_CONFIG if probe else _CLIENT_CONFIG,
        )


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'ClientError')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"
