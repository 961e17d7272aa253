"""Smoke tests for the private PostgreSQL and Redis servers used by the fixtures."""

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .services import PostgresServer, RedisServer


@pytest.mark.postgres
def test_private_postgres() -> None:
    with PostgresServer() as pg:
        assert pg.port != 5432
        assert pg.url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/test"
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            conn.execute("create table t (x text)")
            conn.execute("insert into t values (lower('ÉCOLE'))")
        pg.restart()
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("select x from t").fetchone() == ("école",)
    assert not pg._base


@pytest.mark.redis
def test_private_redis_survives_kill_and_restart() -> None:
    with RedisServer() as rs:
        assert rs.port != 6379
        client = redis.Redis.from_url(rs.url, retry=Retry(NoBackoff(), 0))
        try:
            assert client.ping()
            client.set("k", "v")
            rs.kill()
            with pytest.raises(redis.ConnectionError):
                client.ping()
            rs.restart()
            assert client.ping()
            assert client.get("k") is None  # nothing persisted across the outage
        finally:
            client.close()
    assert not rs.running
