"""Redis clients and SQL engines for the LLM tests: embedded, real, and down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine

from tests.support.services import free_port
from tutor import migrate
from tutor.db import make_engine

REDIS_KINDS = ["embedded", "redis"]
ENGINE_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def unreachable() -> redis.Redis:
    """A client for a port nobody listens on: every call fails fast."""
    return redis.Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )


def redis_pair(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """Two clients of one store, as two processes would hold (``request.param`` picks it)."""
    if request.param == "embedded":
        server = fakeredis.FakeServer()
        yield fakeredis.FakeRedis(server=server), fakeredis.FakeRedis(server=server)
        return
    if request.param == "down":
        yield unreachable(), unreachable()
        return
    url = request.getfixturevalue("redis_url")
    first, second = redis.Redis.from_url(url), redis.Redis.from_url(url)
    yield first, second
    first.close()
    second.close()


def engine_for(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated SQLite or PostgreSQL database (``request.param`` picks it)."""
    if request.param == "sqlite":
        engine = make_engine(request.getfixturevalue("sqlite_url"))
        migrate.upgrade(engine)
    else:
        engine = make_engine(request.getfixturevalue("pg_url"))
    yield engine
    engine.dispose()
