"""Where a tutor keeps things, for tests that must find something, or nothing, there:
every SQL value, every Redis key and value, and the service's store settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.harness import Harness

#: The two ways a test tutor stores things: ``stores`` fixtures are parametrised by these.
KINDS = ["embedded", "postgresql+redis"]


def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """``TUTOR_*`` settings for the store kind in ``request.param``: none for the embedded
    stores (SQLite, in-process Redis), the test PostgreSQL and Redis otherwise."""
    if request.param == "embedded":
        return {}
    return {
        "TUTOR_DATABASE_URL": request.getfixturevalue("pg_url"),
        "TUTOR_REDIS_URL": request.getfixturevalue("redis_url"),
        "TUTOR_QUEUE": "embedded",  # the harness drains the inbox itself
    }


def redis_values(client: Any) -> Iterator[tuple[str, bytes]]:
    """Every key (as its own value too) and every value stored under it, whatever its type."""
    for raw in client.scan_iter(count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        kind = client.type(raw)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        values: list[Any] = []
        if kind == "string":
            values = [client.get(raw)]
        elif kind == "list":
            values = client.lrange(raw, 0, -1)
        elif kind == "hash":
            values = [v for pair in client.hgetall(raw).items() for v in pair]
        elif kind == "set":
            values = list(client.smembers(raw))
        elif kind == "zset":
            values = [m for m, _ in client.zrange(raw, 0, -1, withscores=True)]
        elif kind == "stream":
            values = [
                v for _, fields in client.xrange(raw) for pair in fields.items() for v in pair
            ]
        yield key, key.encode()
        for value in values:
            yield key, value if isinstance(value, bytes) else str(value).encode()


def stored_values(harness: Harness) -> Iterator[tuple[str, bytes]]:
    """Every column of every row of every table, as bytes, then everything in Redis."""
    engine = harness.services.engine
    with engine.connect() as connection:
        for table in engine.dialect.get_table_names(connection):
            for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"'):
                for value in row:
                    yield table, value if isinstance(value, bytes) else str(value).encode()
    yield from redis_values(harness.services.redis)
