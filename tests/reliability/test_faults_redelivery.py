"""Webhooks delivered three times, concurrently and out of order, on PostgreSQL and SQLite.

gunicorn (two processes, four threads each) and a worker take Telegram updates,
signed WhatsApp webhooks and signed Stripe events; every delivery is sent three
times, the copies shuffled across learners and posted from eight threads at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from payments import entitlements as records
from tests.conftest import channel_env
from tests.fakes.stripe import DEFAULT_API_KEY, FakeStripe
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support import payloads
from tests.support.faults import (
    THANKS,
    Platform,
    assert_recovered,
    check_exactly_once,
    fault_env,
    settle,
    stars_pack_payment,
)
from tests.support.stack import Stack
from tests.test_payments_stripe import SECRET, checkout, invoice_paid, signed
from tutor.db import make_engine
from tutor.models import learners, payment_events, utcnow

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

TELEGRAM_USERS = [9701, 9702, 9703]
WHATSAPP_USERS = ["34600009711", "34600009712"]
TEXTS = ("hi", "help", "1", "menu")
COPIES = 3


@pytest.fixture(params=["postgres", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(database URL, Redis URL): PostgreSQL with Redis, or SQLite with nothing else."""
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        request.applymarker(pytest.mark.redis)
        return request.getfixturevalue("pg_url"), request.getfixturevalue("redis_url")
    return f"sqlite:///{tmp_path / 'tutor.sqlite3'}", ""


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def _shuffled_copies(deliveries: list[Callable[[], None]], rng: random.Random) -> None:
    """Each delivery ``COPIES`` times, all shuffled, from eight threads at once."""
    copies = [delivery for delivery in deliveries for _ in range(COPIES)]
    rng.shuffle(copies)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(copy) for copy in copies]:
            future.result()


def _stripe(platform: Platform, body: dict[str, Any]) -> Callable[[], None]:
    raw, headers = signed(body)

    def post() -> None:
        status = platform.post_once("/webhooks/stripe", raw, headers)
        assert status == 200, f"Stripe event answered {status}"

    return post


def _references(engine: Engine) -> dict[str, tuple[int, str]]:
    """The WhatsApp learners' ids and the references their payment links carry."""
    found = {}
    with engine.begin() as connection:
        for wa_id in WHATSAPP_USERS:
            learner_id = connection.execute(
                select(learners.c.id).where(learners.c.chat_id == wa_id)
            ).scalar_one()
            record = records.ensure(connection, int(learner_id), utcnow())
            found[wa_id] = (int(learner_id), record.reference)
    return found


def test_webhooks_three_times_out_of_order_are_answered_and_applied_once(
    tmp_path: Path,
    store: tuple[str, str],
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
    fake_stripe: FakeStripe,
) -> None:
    """Injects: every Telegram update (texts, a Stars pack payment), WhatsApp webhook and
        Stripe event (a pack, a subscription and two renewals) delivered three times,
        shuffled across learners and posted concurrently; on PostgreSQL and on SQLite.
    Checks: each message stored once and answered once; each payment event stored and
        applied once (10 lessons a pack, the later renewal's period end); one notice each."""
    database_url, redis_url = store
    rng = random.Random(7)
    env = {
        **channel_env(fake_telegram, fake_whatsapp),
        **fault_env(database_url, redis_url),
        "TUTOR_STRIPE_API_KEY": DEFAULT_API_KEY,
        "TUTOR_STRIPE_WEBHOOK_SECRET": SECRET,
        "TUTOR_STRIPE_API_URL": fake_stripe.url,
    }
    with Stack(env, tmp_path) as stack:
        stack.start_web()
        stack.start_worker()
        platform = Platform(stack.url)
        deliveries: list[Callable[[], None]] = []
        for user in TELEGRAM_USERS:
            bodies = [payloads.telegram_text(user, text) for text in TEXTS]
            bodies.insert(rng.randrange(len(bodies)), stars_pack_payment(user))
            deliveries += [lambda body=body: platform.telegram(body) for body in bodies]
        for wa_id in WHATSAPP_USERS:
            bodies = [payloads.whatsapp_text(wa_id, text) for text in TEXTS]
            deliveries += [lambda body=body: platform.whatsapp(body) for body in bodies]
        started = time.monotonic()
        _shuffled_copies(deliveries, rng)
        posted = time.monotonic()
        settle(database_url)
        print(f"posted in {posted - started:.1f}s, settled in {time.monotonic() - posted:.1f}s")

        engine = make_engine(database_url)
        try:
            stripe_events, pack, subscription, now = _pay(platform, engine, rng)
        finally:
            engine.dispose()
        verdict = check_exactly_once(
            database_url,
            fake_telegram,
            fake_whatsapp,
            expected_messages=len(deliveries),
        )
        assert_recovered(stack.url, [*stack.workers], redis=bool(redis_url))
    assert sorted(stripe_events) == [
        ("purchase", "applied"),
        ("purchase", "applied"),
        ("renewal", "applied"),
        ("renewal", "applied"),
    ]
    assert pack is not None and pack.lessons_remaining == 10
    assert subscription is not None and subscription.subscription_active
    assert subscription.next_payment_date == now + timedelta(days=90)
    for wa_id in WHATSAPP_USERS:
        thanks = [text for text in fake_whatsapp.sent_texts(wa_id) if text.startswith(THANKS)]
        assert len(thanks) == 1, f"{wa_id} was thanked {len(thanks)} times"
    print(verdict)


def _pay(
    platform: Platform, engine: Engine, rng: random.Random
) -> tuple[list[Any], records.Entitlement | None, records.Entitlement | None, datetime]:
    """Stripe: a pack for one WhatsApp learner, a subscription and two renewals for the
    other, each event three times, shuffled, at once. Returns what the ledger holds."""
    (pack_learner, pack_ref), (sub_learner, sub_ref) = _references(engine).values()
    now = datetime.now(UTC).replace(microsecond=0)
    _shuffled_copies(
        [
            _stripe(platform, checkout(pack_ref, "pack10")),
            _stripe(
                platform,
                checkout(sub_ref, "monthly", mode="subscription", subscription="sub_fault"),
            ),
            _stripe(platform, invoice_paid("sub_fault", now + timedelta(days=60))),
            _stripe(platform, invoice_paid("sub_fault", now + timedelta(days=90))),
        ],
        rng,
    )
    settle(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        stripe_events = connection.execute(
            select(payment_events.c.kind, payment_events.c.status).where(
                payment_events.c.provider == "stripe"
            )
        ).all()
        pack = records.get(connection, pack_learner)
        subscription = records.get(connection, sub_learner)
    return list(stripe_events), pack, subscription, now
