"""The webhook handler in-process under cProfile: where one acknowledgement's CPU goes.

The app gets the WSGI environ gunicorn would build, so neither a test client nor
an HTTP server is counted; PostgreSQL, Redis and the Dramatiq queue are real.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import profile, rig
from bench.fake import FakeTelegramProcess
from bench.updates import bodies
from tutor.app import create_app
from tutor.services import build_services


@dataclass
class HandlerProfile:
    requests: int
    cpu_ms_per_request: float
    wall_ms_per_request: float
    groups: list[profile.Share]
    steps: list[profile.Share]
    functions: list[profile.Functions]


STEPS: dict[str, profile.Target] = {
    "telegram.parse_update (PTB Update.de_json)": (("tutor/channels/telegram.py", "parse_update"),),
    "inbox.accept (one INSERT + commit)": (("tutor/inbox.py", "accept"),),
    "queue.notify (Dramatiq enqueue to Redis)": (("tutor/queue.py", "notify"),),
    "logging (records + JSON formatting)": (("logging/__init__.py", "_log"),),
    "metrics (prometheus labels/inc/observe)": (
        ("prometheus_client/metrics.py", "labels"),
        ("prometheus_client/metrics.py", "inc"),
        ("prometheus_client/metrics.py", "observe"),
    ),
}


def _environ(body: bytes) -> dict[str, Any]:
    """What gunicorn hands the app for one webhook."""
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/webhooks/telegram",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": rig.TELEGRAM_SECRET,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def profile_handler(
    backends: rig.Backends, fake: FakeTelegramProcess, count: int, directory: Path
) -> HandlerProfile:
    backends.flush_redis()
    settings = rig.settings(directory / "var", fake.url, backends.database(), backends.redis.url)
    services = build_services(settings)
    app = create_app(settings, services)

    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    def post(encoded: list[bytes]) -> None:
        for body in encoded:
            b"".join(app.wsgi_app(_environ(body), start_response))
            if not statuses.pop().startswith("200"):
                raise RuntimeError("the in-process webhook did not answer 200")

    rig.say(f"webhook/profile: {count} requests in-process (timed, then under cProfile)")
    try:
        with rig.service_logs(directory / "handler.log"):
            post(bodies(200, 200, 9_000_000))  # warm caches, connections, imports
            timed = bodies(count, count, 9_100_000)
            cpu, wall = time.process_time(), time.perf_counter()
            post(timed)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            stats = profile.profile(lambda: post(bodies(count, count, 9_200_000)))
    finally:
        services.close()
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    return HandlerProfile(
        requests=count,
        cpu_ms_per_request=cpu / count * 1000,
        wall_ms_per_request=wall / count * 1000,
        groups=profile.by_group(stats),
        steps=profile.inclusive(stats, STEPS, total),
        functions=profile.hottest(stats),
    )
