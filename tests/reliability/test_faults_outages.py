"""PostgreSQL restarted and Redis stopped under the real processes, with traffic throughout.

gunicorn and ``tutor worker`` keep running through each outage; nobody restarts them.
A webhook that cannot store its message answers 503, so the platform (``Platform``)
delivers it again; a stored message is answered once the store is back.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import channel_env
from tests.fakes.telegram import FakeTelegram
from tests.support.faults import (
    Platform,
    assert_recovered,
    check_exactly_once,
    fault_env,
    run_all,
    settle,
    stars_pack_payment,
)
from tests.support.payloads import telegram_text
from tests.support.services import PostgresServer, RedisServer
from tests.support.stack import BIN, Stack
from tutor import migrate
from tutor.db import make_engine
from tutor.models import learner_leases, utcnow
from tutor.scheduler import LEASE_KEY

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.redis]

TEXTS = ("hi", "help", "1", "menu", "1", "help", "skip", "menu")


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL this test may restart without disturbing the others, migrated."""
    with PostgresServer() as server:
        engine = make_engine(server.url)
        migrate.upgrade(engine)
        engine.dispose()
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis this test may stop without disturbing the others."""
    with RedisServer() as server:
        yield server


def _chatter(platform: Platform, user: int, stop: threading.Event, pause: float) -> int:
    """Texts (and one Stars pack) from one learner until ``stop``; how many were sent."""
    sent = 0
    while not stop.is_set():
        if sent == 3:
            platform.telegram(stars_pack_payment(user))
        platform.telegram(telegram_text(user, TEXTS[sent % len(TEXTS)]))
        sent += 1
        time.sleep(pause)
    return sent


def _during_traffic(
    platform: Platform, users: list[int], fault: Callable[[], None], pause: float = 0.3
) -> None:
    """Learners write throughout; ``fault`` runs in the middle; they stop once it is over."""
    stop = threading.Event()

    def inject() -> None:
        time.sleep(2)
        try:
            fault()
        finally:
            time.sleep(2)
            stop.set()

    jobs = [functools.partial(_chatter, platform, user, stop, pause) for user in users]
    run_all([inject, *jobs])


@pytest.mark.postgres
def test_postgres_restarted_mid_stream_loses_nothing(
    tmp_path: Path, own_postgres: PostgresServer, redis_url: str, fake_telegram: FakeTelegram
) -> None:
    """Injects: PostgreSQL restarted twice (fast shutdown, start again) while 3 learners write
        and pay, under gunicorn, two workers and `tutor scheduler`.
    Checks: webhooks refused during the outage answer 5xx and are delivered again; every
        accepted message answered once, packs applied once; /readyz ready with the same
        processes; the scheduler renews its lease again."""
    url = own_postgres.url
    env = {
        **channel_env(fake_telegram, None),
        **fault_env(url, redis_url),
        "TUTOR_SCHEDULER_LEASE_SECONDS": "3",
    }
    with Stack(env, tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        stack.start_worker()
        scheduler = stack._spawn("scheduler", [str(BIN / "tutor"), "scheduler"])
        stack.workers.append(scheduler)  # stopped with the workers
        platform = Platform(stack.url)

        def restart_twice() -> None:
            own_postgres.restart()
            time.sleep(2)
            own_postgres.restart()

        _during_traffic(platform, [9301, 9302, 9303], restart_twice)
        restarted = utcnow()
        settle(url)
        check_exactly_once(url, fake_telegram, expected_messages=len(platform.accepted))
        assert_recovered(stack.url, [*stack.workers, *([stack.web] if stack.web else [])])
        _wait_scheduler_renews(url, after=restarted)
    print(f"refused while down: {dict(platform.refused)}")


def _wait_scheduler_renews(url: str, after: datetime, timeout: float = 20) -> None:
    """The scheduler still holds its lease and has renewed it since ``after``."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                expires = connection.execute(
                    select(learner_leases.c.expires_at).where(
                        learner_leases.c.learner_key == LEASE_KEY
                    )
                ).scalar()
            if expires is not None and expires > after + timedelta(seconds=3):
                return
            assert time.monotonic() < deadline, f"scheduler lease not renewed: {expires}"
            time.sleep(0.5)
    finally:
        engine.dispose()


def _redis_outage(
    tmp_path: Path, pg_url: str, redis: RedisServer, fake: FakeTelegram, seconds: float
) -> None:
    env = {**channel_env(fake, None), **fault_env(pg_url, redis.url)}
    with Stack(env, tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        stack.start_worker()
        platform = Platform(stack.url)

        def stop_redis() -> None:
            redis.kill()
            time.sleep(seconds)
            ready = assert_recovered(stack.url, stack.workers, redis=False)
            assert ready["checks"]["redis"].startswith("degraded")
            redis.restart()

        _during_traffic(platform, [9401, 9402, 9403], stop_redis)
        settle(pg_url)
        check_exactly_once(pg_url, fake, expected_messages=len(platform.accepted))
        assert_recovered(stack.url, [*stack.workers, *([stack.web] if stack.web else [])])
        # The queue works again, not only the sweeper: a new message is answered quickly.
        before = len(fake.sent_texts(9401))
        platform.telegram(telegram_text(9401, "help"))
        fake.wait_for(lambda _: len(fake.sent_texts(9401)) > before, timeout=10)
    assert not platform.refused, f"webhooks refused without Redis: {platform.refused}"


@pytest.mark.postgres
def test_redis_stopped_for_seconds_loses_nothing(
    tmp_path: Path, pg_url: str, own_redis: RedisServer, fake_telegram: FakeTelegram
) -> None:
    """Injects: Redis killed for 4 s while 3 learners write and pay (gunicorn, two workers,
        Dramatiq on that Redis), then started again empty.
    Checks: no webhook refused; /readyz degraded during and "ok" after; every message answered
        once, packs applied once; the same processes answer a new message."""
    _redis_outage(tmp_path, pg_url, own_redis, fake_telegram, seconds=4)


@pytest.mark.long
@pytest.mark.timeout(600)
@pytest.mark.postgres
def test_redis_stopped_for_thirty_seconds_loses_nothing(
    tmp_path: Path, pg_url: str, own_redis: RedisServer, fake_telegram: FakeTelegram
) -> None:
    """Injects: Redis killed for 30 s while 3 learners write and pay, then started again empty.
    Checks: no webhook refused; every message answered once, packs applied once; /readyz
        "ok" for Redis again and the same processes answer a new message."""
    _redis_outage(tmp_path, pg_url, own_redis, fake_telegram, seconds=30)
