"""The entitlement record and its ledger: events applied once, in any order; metering.

Runs on the embedded SQLite store and, for concurrent duplicates, on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select

from payments import entitlements as records
from payments import ledger, plans
from payments.ledger import EventKind, PaymentEvent, Provider, Status
from payments.metering import Feature, Meter, PaidBy
from tutor.db import make_engine
from tutor.errors import ConfigurationError
from tutor.migrate import upgrade
from tutor.models import learners, payment_events, usage_events

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
CATALOG = plans.load()
MONTHLY, PACK = CATALOG.get("monthly"), CATALOG.get("pack10")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'payments.sqlite3'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _learner(engine: Engine, key: str = "telegram:1") -> int:
    with engine.begin() as connection:
        result = connection.execute(
            insert(learners).values(
                key=key,
                channel=key.split(":")[0],
                chat_id=key.split(":")[1],
                profile={},
                state={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def _event(kind: EventKind, event_id: str, **values: object) -> PaymentEvent:
    values.setdefault("occurred_at", NOW)
    return PaymentEvent(Provider.STRIPE, event_id, kind, **values)  # type: ignore[arg-type]


def _record(engine: Engine, learner_id: int) -> records.Entitlement:
    with engine.connect() as connection:
        found = records.get(connection, learner_id)
    assert found is not None
    return found


def _events(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                payment_events.c.event_id, payment_events.c.status, payment_events.c.detail
            ).order_by(payment_events.c.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_the_shipped_plans_parse_and_bad_files_name_the_field(tmp_path: Path) -> None:
    assert (
        MONTHLY is not None and MONTHLY.stars == 299 and MONTHLY.kind is plans.PlanKind.SUBSCRIPTION
    )
    assert PACK is not None and PACK.lessons == 10 and PACK.name("es") == "10 lecciones"
    assert CATALOG.free.voice_notes_per_day == 3
    bad = tmp_path / "plans.yaml"
    cases = {
        "plans: {big: {kind: subscription, stars: 20000}}": "plans.big.stars",
        "plans: {p: {kind: pack, stars: 5}}": "plans.p.lessons",
        "plans: {p: {kind: rental, stars: 5}}": "plans.p.kind",
        "plans: {p: {kind: pack, lessons: 2}}": "give a price",
        "free: {voice_notes_per_day: -1}": "free.voice_notes_per_day",
        "plans: {free: {kind: pack, lessons: 1, stars: 1}}": "not 'free'",
        "plans: [1, 2": "plans file",
    }
    for text, expected in cases.items():
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigurationError, match=expected):
            plans.load(bad)


def test_a_pack_replayed_five_times_is_credited_once(engine: Engine) -> None:
    learner_id = _learner(engine)
    event = _event(EventKind.PURCHASE, "evt_pack", learner_id=learner_id, plan="pack10", amount=199)
    results = [ledger.record(engine, event, CATALOG, NOW) for _ in range(5)]
    assert [r.new for r in results] == [True, False, False, False, False]
    assert _record(engine, learner_id).lessons_remaining == 10
    assert _events(engine) == [("evt_pack", "applied", "+10 lessons (10 left)")]


def test_a_price_that_differs_is_applied_and_noted(engine: Engine) -> None:
    learner_id = _learner(engine)
    event = _event(EventKind.PURCHASE, "evt_cheap", learner_id=learner_id, plan="pack10", amount=99)
    assert ledger.record(engine, event, CATALOG, NOW).status is Status.APPLIED
    assert _events(engine)[0][2] == "+10 lessons (10 left); paid 99, the plan costs 199"


def test_an_unknown_plan_is_kept_for_an_admin_and_changes_nothing(engine: Engine) -> None:
    learner_id = _learner(engine)
    event = _event(EventKind.PURCHASE, "evt_x", learner_id=learner_id, plan="lifetime", amount=5)
    applied = ledger.record(engine, event, CATALOG, NOW)
    assert applied.status is Status.IGNORED and applied.detail == "unknown plan 'lifetime'"
    record = _record(engine, learner_id)
    assert record.plan == "free" and record.lessons_remaining == 0


def test_renewals_out_of_order_keep_the_latest_period(engine: Engine) -> None:
    learner_id = _learner(engine)
    with engine.begin() as connection:
        reference = records.ensure(connection, learner_id, NOW).reference
    first_end = NOW + timedelta(days=30)
    ledger.record(
        engine,
        _event(
            EventKind.PURCHASE,
            "evt_buy",
            reference=reference,
            plan="monthly",
            subscription_ref="sub_1",
            period_end=first_end,
        ),
        CATALOG,
        NOW,
    )
    later = _event(
        EventKind.RENEWAL, "evt_r2", subscription_ref="sub_1", period_end=NOW + timedelta(days=90)
    )
    earlier = _event(
        EventKind.RENEWAL, "evt_r1", subscription_ref="sub_1", period_end=NOW + timedelta(days=60)
    )
    ledger.record(engine, later, CATALOG, NOW)
    ledger.record(engine, earlier, CATALOG, NOW)
    record = _record(engine, learner_id)
    assert record.plan == "monthly" and record.rail == "stripe" and record.subscription_active
    assert record.next_payment_date == NOW + timedelta(days=90)
    assert record.subscribed(NOW + timedelta(days=89)) and not record.subscribed(
        NOW + timedelta(days=92)
    )


def test_a_renewal_before_its_checkout_waits_then_applies(engine: Engine) -> None:
    learner_id = _learner(engine)
    with engine.begin() as connection:
        reference = records.ensure(connection, learner_id, NOW).reference
    early = _event(
        EventKind.RENEWAL,
        "evt_early",
        subscription_ref="sub_2",
        period_end=NOW + timedelta(days=60),
    )
    assert ledger.record(engine, early, CATALOG, NOW).status is Status.PENDING
    assert not _record(engine, learner_id).subscription_active
    purchase = _event(
        EventKind.PURCHASE,
        "evt_checkout",
        reference=reference,
        plan="monthly",
        subscription_ref="sub_2",
        period_end=NOW + timedelta(days=30),
    )
    applied = ledger.record(engine, purchase, CATALOG, NOW)
    assert [a.status for a in applied.also] == [Status.APPLIED]
    assert _record(engine, learner_id).next_payment_date == NOW + timedelta(days=60)
    assert [status for _, status, _ in _events(engine)] == ["applied", "applied"]


def test_an_ended_subscription_is_not_revived_by_a_late_renewal(engine: Engine) -> None:
    learner_id = _learner(engine)
    buy = _event(
        EventKind.PURCHASE, "evt_b", learner_id=learner_id, plan="monthly", subscription_ref="sub_3"
    )
    ledger.record(engine, buy, CATALOG, NOW)
    ledger.record(
        engine, _event(EventKind.ENDED, "evt_end", subscription_ref="sub_3"), CATALOG, NOW
    )
    late = _event(
        EventKind.RENEWAL, "evt_late", subscription_ref="sub_3", period_end=NOW + timedelta(days=40)
    )
    applied = ledger.record(engine, late, CATALOG, NOW)
    assert (
        applied.status is Status.IGNORED and applied.detail == "the subscription has already ended"
    )
    record = _record(engine, learner_id)
    assert record.plan == "free" and not record.subscription_active


def test_a_refund_after_use_takes_back_what_is_left(engine: Engine) -> None:
    learner_id = _learner(engine)
    buy = _event(
        EventKind.PURCHASE, "evt_p", learner_id=learner_id, plan="pack10", object_ref="pi_1"
    )
    ledger.record(engine, buy, CATALOG, NOW)
    meter = Meter(engine, plans.Catalog(plans.FreeTier(0, 0), CATALOG.plans))
    for hour in range(3):  # three lessons, an hour apart, all from the pack
        admitted = meter.admit(
            learner_id, f"m{hour}", voice=False, now=NOW + timedelta(hours=hour), zone=UTC
        )
        assert admitted.paid_by is PaidBy.PACK
    assert _record(engine, learner_id).lessons_remaining == 7
    refund = _event(EventKind.REFUND, "evt_refund", object_ref="pi_1")
    applied = ledger.record(engine, refund, CATALOG, NOW)
    assert applied.learner_id == learner_id
    assert applied.detail == "-10 lessons (0 left); 3 of them already used"
    assert _record(engine, learner_id).lessons_remaining == 0


def test_a_refunded_subscription_ends_and_a_partial_refund_does_not(engine: Engine) -> None:
    learner_id = _learner(engine)
    buy = _event(
        EventKind.PURCHASE,
        "evt_s",
        learner_id=learner_id,
        plan="monthly",
        subscription_ref="sub_4",
        object_ref="in_1",
    )
    ledger.record(engine, buy, CATALOG, NOW)
    partial = _event(EventKind.REFUND, "evt_part", object_ref="in_1", full_refund=False)
    assert ledger.record(engine, partial, CATALOG, NOW).detail == "partial refund; access unchanged"
    assert _record(engine, learner_id).subscription_active
    full = _event(EventKind.REFUND, "evt_full", object_ref="in_1")
    assert ledger.record(engine, full, CATALOG, NOW).detail == "refunded; subscription ended"
    assert not _record(engine, learner_id).subscription_active


def test_a_refund_for_nothing_we_sold_is_ignored(engine: Engine) -> None:
    applied = ledger.record(
        engine, _event(EventKind.REFUND, "evt_r", object_ref="pi_zz"), CATALOG, NOW
    )
    assert applied.status is Status.PENDING  # no learner yet: kept until something matches
    learner_id = _learner(engine)
    stray = _event(EventKind.REFUND, "evt_r2", learner_id=learner_id, object_ref="pi_zz")
    assert (
        ledger.record(engine, stray, CATALOG, NOW).detail
        == "no applied payment matches this refund"
    )


def test_grants_and_revokes_by_an_admin(engine: Engine) -> None:
    learner_id = _learner(engine)
    grant = PaymentEvent(
        Provider.ADMIN,
        "grant-1",
        EventKind.GRANT,
        NOW,
        learner_id=learner_id,
        days=30,
        lessons=5,
        reason="prize",
    )
    applied = ledger.record(engine, grant, CATALOG, NOW)
    assert applied.detail == "granted +5 lessons, monthly until 2026-12-26: prize"
    record = _record(engine, learner_id)
    assert record.rail == "grant" and record.subscribed(NOW) and record.lessons_remaining == 5
    revoke = PaymentEvent(
        Provider.ADMIN, "revoke-1", EventKind.REVOKE, NOW, learner_id=learner_id, reason="oops"
    )
    ledger.record(engine, revoke, CATALOG, NOW)
    record = _record(engine, learner_id)
    assert (
        not record.subscription_active and record.plan == "free" and record.lessons_remaining == 5
    )


def test_concurrent_duplicate_deliveries_apply_once_on_postgresql(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        learner_id = _learner(engine, "telegram:77")
        event = _event(EventKind.PURCHASE, "evt_race", learner_id=learner_id, plan="pack10")
        barrier = threading.Barrier(8)
        results: list[bool] = []

        def deliver() -> None:
            barrier.wait()
            results.append(ledger.record(engine, event, CATALOG, NOW).new)

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == [False] * 7 + [True]
        assert _record(engine, learner_id).lessons_remaining == 10
        with engine.connect() as connection:
            count = connection.execute(select(func.count()).select_from(payment_events)).scalar()
        assert count == 1
    finally:
        engine.dispose()


# Metering ------------------------------------------------------------------


def test_free_lessons_a_week_then_a_pack_then_the_paywall(engine: Engine) -> None:
    learner_id = _learner(engine)
    meter = Meter(engine, CATALOG)
    week = [NOW + timedelta(hours=2 * n) for n in range(5)]  # five sittings, two hours apart
    admitted = [
        meter.admit(learner_id, f"m{n}", voice=False, now=t, zone=UTC) for n, t in enumerate(week)
    ]
    assert [a.paid_by for a in admitted[:3]] == [PaidBy.FREE] * 3
    assert (
        not admitted[3].allowed
        and admitted[3].exhausted is Feature.LESSON
        and admitted[3].limit == 3
    )
    ledger.record(
        engine,
        _event(EventKind.PURCHASE, "evt_pk", learner_id=learner_id, plan="pack10"),
        CATALOG,
        NOW,
    )
    assert meter.admit(learner_id, "m5", voice=False, now=week[4], zone=UTC).paid_by is PaidBy.PACK
    # The lesson stays open for 30 minutes after each turn: later turns cost nothing more.
    for minutes in (10, 35, 60):
        again = meter.admit(
            learner_id,
            f"m5+{minutes}",
            voice=False,
            now=week[4] + timedelta(minutes=minutes),
            zone=UTC,
        )
        assert again.paid_by is PaidBy.PACK
    assert _record(engine, learner_id).lessons_remaining == 9
    # A new week brings the free lessons back (Monday, in the learner's zone).
    monday = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert meter.admit(learner_id, "m6", voice=False, now=monday, zone=UTC).paid_by is PaidBy.FREE


def test_a_message_processed_twice_is_metered_once(engine: Engine) -> None:
    learner_id = _learner(engine)
    meter = Meter(engine, CATALOG)
    for _ in range(3):
        meter.admit(learner_id, "inbox-1", voice=True, now=NOW, zone=UTC)
    with engine.connect() as connection:
        rows = connection.execute(select(usage_events.c.feature, usage_events.c.paid_by)).all()
    assert sorted(tuple(r) for r in rows) == [("lesson", "free"), ("voice", "free")]


def test_free_voice_notes_a_day_then_a_pack_lesson_makes_them_unlimited(engine: Engine) -> None:
    learner_id = _learner(engine)
    meter = Meter(engine, CATALOG)
    notes = [
        meter.admit(learner_id, f"v{n}", voice=True, now=NOW + timedelta(minutes=n), zone=UTC)
        for n in range(4)
    ]
    assert [n.allowed for n in notes] == [True, True, True, False]
    assert notes[3].exhausted is Feature.VOICE and notes[3].limit == 3
    text = meter.admit(learner_id, "t1", voice=False, now=NOW + timedelta(minutes=5), zone=UTC)
    assert text.allowed  # writing is still part of the free lesson
    ledger.record(
        engine,
        _event(EventKind.PURCHASE, "evt_v", learner_id=learner_id, plan="pack10"),
        CATALOG,
        NOW,
    )
    more = [
        meter.admit(learner_id, f"w{n}", voice=True, now=NOW + timedelta(minutes=6 + n), zone=UTC)
        for n in range(5)
    ]
    assert all(m.allowed for m in more) and more[0].paid_by is PaidBy.PACK
    assert _record(engine, learner_id).lessons_remaining == 9


def test_a_subscription_is_unlimited_until_its_period_and_grace_end(engine: Engine) -> None:
    learner_id = _learner(engine)
    end = NOW + timedelta(days=30)
    ledger.record(
        engine,
        _event(
            EventKind.PURCHASE,
            "evt_m",
            learner_id=learner_id,
            plan="monthly",
            subscription_ref="sub_9",
            period_end=end,
        ),
        CATALOG,
        NOW,
    )
    meter = Meter(engine, CATALOG, grace_hours=24)
    for n in range(10):
        admitted = meter.admit(
            learner_id, f"s{n}", voice=True, now=NOW + timedelta(hours=n), zone=UTC
        )
        assert admitted.paid_by is PaidBy.SUBSCRIPTION
    assert (
        meter.admit(
            learner_id, "late", voice=False, now=end + timedelta(hours=23), zone=UTC
        ).paid_by
        is PaidBy.SUBSCRIPTION
    )
    lapsed = meter.admit(learner_id, "lapsed", voice=False, now=end + timedelta(hours=25), zone=UTC)
    assert lapsed.paid_by is PaidBy.FREE
    assert meter.allowance(learner_id, NOW, UTC).subscribed
    allowance = meter.allowance(learner_id, end + timedelta(hours=25), UTC)
    assert not allowance.subscribed and allowance.lessons_left == 2
