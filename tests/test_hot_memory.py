"""The hot tier's contract, on the embedded store and on a real Redis; it fails open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis

from memory.hot import HotMemory
from tests.support.services import RedisServer, free_port


@pytest.fixture(params=["embedded", "redis"])
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "embedded":
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return
    real = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield real
    real.close()


def test_keeps_the_last_turns_in_order(client: Any) -> None:
    hot = HotMemory(client, max_turns=3)
    assert hot.recent_turns("telegram:1") is None
    for n in range(5):
        hot.remember("telegram:1", {"text": f"m{n}"}, {"step": n})
    assert [t["text"] for t in hot.recent_turns("telegram:1") or []] == ["m2", "m3", "m4"]
    assert hot.state("telegram:1") == {"step": 4}
    assert hot.recent_turns("telegram:2") is None


def test_prime_and_forget(client: Any) -> None:
    hot = HotMemory(client, max_turns=2)
    hot.prime("web:a", [{"text": "x"}, {"text": "y"}, {"text": "z"}])
    assert [t["text"] for t in hot.recent_turns("web:a") or []] == ["y", "z"]
    hot.forget("web:a")
    assert hot.recent_turns("web:a") is None and hot.state("web:a") is None


def test_entries_expire(client: Any) -> None:
    hot = HotMemory(client, ttl_seconds=60)
    hot.remember("web:b", {"text": "x"}, {})
    assert 0 < client.ttl("tutor:hot:turns:web:b") <= 60
    assert 0 < client.ttl("tutor:hot:state:web:b") <= 60


def test_fails_open_when_redis_is_down() -> None:
    errors: list[str] = []
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        hot = HotMemory(client, on_error=errors.append)
        hot.remember("web:c", {"text": "x"}, {})
        server.kill()
        assert hot.recent_turns("web:c") is None
        hot.remember("web:c", {"text": "y"}, {})
        assert hot.state("web:c") is None
        assert errors == ["read", "write", "read"]
        client.close()


def test_unreachable_from_the_start() -> None:
    client = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    hot = HotMemory(client)
    assert hot.recent_turns("x") is None
    hot.remember("x", {"text": "y"}, {})  # does not raise
