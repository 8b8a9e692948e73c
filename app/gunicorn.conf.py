"""gunicorn settings, all overridable from the environment (read by gunicorn at start)."""

from __future__ import annotations

import json
import os
import socket
import sys

import gunicorn.util

_here = os.path.dirname(os.path.abspath(globals().get("__file__", "gunicorn.conf.py")))
if _here not in sys.path:
    sys.path.insert(0, _here)
import capacity  # noqa: E402  (next to this file, found once its folder is on the path)

# The app's package first: a dependency missing from requirements.txt then stops the start
# with its own "No module named ..." instead of logging's "Unable to configure formatter
# 'json'" (logconfig_dict below imports the formatter from this package).
import passport  # noqa: E402,F401

# Workers and the pixel limit from the instance's memory (capacity.py); gunicorn hands the
# limit to the workers' environment. WEB_CONCURRENCY / MAX_IMAGE_PIXELS set in the
# environment win.
_plan = capacity.from_environment()
raw_env = [f"MAX_IMAGE_PIXELS={_plan.max_pixels}"]
print(json.dumps({"type": "capacity", "message": _plan.describe()}), flush=True)

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = _plan.workers
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Bounded request lines and headers; the body limit is MAX_UPLOAD_MB inside the app. The
# proxy in front (.platform/nginx/conf.d/limits.conf) has the same line and field sizes.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

_ERROR_CODES = {
    400: "bad_request",
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    501: "not_implemented",
}


def _json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request it cannot parse (framing, limits), in the contract's
    JSON error shape instead of its HTML page."""
    body = json.dumps(
        {
            "error": {
                "code": _ERROR_CODES.get(status_int, "internal_error"),
                "message": f"{reason}: {mesg}" if mesg else reason,
            }
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n"
    ).encode("latin-1")
    gunicorn.util.write_nonblock(sock, head + body)


gunicorn.util.write_error = _json_error
# The models load once per worker after fork; preloading would share a dnn.Net across forks.
preload_app = False
# One control socket path is shared by every gunicorn of the user; two versions side by side
# (blue/green) would fight over it, and nothing here manages gunicorn through it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = json.dumps(
    {
        "time": "%(t)s",
        "type": "access",
        "remote": "%(h)s",
        "method": "%(m)s",
        "path": "%(U)s",
        "query": "%(q)s",
        "status": "%(s)s",
        "bytes": "%(B)s",
        "duration_us": "%(D)s",
        "request_id": "%({x-request-id}o)s",
        "user_agent": "%(a)s",
    }
)

# gunicorn's own messages as JSON lines too (the app's formatter); access lines are already
# JSON (access_log_format) and are written as they are.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "passport.logsetup.JsonFormatter"},
        "raw": {"format": "%(message)s"},
    },
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        },
        "access_console": {
            "class": "logging.StreamHandler",
            "formatter": "raw",
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": "WARNING", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {
            "level": loglevel.upper(),
            "handlers": ["error_console"],
            "propagate": False,
        },
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}
