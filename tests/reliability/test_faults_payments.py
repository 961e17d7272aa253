"""The payment ledger under a crash mid-transaction and under racing events, on SQLite and
PostgreSQL: an event is applied exactly once, or not stored at all."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from payments import entitlements as records
from payments import ledger, plans
from payments.ledger import EventKind, PaymentEvent, Provider, Status
from tutor.db import make_engine
from tutor.migrate import upgrade
from tutor.models import learners, payment_events

pytestmark = pytest.mark.reliability

CATALOG = plans.load()
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        built = make_engine(request.getfixturevalue("pg_url"))
    else:
        built = make_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        upgrade(built)
    yield built
    built.dispose()


def _learner(engine: Engine, n: int) -> tuple[int, str]:
    with engine.begin() as connection:
        learner_id = connection.execute(
            insert(learners).values(
                key=f"whatsapp:{n}", channel="whatsapp", chat_id=str(n),
                profile={}, state={}, created_at=NOW, updated_at=NOW,
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
        reference = records.ensure(connection, int(learner_id), NOW).reference
    return int(learner_id), reference


class Crash(Exception):
    """The process dies before its transaction commits."""


def test_a_payment_rolled_back_mid_transaction_is_applied_when_it_comes_again(
    engine: Engine,
) -> None:
    """Injects: a pack purchase whose transaction dies after the ledger stored and applied it,
        before the commit (on SQLite a savepoint opened first commits on release).
    Checks: nothing of it survives; the redelivered event is applied once (10 lessons)."""
    learner_id, reference = _learner(engine, 1)
    event = PaymentEvent(
        Provider.STRIPE, "evt_crash", EventKind.PURCHASE, NOW, reference=reference, plan="pack10"
    )

    def crash() -> None:
        with engine.begin() as connection:
            assert ledger.record_in(connection, event, CATALOG, NOW).status is Status.APPLIED
            raise Crash

    with pytest.raises(Crash):
        crash()
    with engine.connect() as connection:
        assert connection.execute(select(payment_events.c.id)).all() == []
    again = ledger.record(engine, event, CATALOG, NOW)
    assert again.new and again.status is Status.APPLIED
    assert ledger.record(engine, event, CATALOG, NOW).new is False
    with engine.connect() as connection:
        record = records.get(connection, learner_id)
    assert record is not None and record.lessons_remaining == 10


@pytest.mark.parametrize("first", ["purchase", "renewal"])
def test_a_renewal_racing_its_purchase_is_applied(engine: Engine, first: str) -> None:
    """Injects: a subscription's purchase and its renewal (which names only the subscription)
        recorded at once: one transaction still open while the other event comes in.
    Checks: the renewal is applied, never left waiting for a purchase that is already
        there, and the record ends at the renewal's period end."""
    learner_id, reference = _learner(engine, 7)
    events = {
        "purchase": PaymentEvent(
            Provider.STRIPE, "evt_buy", EventKind.PURCHASE, NOW, reference=reference,
            plan="monthly", subscription_ref="sub_race", period_end=NOW + timedelta(days=30),
        ),
        "renewal": PaymentEvent(
            Provider.STRIPE, "evt_renew", EventKind.RENEWAL, NOW + timedelta(seconds=1),
            plan="monthly", subscription_ref="sub_race", period_end=NOW + timedelta(days=60),
        ),
    }  # fmt: skip
    second = events["renewal" if first == "purchase" else "purchase"]
    racer = threading.Thread(target=ledger.record, args=(engine, second, CATALOG, NOW))
    with engine.begin() as connection:
        ledger.record_in(connection, events[first], CATALOG, NOW)
        racer.start()
        racer.join(timeout=1.0)  # the other event arrives while this one is uncommitted
    racer.join(timeout=30)
    assert not racer.is_alive()

    with engine.connect() as connection:
        statuses = connection.execute(
            select(payment_events.c.event_id, payment_events.c.status)
        ).all()
        record = records.get(connection, learner_id)
    assert sorted(statuses) == [("evt_buy", "applied"), ("evt_renew", "applied")]
    assert record is not None and record.next_payment_date == NOW + timedelta(days=60)
