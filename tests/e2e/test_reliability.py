"""Ordering, crashes and outages with the real processes on PostgreSQL and Redis."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import TELEGRAM_SECRET, channel_env
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.services import RedisServer
from tests.support.stack import Stack
from tutor.db import make_engine
from tutor.messages import Reply
from tutor.models import inbox, outbox, turns
from tutor.models import learners as learners_table

pytestmark = pytest.mark.slow

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _env(fake_telegram: FakeTelegram, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **channel_env(fake_telegram, None),
        "TUTOR_DATABASE_URL": database_url,
        "TUTOR_REDIS_URL": redis_url,
        "TUTOR_SECRET_KEY": "e2e-secret",
        "TUTOR_SWEEP_STALE_SECONDS": "1",
        "TUTOR_SWEEP_INTERVAL_SECONDS": "0.5",
        "TUTOR_LEARNER_LEASE_SECONDS": "3",
        "TUTOR_SEND_BACKOFF_SECONDS": "0.1",
        "TUTOR_WORKER_THREADS": "4",
    }


def _post(stack: Stack, body: dict[str, object]) -> int:
    response = httpx.post(
        f"{stack.url}/webhooks/telegram",
        json=body,
        headers={SECRET_HEADER: TELEGRAM_SECRET},
        timeout=10,
    )
    return response.status_code


def _wait_texts(fake: FakeTelegram, chat: int, count: int, timeout: float = 30) -> list[str]:
    fake.wait_for(lambda _: len(fake.sent_texts(chat)) >= count, timeout=timeout)
    return fake.sent_texts(chat)


def _wait_until_all_sent(database_url: str, timeout: float = 60) -> None:
    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                waiting = connection.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                ).scalar_one()
                waiting += connection.execute(
                    select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
                ).scalar_one()
            if not waiting:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise TimeoutError("messages still pending")


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis this test may kill without disturbing the others."""
    with RedisServer() as server:
        yield server


def test_each_learners_messages_run_in_order(
    tmp_path: Path, pg_url: str, redis_url: str, fake_telegram: FakeTelegram
) -> None:
    learners = list(range(8101, 8107))
    per_learner = 8
    with Stack(_env(fake_telegram, pg_url, redis_url), tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        stack.start_worker()

        def learner_session(user: int) -> None:
            # The platform delivers one chat's messages in order, as fast as it can.
            for n in range(per_learner):
                assert (
                    _post(stack, payloads.telegram_text(user, "help" if n % 2 else "menu")) == 200
                )

        with ThreadPoolExecutor(max_workers=len(learners)) as pool:
            list(pool.map(learner_session, learners))
        _wait_until_all_sent(pg_url)

    engine = make_engine(pg_url)
    with engine.connect() as connection:
        for user in learners:
            key = f"telegram:{user}"
            learner_id = connection.execute(
                select(learners_table.c.id).where(learners_table.c.key == key)
            ).scalar_one()
            inbox_order = list(
                connection.execute(
                    select(turns.c.inbox_id)
                    .where(turns.c.learner_id == learner_id)
                    .order_by(turns.c.id)
                ).scalars()
            )
            assert inbox_order == sorted(inbox_order) and len(inbox_order) == per_learner
            stored = [
                Reply.from_dict(reply).numbered_text()
                for reply in connection.execute(
                    select(outbox.c.reply).where(outbox.c.learner_key == key).order_by(outbox.c.id)
                ).scalars()
            ]
            assert fake_telegram.sent_texts(user) == stored
    engine.dispose()


def test_worker_killed_before_processing_still_answers_once(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    fake_telegram: FakeTelegram,
) -> None:
    with Stack(_env(fake_telegram, pg_url, redis_url), tmp_path) as stack:
        stack.start_web()
        first = stack.start_worker()
        assert _post(stack, payloads.telegram_text(8201, "hi")) == 200
        _wait_texts(fake_telegram, 8201, 1)
        _wait_until_all_sent(pg_url)  # the send is recorded, not just made

        # Freeze the worker so it cannot touch the next messages, then kill it outright.
        first.send_signal(signal.SIGSTOP)
        for text in ("1", "1"):
            assert _post(stack, payloads.telegram_text(8201, text)) == 200
        stack.kill_worker(first)

        stack.start_worker()
        texts = _wait_texts(fake_telegram, 8201, 3)
        time.sleep(2)  # room for a duplicate to appear, were there one
        texts = fake_telegram.sent_texts(8201)
        assert len(texts) == 3
        assert texts[1].startswith("Great! And which language")
        assert texts[2].startswith("How much Spanish")


def test_worker_killed_while_sending_delivers_after_restart(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    fake_telegram: FakeTelegram,
) -> None:
    with Stack(_env(fake_telegram, pg_url, redis_url), tmp_path) as stack:
        stack.start_web()
        worker = stack.start_worker()
        # The Bot API hangs on the next call: the worker is mid-send when it dies.
        fake_telegram.inject(
            502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, delay=20
        )
        assert _post(stack, payloads.telegram_text(8301, "hi")) == 200
        fake_telegram.wait_for(
            lambda requests: any("sendMessage" in r.path for r in requests), timeout=20
        )
        stack.kill_worker(worker)
        fake_telegram.clear()

        stack.start_worker()
        texts = _wait_texts(fake_telegram, 8301, 1)
        time.sleep(2)
        assert fake_telegram.sent_texts(8301) == texts and len(texts) == 1

    engine = make_engine(pg_url)
    with engine.connect() as connection:
        assert connection.execute(select(inbox.c.status)).scalars().all() == ["done"]
    engine.dispose()


def test_redis_outage_degrades_to_sql_and_loses_nothing(
    tmp_path: Path,
    pg_url: str,
    own_redis: RedisServer,
    fake_telegram: FakeTelegram,
) -> None:
    with Stack(_env(fake_telegram, pg_url, own_redis.url), tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        assert _post(stack, payloads.telegram_text(8401, "hi")) == 200
        _wait_texts(fake_telegram, 8401, 1)

        own_redis.kill()
        for user in (8401, 8402):
            assert _post(stack, payloads.telegram_text(user, "help")) == 200
        assert _wait_texts(fake_telegram, 8401, 2)[-1].startswith("I'm your")
        assert len(_wait_texts(fake_telegram, 8402, 1)) == 1
        ready = httpx.get(f"{stack.url}/readyz", timeout=5).json()
        assert ready["ready"] is True and ready["checks"]["redis"].startswith("degraded")

        own_redis.restart()
        assert _post(stack, payloads.telegram_text(8401, "menu")) == 200
        assert _wait_texts(fake_telegram, 8401, 3)[-1].startswith("Let's finish setting up")
        assert all(w.poll() is None for w in stack.workers)
