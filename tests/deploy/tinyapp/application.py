"""A tiny app honouring the /health contract, for the deploy target's own tests.

A file ``fail_check.txt`` beside this module makes the health check it names fail (503), so a
bundle can be deliberately broken without touching the environment it runs in.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask, jsonify, request

application = Flask(__name__)
FAIL_FILE = Path(__file__).with_name("fail_check.txt")


@application.get("/health")
def health():  # type: ignore[no-untyped-def]
    table, bucket = os.environ.get("TABLE_NAME"), os.environ.get("BUCKET_NAME")
    checks = {
        "dynamodb": {"status": "ok" if table else "fail", "table": table},
        "s3": {"status": "ok" if bucket else "fail", "bucket": bucket},
    }
    if FAIL_FILE.exists():
        name = FAIL_FILE.read_text().strip() or "dependency"
        checks[name] = {"status": "fail", "error": f"{name} is unreachable"}
    ok = all(check["status"] == "ok" for check in checks.values())
    body = {
        "status": "ok" if ok else "fail",
        "version": os.environ.get("APP_VERSION", "unknown"),
        "checks": checks,
    }
    return jsonify(body), 200 if ok else 503


@application.get("/slow")
def slow():  # type: ignore[no-untyped-def]
    time.sleep(float(request.args.get("seconds", "1")))
    return jsonify({"version": os.environ.get("APP_VERSION")})
