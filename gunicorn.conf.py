"""gunicorn settings for the web process: ``gunicorn -c gunicorn.conf.py``.

Override with GUNICORN_CMD_ARGS (e.g. ``--bind 0.0.0.0:8000 --workers 4``).
Scheduled jobs never run here: they live in ``tutor scheduler``.
"""

import os
import shutil
from pathlib import Path

wsgi_app = "tutor.wsgi:app"
bind = os.environ.get("TUTOR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("TUTOR_WEB_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("TUTOR_WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = None
errorlog = "-"
preload_app = False  # build connections after fork, never in the master

# Every process writes its metric samples here; /metrics adds them up.
_metrics_dir = Path(
    os.environ.get("TUTOR_METRICS_DIR") or Path(os.environ.get("TUTOR_VAR_DIR", "var")) / "metrics"
).resolve()
os.environ["TUTOR_METRICS_DIR"] = str(_metrics_dir)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


def on_starting(server):  # noqa: ARG001
    shutil.rmtree(_metrics_dir, ignore_errors=True)
    _metrics_dir.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):  # noqa: ARG001
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_metrics_dir))
