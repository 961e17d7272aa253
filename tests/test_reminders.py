"""Practice reminders: when they fall due, what is decided, and that one scheduler acts.

Every run takes its clock as an argument; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select, update

from tests.conftest import channel_env, settings_from_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support.harness import Harness
from tutor import cards
from tutor.db import make_engine
from tutor.migrate import upgrade
from tutor.models import entitlements, learners, outbox, reminders, turns
from tutor.reminder_times import Policy, column_change, next_due, zone_for_phone
from tutor.reminders import run_due
from tutor.scheduler import build_scheduler
from tutor.services import Services, build_services
from tutor.settings import Settings

POLICY = Policy()
#: 10 March 2026: Sao Paulo is UTC-3 all year; New York moved to summer time on 8 March.
DAY = datetime(2026, 3, 10, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


# When -------------------------------------------------------------------------


def test_practice_time_in_the_learners_zone() -> None:
    profile = {"timezone": "America/Sao_Paulo", "practice_time": "19:00"}
    assert next_due(profile, at(12)) == at(22)
    assert next_due(profile, at(22)) == at(22) + timedelta(days=1)


def test_daylight_saving_time_moves_the_utc_instant() -> None:
    profile = {"timezone": "America/New_York", "practice_time": "19:00"}
    winter = datetime(2026, 3, 6, 12, tzinfo=UTC)
    assert next_due(profile, winter) == datetime(2026, 3, 7, 0, tzinfo=UTC)  # EST, UTC-5
    assert next_due(profile, at(12)) == at(23)  # EDT, UTC-4


def test_default_time_and_zone_from_the_phone() -> None:
    assert zone_for_phone("5511987654321") == "America/Sao_Paulo"
    assert zone_for_phone("34600111222") == "Europe/Madrid"
    assert zone_for_phone("447700900123") == "Europe/London"
    assert zone_for_phone("not-a-number") is None
    skipped = {"timezone": "UTC", "practice_time": None}  # what "skip" stores
    whatsapp = next_due(skipped, at(12), channel="whatsapp", chat_id="5511987654321")
    assert whatsapp == at(22)  # 19:00 in Sao Paulo
    assert next_due(skipped, at(12), channel="telegram", chat_id="42") == at(19)


def test_a_fixed_offset_zone_counts() -> None:
    profile = {"timezone": "UTC+02:00", "practice_time": "08:30"}
    assert next_due(profile, at(3)) == at(6, 30)


def test_quiet_hours_move_the_moment_to_their_end() -> None:
    late = {"timezone": "America/Sao_Paulo", "practice_time": "23:30"}
    assert next_due(late, at(12)) == at(11) + timedelta(days=1)  # 08:00 local next morning
    early = {"timezone": "America/Sao_Paulo", "practice_time": "06:00"}
    assert next_due(early, at(3)) == at(11)  # 08:00 local the same morning
    assert POLICY.quiet(time(22)) and POLICY.quiet(time(7, 59)) and not POLICY.quiet(time(8))


def test_profile_changes_move_the_column() -> None:
    old = {"onboarded": True, "practice_time": "19:00"}
    now = at(12)
    assert column_change(old, {**old, "practice_time": "08:00"}, now) == {"next_reminder_at": now}
    assert column_change(old, {**old, "reminders": False}, now) == {"next_reminder_at": None}
    assert column_change({"onboarded": False}, {"onboarded": False}, now) == {
        "next_reminder_at": None
    }
    unchanged = column_change(old, dict(old), now)["next_reminder_at"]
    assert "coalesce" in str(unchanged).lower()  # fills the column only where it is empty


# Deciding -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'reminders.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    made = make_engine(url)
    upgrade(made)
    yield made
    made.dispose()


def add_learner(
    engine: Engine,
    key: str,
    *,
    channel: str = "telegram",
    chat_id: str = "42",
    profile: dict[str, Any] | None = None,
    last_inbound_at: datetime | None = None,
    due: datetime | None = None,
) -> int:
    profile = {
        "onboarded": True,
        "explanation_language": "en",
        "timezone": "America/Sao_Paulo",
        "practice_time": "19:00",
        **(profile or {}),
    }
    wake = due or next_due(profile, at(0), channel=channel, chat_id=chat_id)
    with engine.begin() as connection:
        result = connection.execute(
            insert(learners).values(
                key=key,
                channel=channel,
                chat_id=chat_id,
                profile=profile,
                state={},
                created_at=at(0) - timedelta(days=30),
                updated_at=at(0),
                last_inbound_at=last_inbound_at,
                next_reminder_at=wake,
            )
        )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def add_words(engine: Engine, learner_id: int, count: int) -> None:
    for n in range(count):
        cards.add(engine, learner_id, f"es@1:word{n}", now=at(0), due=at(0))


def decided(engine: Engine, learner_id: int) -> list[tuple[str, str, str | None]]:
    query = select(reminders.c.kind, reminders.c.status, reminders.c.reason).where(
        reminders.c.learner_id == learner_id
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(reminders.c.id))]


def queued_texts(engine: Engine, key: str) -> list[str]:
    query = select(outbox.c.reply).where(outbox.c.learner_key == key).order_by(outbox.c.id)
    with engine.connect() as connection:
        return [row.reply["text"] for row in connection.execute(query)]


def wake_of(engine: Engine, learner_id: int) -> datetime | None:
    with engine.connect() as connection:
        query = select(learners.c.next_reminder_at).where(learners.c.id == learner_id)
        return connection.execute(query).scalar()


def test_review_reminder_at_the_practice_time_and_not_before(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1", last_inbound_at=at(12) - timedelta(days=1))
    add_words(engine, learner, 12)
    assert run_due(engine, at(21, 59), POLICY).queued == 0
    report = run_due(engine, at(22), POLICY)
    assert (report.queued, report.learner_keys) == (1, ["telegram:1"])
    assert queued_texts(engine, "telegram:1") == [
        'You have 12 words to review. Reply "review" to start.'
    ]
    assert decided(engine, learner) == [("review", "queued", None)]
    assert wake_of(engine, learner) == at(22) + timedelta(days=1)
    with engine.connect() as connection:
        row = connection.execute(select(reminders)).one()
        sent = connection.execute(select(outbox.c.id, outbox.c.inbox_id)).one()
    assert (row.slot, row.scheduled_for, row.outbox_id) == ("2026-03-10", at(22), sent.id)
    assert sent.inbox_id is None


def test_the_same_slot_is_never_sent_twice(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1")
    add_words(engine, learner, 2)
    run_due(engine, at(22), POLICY)
    with engine.begin() as connection:  # a second scheduler still sees the old moment
        connection.execute(update(learners).values(next_reminder_at=at(22)))
    assert run_due(engine, at(22), POLICY).queued == 0
    assert len(queued_texts(engine, "telegram:1")) == 1
    assert wake_of(engine, learner) == at(22) + timedelta(days=1)


def test_at_most_one_a_day(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1")
    add_words(engine, learner, 2)
    ending = at(12) + timedelta(days=2)
    with engine.begin() as connection:
        connection.execute(insert(entitlements).values(**_entitlement(learner, ending)))
    run_due(engine, at(22), POLICY)
    assert queued_texts(engine, "telegram:1") == [
        'Your subscription ends on 12 Mar. Send "subscription" to keep it.'
    ]
    with engine.begin() as connection:  # a new practice time later the same evening
        connection.execute(update(learners).values(next_reminder_at=at(23, 30)))
        profile = {"onboarded": True, "timezone": "America/Sao_Paulo", "practice_time": "20:30"}
        connection.execute(update(learners).values(profile=profile))
    assert run_due(engine, at(23, 30), POLICY).skipped == {"cap": 1}
    assert len(queued_texts(engine, "telegram:1")) == 1
    run_due(engine, at(23, 30) + timedelta(days=1), POLICY)  # the next day: the review
    assert queued_texts(engine, "telegram:1")[-1].startswith("You have 2 words")
    assert [kind for kind, _, _ in decided(engine, learner)] == ["expiry", "review", "review"]


def _entitlement(learner_id: int, ending: datetime) -> dict[str, Any]:
    return {
        "learner_id": learner_id,
        "reference": f"ref{learner_id}",
        "plan": "monthly",
        "rail": "stripe",
        "subscription_active": True,
        "cancel_at_period_end": True,
        "next_payment_date": ending,
        "lessons_remaining": 0,
        "created_at": at(0),
        "updated_at": at(0),
    }


def test_nothing_in_quiet_hours(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1", profile={"practice_time": "23:30"})
    add_words(engine, learner, 3)
    assert wake_of(engine, learner) == at(11)  # 08:00 in Sao Paulo
    for hour in (1, 2, 3, 4, 10):  # 22:00-07:00 local
        with engine.begin() as connection:
            connection.execute(update(learners).values(next_reminder_at=at(hour)))
        assert run_due(engine, at(hour), POLICY).queued == 0
    assert wake_of(engine, learner) == at(11)
    assert run_due(engine, at(11), POLICY).queued == 1


def test_a_skipped_expiry_warning_comes_the_next_day(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1", last_inbound_at=at(21, 30))
    ending = at(12) + timedelta(days=2)
    with engine.begin() as connection:
        connection.execute(insert(entitlements).values(**_entitlement(learner, ending)))
    assert run_due(engine, at(22), POLICY).skipped == {"active": 1}
    assert run_due(engine, at(22) + timedelta(days=1), POLICY).queued == 1
    assert decided(engine, learner) == [("expiry", "queued", None)]


def test_none_while_they_are_practising(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1", last_inbound_at=at(21))
    add_words(engine, learner, 3)
    assert run_due(engine, at(22), POLICY).skipped == {"active": 1}
    assert queued_texts(engine, "telegram:1") == []
    assert decided(engine, learner) == [("review", "skipped", "active")]


def test_streak_nudge_when_they_practised_yesterday(engine: Engine) -> None:
    add_learner(engine, "telegram:1", last_inbound_at=at(15) - timedelta(days=1))
    add_learner(engine, "telegram:2", chat_id="43", last_inbound_at=at(15) - timedelta(days=3))
    run_due(engine, at(22), POLICY)
    assert queued_texts(engine, "telegram:1") == [
        "You practised yesterday. One message today makes it two days in a row 🔥"
    ]
    assert queued_texts(engine, "telegram:2") == []


def test_blocked_and_stopped_learners_get_nothing(engine: Engine) -> None:
    blocked = add_learner(engine, "telegram:1")
    add_words(engine, blocked, 3)
    with engine.begin() as connection:
        connection.execute(update(learners).values(inactive_at=at(1)))
    stopped = add_learner(engine, "telegram:2", chat_id="43", profile={"reminders": False})
    add_words(engine, stopped, 3)
    assert run_due(engine, at(22), POLICY).queued == 0
    assert wake_of(engine, blocked) == at(22)  # left alone until they write again
    assert wake_of(engine, stopped) is None
    assert decided(engine, blocked) == decided(engine, stopped) == []


def test_a_late_moment_is_moved_on_not_sent(engine: Engine) -> None:
    learner = add_learner(engine, "telegram:1", due=at(15))  # e.g. the profile changed
    add_words(engine, learner, 3)
    assert run_due(engine, at(15), POLICY).queued == 0
    assert wake_of(engine, learner) == at(22)


def test_whatsapp_outside_the_window_without_a_template(engine: Engine) -> None:
    learner = add_learner(
        engine,
        "whatsapp:5511987654321",
        channel="whatsapp",
        chat_id="5511987654321",
        profile={"timezone": "UTC", "practice_time": None},
        last_inbound_at=at(12) - timedelta(days=2),
    )
    add_words(engine, learner, 4)
    assert wake_of(engine, learner) == at(22)  # 19:00 by the phone's zone
    assert run_due(engine, at(22), POLICY).skipped == {"window": 1}
    assert queued_texts(engine, "whatsapp:5511987654321") == []


def test_many_learners_in_batches(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(learners),
            [
                {
                    "key": f"telegram:{n}",
                    "channel": "telegram",
                    "chat_id": str(n),
                    "profile": {"onboarded": True, "timezone": "UTC", "practice_time": "21:00"},
                    "state": {},
                    "created_at": at(0),
                    "updated_at": at(0),
                    "last_inbound_at": at(12) - timedelta(days=1),
                    "next_reminder_at": at(21),
                }
                for n in range(25)
            ],
        )
    report = run_due(engine, at(21), Policy(batch_size=10))
    assert (report.looked_at, report.queued) == (25, 25)
    with engine.connect() as connection:
        left = connection.execute(
            select(func.count()).where(learners.c.next_reminder_at <= at(21))
        ).scalar()
    assert left == 0


# Delivery through the outbox ---------------------------------------------------------------


@pytest.fixture
def template_harness(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> Iterator[Harness]:
    env = {
        **channel_env(fake_telegram, fake_whatsapp),
        "TUTOR_WHATSAPP_REMINDER_TEMPLATE": "practice_reminder",
        # room for a whole first contact and a reminder without waiting on the pacing
        "TUTOR_PACE_WHATSAPP_USER_BURST": "50",
        "TUTOR_PACE_TELEGRAM_CHAT_BURST": "50",
    }
    harness = Harness(settings_from_env(make_settings, env), fake_telegram, fake_whatsapp)
    yield harness
    harness.close()


def _onboard_on_whatsapp(harness: Harness, wa_id: str) -> int:
    for answer in ("hi", "1", "1", "1", "skip", "skip"):
        harness.whatsapp_says(wa_id, answer)
    with harness.services.engine.connect() as connection:
        query = select(learners.c.id).where(
            learners.c.channel == "whatsapp", learners.c.chat_id == wa_id
        )
        return int(connection.execute(query).scalar_one())


def test_whatsapp_learner_silent_for_two_days_gets_the_template(
    template_harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    wa_id = "5511987654321"
    engine = template_harness.services.engine
    learner = _onboard_on_whatsapp(template_harness, wa_id)
    now = datetime.now(UTC)
    slot = next_due({"onboarded": True}, now, channel="whatsapp", chat_id=wa_id)
    with engine.begin() as connection:
        connection.execute(
            update(learners)
            .where(learners.c.id == learner)
            .values(last_inbound_at=slot - timedelta(days=2), next_reminder_at=slot)
        )
    add_words(engine, learner, 5)
    fake_whatsapp.close_window(wa_id)
    policy = Policy.from_settings(template_harness.settings)
    report = run_due(engine, slot, policy, notify=template_harness.services.queue.notify)
    assert (report.queued, report.templates) == (1, 1)
    template_harness.worker.sweep()
    body = fake_whatsapp.sent[-1].body
    assert body["type"] == "template"
    assert body["template"]["name"] == "practice_reminder"
    assert body["template"]["language"] == {"code": "en"}
    parameters = body["template"]["components"][0]["parameters"]
    assert parameters == [
        {"type": "text", "text": 'You have 5 words to review. Reply "review" to start.'}
    ]


def test_telegram_reminder_is_delivered_and_review_opens_the_words(
    template_harness: Harness, fake_telegram: FakeTelegram
) -> None:
    harness = template_harness
    harness.onboard(801)
    engine = harness.services.engine
    with engine.connect() as connection:
        learner = connection.execute(
            select(learners.c.id).where(learners.c.key == "telegram:801")
        ).scalar_one()
    add_words(engine, learner, 2)
    now = datetime.now(UTC)
    slot = next_due({"onboarded": True}, now + timedelta(hours=4))  # after "active" hours
    with engine.begin() as connection:
        connection.execute(update(learners).values(next_reminder_at=slot))
    run_due(engine, slot, POLICY)
    harness.worker.sweep()
    assert fake_telegram.sent_texts(801)[-1] == (
        'You have 2 words to review. Reply "review" to start.'
    )
    assert harness.telegram_says(801, "review")  # "Reply "review" to start"
    with engine.connect() as connection:
        query = select(turns.c.agent).where(turns.c.learner_id == learner)
        assert connection.execute(query.order_by(turns.c.id.desc())).scalar() == "vocabulary"


# One scheduler acts -------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def two_processes(make_settings: Callable[..., Settings]) -> Iterator[tuple[Services, Services]]:
    settings = make_settings(reminder_quiet_start="00:00", reminder_quiet_end="00:00")
    first, second = build_services(settings), build_services(settings)
    upgrade(first.engine)
    yield first, second
    first.close()
    second.close()


def test_only_one_scheduler_runs_jobs_and_the_other_takes_over(
    two_processes: tuple[Services, Services],
) -> None:
    clock = Clock(datetime.now(UTC))
    first = build_scheduler(two_processes[0], blocking=False, clock=clock, lease_seconds=30)
    second = build_scheduler(two_processes[1], blocking=False, clock=clock, lease_seconds=30)
    try:
        assert first.step() is True
        assert second.step() is False
        assert first.running and not second.running
        jobs = {job.id: job.args for job in first.jobs.get_jobs()}  # read from the SQL store
        assert set(jobs) == {
            "close_idle_sessions",
            "reminders",
            "nightly_memory",
            "reconcile_payments",
        }
        assert all(args[0] == first.key for args in jobs.values())
        clock.now += timedelta(seconds=10)
        assert (first.step(), second.step()) == (True, False)  # renewed; the other waits

        clock.now += timedelta(seconds=31)  # the first stops renewing (a crash)
        assert second.step() is True
        assert second.running
        assert {job.args[0] for job in second.jobs.get_jobs()} == {second.key}
        assert first.leading is False
        assert first.step() is False  # it finds the lease taken and pauses its jobs
        assert not first.running
    finally:
        first.shutdown(wait=False)
        second.shutdown(wait=False)


def test_a_clean_stop_hands_over_at_once(two_processes: tuple[Services, Services]) -> None:
    clock = Clock(datetime.now(UTC))
    first = build_scheduler(two_processes[0], blocking=False, clock=clock, lease_seconds=30)
    second = build_scheduler(two_processes[1], blocking=False, clock=clock, lease_seconds=30)
    try:
        assert first.step() is True
        assert second.step() is False
        first.shutdown(wait=False)
        assert second.step() is True
    finally:
        first.shutdown(wait=False)
        second.shutdown(wait=False)


def test_a_job_runs_only_in_the_leading_scheduler(
    two_processes: tuple[Services, Services],
) -> None:
    services = two_processes[0]
    engine = services.engine
    now = datetime.now(UTC)
    learner = add_learner(engine, "telegram:9", profile={"timezone": "UTC"}, due=now)
    profile = {"onboarded": True, "timezone": "UTC", "practice_time": now.strftime("%H:%M")}
    with engine.begin() as connection:
        connection.execute(update(learners).values(profile=profile))
    add_words(engine, learner, 1)
    clock = Clock(now)
    first = build_scheduler(services, blocking=False, clock=clock, lease_seconds=30)
    second = build_scheduler(two_processes[1], blocking=False, clock=clock, lease_seconds=30)
    try:
        first.step()
        second.step()
        second.run("reminders")
        assert queued_texts(engine, "telegram:9") == []
        first.run("reminders")
        assert queued_texts(engine, "telegram:9") == [
            'You have 1 word to review. Reply "review" to start.'
        ]
    finally:
        first.shutdown(wait=False)
        second.shutdown(wait=False)
