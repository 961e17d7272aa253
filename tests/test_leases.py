"""Per-learner leases: one holder at a time, expiry frees a crashed holder's learner."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tutor import leases, migrate
from tutor.db import make_engine


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, sqlite_url: str):  # type: ignore[no-untyped-def]
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_one_holder_at_a_time(engine) -> None:  # type: ignore[no-untyped-def]
    assert leases.acquire(engine, "telegram:1", "a", ttl=30)
    assert not leases.acquire(engine, "telegram:1", "b", ttl=30)
    assert leases.acquire(engine, "telegram:1", "a", ttl=30)  # renewal
    assert leases.acquire(engine, "telegram:2", "b", ttl=30)  # other learners are free
    leases.release(engine, "telegram:1", "b")  # not the holder: no effect
    assert not leases.acquire(engine, "telegram:1", "b", ttl=30)
    leases.release(engine, "telegram:1", "a")
    assert leases.acquire(engine, "telegram:1", "b", ttl=30)


def test_expired_lease_can_be_taken(engine) -> None:  # type: ignore[no-untyped-def]
    assert leases.acquire(engine, "web:x", "crashed", ttl=0.2)
    time.sleep(0.3)
    assert leases.acquire(engine, "web:x", "next", ttl=30)


def test_concurrent_claims_have_one_winner(engine) -> None:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=8) as pool:
        wins = list(
            pool.map(lambda n: leases.acquire(engine, "web:race", f"o{n}", ttl=30), range(16))
        )
    assert wins.count(True) == 1
