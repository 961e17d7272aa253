"""Workers killed with SIGKILL at random points while learners write and pay.

The real processes (gunicorn and ``tutor worker`` on PostgreSQL and Redis) take a
stream of texts and Stars payments from several learners while a seeded schedule
kills a worker every 0.5-3 s and starts a fresh one. Afterwards every accepted
message is answered exactly once and every payment applied once.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from payments import ledger, stars
from tests.conftest import channel_env
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.faults import (
    Platform,
    assert_recovered,
    check_exactly_once,
    fault_env,
    run_all,
    settle,
    stars_pack_payment,
)
from tests.support.harness import Harness
from tests.support.payloads import telegram_text
from tests.support.stack import Stack
from tutor.messages import Inbound
from tutor.models import inbox, learners, utcnow

pytestmark = pytest.mark.reliability

AT_LEAST_KILLS = 3
TEXTS = ("hi", "help", "1", "menu", "1", "hola", "help", "1", "skip", "menu", "skip", "2")


def _learner(platform: Platform, user: int, count: int, pay_at: int, pause: float) -> None:
    for n in range(count):
        if n == pay_at:
            platform.telegram(stars_pack_payment(user))
        platform.telegram(telegram_text(user, TEXTS[n % len(TEXTS)]))
        time.sleep(pause)


def _kill_randomly(
    stack: Stack, rng: random.Random, stop: threading.Event, log: list[float]
) -> None:
    """Kill a random worker every 0.5-3 s (seeded) and start a fresh one at once, until the
    traffic has stopped and at least :data:`AT_LEAST_KILLS` were made (a kill after the
    traffic still finds the workers busy with what is queued)."""
    started = time.monotonic()
    while True:
        time.sleep(rng.uniform(0.5, 3.0))
        if stop.is_set() and len(log) >= AT_LEAST_KILLS:
            return
        victim = rng.choice(stack.workers)
        stack.kill_worker(victim)
        log.append(round(time.monotonic() - started, 2))
        stack.start_worker()


def _run(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    fake: FakeTelegram,
    *,
    seed: int,
    learners: int,
    per_learner: int,
    pause: float,
) -> None:
    env = {**channel_env(fake, None), **fault_env(pg_url, redis_url)}
    rng = random.Random(seed)
    kills: list[float] = []
    with Stack(env, tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        stack.start_worker()
        platform = Platform(stack.url)
        pay_at = {9100 + n: rng.randrange(per_learner) for n in range(learners)}
        jobs = [
            functools.partial(_learner, platform, user, per_learner, at, pause)
            for user, at in pay_at.items()
        ]
        stop = threading.Event()
        killer = threading.Thread(target=_kill_randomly, args=(stack, rng, stop, kills))
        killer.start()
        try:
            run_all(jobs)
        finally:
            stop.set()
            killer.join()
        traffic = time.monotonic()
        settle(pg_url, timeout=120)
        print(f"settled in {time.monotonic() - traffic:.1f}s")
        verdict = check_exactly_once(
            pg_url,
            fake,
            resends_allowed=len(kills),
            expected_messages=learners * (per_learner + 1),
        )
        assert_recovered(stack.url, [*stack.workers, *([stack.web] if stack.web else [])])
    print(f"seed {seed}: {len(kills)} kills at {kills}; {verdict}")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_workers_killed_at_random_points_answer_everything_once(
    tmp_path: Path, pg_url: str, redis_url: str, fake_telegram: FakeTelegram
) -> None:
    """Injects: SIGKILL of a random `tutor worker` every 0.5-3 s (seeded), a fresh one started
        after each, while 3 learners send 8 texts each and one Stars pack payment.
    Checks: every accepted message done with one turn and answered; the fake got exactly the
        stored replies in order; each pack credited and thanked once; /readyz ready."""
    _run(
        tmp_path, pg_url, redis_url, fake_telegram,
        seed=11, learners=3, per_learner=8, pause=0.4,
    )  # fmt: skip


@pytest.mark.long
@pytest.mark.timeout(900)
@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_minutes_of_random_worker_kills_answer_everything_once(
    tmp_path: Path, pg_url: str, redis_url: str, fake_telegram: FakeTelegram
) -> None:
    """Injects: SIGKILL of a random `tutor worker` every 0.5-3 s for about four minutes, while
        10 learners send 50 texts each and one Stars pack payment each.
    Checks: every accepted message done and answered once (a resend only where a kill fell
        between the platform's answer and marking the reply sent); packs applied once."""
    _run(
        tmp_path, pg_url, redis_url, fake_telegram,
        seed=29, learners=10, per_learner=50, pause=4.5,
    )  # fmt: skip


def test_a_payment_whose_turn_died_after_the_ledger_is_thanked_once(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    """Injects: the state a worker killed between storing a Stars payment's ledger event and
        committing its turn leaves: the event stored by that message, the message still pending.
    Checks: processing the message again thanks the learner once and credits nothing more;
        the same charge in another update is still neither thanked nor credited."""
    assert harness.telegram_says(9190, "hi")
    body = stars_pack_payment(9190)
    assert harness.post_telegram(body) == 200
    engine = harness.services.engine
    with engine.connect() as connection:
        row_id, message = connection.execute(
            select(inbox.c.id, inbox.c.message).where(inbox.c.status == "pending")
        ).one()
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.key == "telegram:9190")
        ).scalar_one()
    update = Inbound.from_dict(message).payment
    assert update is not None
    # What the killed attempt committed: the agent's own ledger call, from this message.
    event = stars.event(update, learner_id, utcnow(), f"inbox-{row_id}")
    ledger.record(engine, event, harness.services.catalog)

    harness.worker.sweep()
    assert fake_telegram.sent_texts(9190)[-1] == "Thank you! 🎉 10 lessons added; you have 10."
    again = payloads.telegram_stars_payment(9190, update.payload, update.amount, update.charge_id)
    assert harness.post_telegram(again) == 200
    harness.worker.sweep()
    check_exactly_once(harness.settings.resolved_database_url, fake_telegram)
