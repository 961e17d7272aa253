"""What the benchmarks run against: private PostgreSQL and Redis, the real processes, fakes.

Everything listens on 127.0.0.1 on free ports and is stopped when its ``with`` ends.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy import func, select

from bench import procs
from bench.fake import DEFAULT_TOKEN
from tests.support.services import PostgresServer, RedisServer
from tests.support.stack import Stack
from tutor import logs, migrate
from tutor.db import make_engine
from tutor.models import inbox, outbox
from tutor.settings import Settings

logger = logging.getLogger(__name__)

#: Other processes using this many cores during a measurement make it "disturbed".
DISTURBED_CORES = 0.2
TELEGRAM_SECRET = "bench_webhook_secret-0123456789"  # noqa: S105 - a local test value
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_databases = itertools.count(1)


@dataclass
class Backends:
    """A private PostgreSQL cluster and Redis server for one benchmark."""

    pg: PostgresServer
    redis: RedisServer

    def database(self) -> str:
        """A new empty database migrated to head; its SQLAlchemy URL."""
        name = f"bench{next(_databases)}"
        with psycopg.connect(self.pg.dsn, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        url = self.pg.url.rsplit("/", 1)[0] + f"/{name}"
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        return url

    def flush_redis(self) -> None:
        client = redis.Redis.from_url(self.redis.url)
        try:
            client.flushall()
        finally:
            client.close()

    def postgres_version(self) -> str:
        with psycopg.connect(self.pg.dsn) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"

    def redis_version(self) -> str:
        client = redis.Redis.from_url(self.redis.url)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()

    def postgres_pid(self) -> int:
        """The postmaster: the parent of any backend."""
        with psycopg.connect(self.pg.dsn) as connection:
            row = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        parent = procs.parent_of(int(row[0]))
        assert parent is not None
        return parent

    def redis_pid(self) -> int:
        client = redis.Redis.from_url(self.redis.url)
        try:
            return int(client.info("server")["process_id"])
        finally:
            client.close()


@contextlib.contextmanager
def backends() -> Iterator[Backends]:
    with PostgresServer() as pg, RedisServer() as rs:
        yield Backends(pg, rs)


@contextlib.contextmanager
def workdir(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"tutor-bench-{name}-") as path:
        yield Path(path)


def stack_env(database_url: str, redis_url: str, telegram_url: str) -> dict[str, str]:
    """The TUTOR_* settings of a production-shaped deployment pointed at local servers."""
    return {
        "TUTOR_DATABASE_URL": database_url,
        "TUTOR_REDIS_URL": redis_url,
        "TUTOR_SECRET_KEY": "bench-secret-key",
        "TUTOR_TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
        "TUTOR_TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TUTOR_TELEGRAM_API_URL": telegram_url,
        "TUTOR_LOG_LEVEL": "INFO",
        "TUTOR_LOG_FORMAT": "json",
    }


def settings(
    var_dir: Path, telegram_url: str, database_url: str, redis_url: str = "", **extra: Any
) -> Settings:
    """In-process settings: the same deployment as :func:`stack_env`, nothing from the shell."""
    values: dict[str, Any] = {
        "var_dir": var_dir,
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": "bench-secret-key",
        "telegram_bot_token": DEFAULT_TOKEN,
        "telegram_webhook_secret": TELEGRAM_SECRET,
        "telegram_api_url": telegram_url,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.contextmanager
def running_stack(env: dict[str, str], directory: Path) -> Iterator[Stack]:
    """gunicorn with the repository's gunicorn.conf.py; workers are started by the caller."""
    stack = Stack(env, directory)
    # Only the settings given here: none leak in from the shell that runs the benchmark.
    for key in [key for key in stack.env if key.startswith("TUTOR_") and key not in env]:
        if key not in ("TUTOR_VAR_DIR", "TUTOR_BIND", "TUTOR_WEB_WORKERS"):
            del stack.env[key]
    try:
        stack.start_web()
        yield stack
    except BaseException:
        print(stack.logs()[-3000:], file=sys.stderr)
        raise
    finally:
        stack.stop()


def gunicorn_workers(stack: Stack) -> list[int]:
    assert stack.web is not None
    return procs.children(stack.web.pid)


def wait_for_workers(stack: Stack, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(pids := gunicorn_workers(stack)) >= count:
            return pids
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start {count} workers")


class Store:
    """Counts in the inbox and outbox of one database."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def pending(self) -> tuple[int, int]:
        """(inbox rows pending, outbox replies pending)."""
        with self.engine.connect() as connection:
            waiting_in = connection.execute(
                select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
            ).scalar_one()
            waiting_out = connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
            ).scalar_one()
        return int(waiting_in), int(waiting_out)

    def counts(self) -> dict[str, Any]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(inbox.c.status, func.count()).group_by(inbox.c.status))
            return {str(status): int(n) for status, n in rows}

    def close(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def service_logs(path: Path, level: str = "INFO") -> Iterator[None]:
    """Log as the service's processes do (JSON, INFO), but into ``path``."""
    with path.open("a") as handle:
        with contextlib.redirect_stderr(handle):
            logs.configure(level, "json")  # its handler keeps the stream it found
        try:
            yield
        finally:
            root = logging.getLogger()
            for handler in [h for h in root.handlers if getattr(h, "_tutor", False)]:
                root.removeHandler(handler)


def background_load(seconds: float = 2.0) -> float:
    """Cores kept busy by whatever runs on the machine, over the next ``seconds``."""
    busy, _ = procs.machine_cpu_seconds()
    time.sleep(seconds)
    return (procs.machine_cpu_seconds()[0] - busy) / seconds


def wait_for_quiet(limit: float = 0.3, patience: float = 180.0) -> float:
    """Wait (a bounded time) for other work on the machine to stop; the load at the start."""
    started = time.monotonic()
    told = -1
    while (load := background_load()) > limit and time.monotonic() - started < patience:
        if (waited := int(time.monotonic() - started) // 30) > told:
            told = waited
            say(f"other processes keep {load:.2f} cores busy; waiting up to {patience:.0f} s")
    if load > limit:
        say(f"starting anyway with {load:.2f} cores busy elsewhere: expect noisy numbers")
    return load


def say(message: str) -> None:
    """Progress on stderr; results go to stdout and docs/BENCHMARKS.md."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
