"""gunicorn settings, all overridable from the environment (read by gunicorn at start)."""

from __future__ import annotations

import json
import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", os.environ.get("GUNICORN_WORKERS", "2")))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Bounded request lines and headers; the body limit is MAX_UPLOAD_MB inside the app.
limit_request_line = 8190
limit_request_fields = 100
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
