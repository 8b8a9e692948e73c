"""gunicorn settings from the environment Elastic Beanstalk (or the emulation) provides."""

import os

bind = f"{os.environ.get('BIND_HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # nosec B104
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4
worker_class = "gthread"
graceful_timeout = 5
