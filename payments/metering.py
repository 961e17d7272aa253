"""Metering: may this turn run a paid feature, and what does it use up?

A *lesson* is a sitting of practice: the first tutoring turn after
``lesson_minutes`` of quiet opens one, and each later turn keeps it open. Opening
a lesson uses, in this order: the subscription (unlimited), a free lesson of the
week (the learner's local Monday to Monday), a lesson from a pack. A *voice note*
in a free lesson uses one of the day's free voice notes; past those, a pack lesson
turns the lesson into a paid one, with unlimited voice notes.

Each use is a ``usage_events`` row under a unique (learner, feature, message), so
a message processed twice (a crashed worker, a redelivery) is metered once. When
nothing is left the answer names what ran out, for the paywall.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from sqlalchemy import Connection, Engine, func, insert, select, update

from payments import entitlements as records
from payments.entitlements import Entitlement
from payments.plans import Catalog
from tutor.models import entitlements, usage_events


class Feature(StrEnum):
    LESSON = "lesson"
    VOICE = "voice"


class PaidBy(StrEnum):
    SUBSCRIPTION = "subscription"
    FREE = "free"
    PACK = "pack"


@dataclass(frozen=True, slots=True)
class Admission:
    """``allowed`` or not; when not, ``exhausted`` names the feature that ran out."""

    allowed: bool
    paid_by: PaidBy | None = None
    exhausted: Feature | None = None
    limit: int = 0


@dataclass(frozen=True, slots=True)
class Allowance:
    """What is left now, for "subscription status"."""

    entitlement: Entitlement
    subscribed: bool
    lessons_left: int
    lessons_limit: int
    voice_left: int
    voice_limit: int


def week_start(now: datetime, zone: tzinfo) -> datetime:
    local = now.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday


def day_start(now: datetime, zone: tzinfo) -> datetime:
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


def _used(
    connection: Connection, learner_id: int, feature: Feature, since: datetime, paid_by: PaidBy
) -> int:
    return int(
        connection.execute(
            select(func.count())
            .select_from(usage_events)
            .where(
                usage_events.c.learner_id == learner_id,
                usage_events.c.feature == feature.value,
                usage_events.c.used_at >= since,
                usage_events.c.paid_by == paid_by.value,
            )
        ).scalar_one()
    )


def _metered(connection: Connection, learner_id: int, feature: Feature, source: str) -> str | None:
    """How this message's use was paid, if it was metered already."""
    return connection.execute(
        select(usage_events.c.paid_by).where(
            usage_events.c.learner_id == learner_id,
            usage_events.c.feature == feature.value,
            usage_events.c.source == source,
        )
    ).scalar()


def _current_lesson(connection: Connection, learner_id: int) -> PaidBy | None:
    paid_by = connection.execute(
        select(usage_events.c.paid_by)
        .where(
            usage_events.c.learner_id == learner_id,
            usage_events.c.feature == Feature.LESSON.value,
        )
        .order_by(usage_events.c.used_at.desc(), usage_events.c.id.desc())
        .limit(1)
    ).scalar()
    return PaidBy(paid_by) if paid_by else None


def _use(
    connection: Connection,
    learner_id: int,
    feature: Feature,
    source: str,
    paid_by: PaidBy,
    now: datetime,
) -> None:
    connection.execute(
        insert(usage_events).values(
            learner_id=learner_id,
            feature=feature.value,
            source=source[:64],
            paid_by=paid_by.value,
            used_at=now,
        )
    )


class Meter:
    """Decides and records paid use against the free tier, packs and subscriptions."""

    def __init__(
        self, engine: Engine, catalog: Catalog, *, lesson_minutes: int = 30, grace_hours: float = 24
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.lesson = timedelta(minutes=lesson_minutes)
        self.grace = timedelta(hours=grace_hours)

    def admit(
        self, learner_id: int, source: str, *, voice: bool, now: datetime, zone: tzinfo
    ) -> Admission:
        """Meter one tutoring turn (``voice``: it is a voice note); one transaction."""
        with self.engine.begin() as connection:
            record = records.ensure(connection, learner_id, now)
            lesson = self._lesson(connection, record, source, now, zone)
            if not lesson.allowed:
                return lesson
            if voice and lesson.paid_by is PaidBy.FREE:
                lesson = self._voice(connection, record, source, now, zone)
                if not lesson.allowed:
                    return lesson
            connection.execute(
                update(entitlements)
                .where(entitlements.c.learner_id == learner_id)
                .values(lesson_open_until=now + self.lesson)
            )
            return lesson

    def _lesson(
        self, connection: Connection, record: Entitlement, source: str, now: datetime, zone: tzinfo
    ) -> Admission:
        learner_id = record.learner_id
        done = _metered(connection, learner_id, Feature.LESSON, source)
        if done is not None:
            return Admission(True, PaidBy(done))
        if record.subscribed(now, self.grace):
            open_lesson = record.lesson_open_until is not None and now < record.lesson_open_until
            if (
                not open_lesson
                or _current_lesson(connection, learner_id) is not PaidBy.SUBSCRIPTION
            ):
                _use(connection, learner_id, Feature.LESSON, source, PaidBy.SUBSCRIPTION, now)
            return Admission(True, PaidBy.SUBSCRIPTION)
        if record.lesson_open_until is not None and now < record.lesson_open_until:
            current = _current_lesson(connection, learner_id)
            if current is not None and current is not PaidBy.SUBSCRIPTION:
                return Admission(True, current)
        limit = self.catalog.free.lessons_per_week
        if (
            _used(connection, learner_id, Feature.LESSON, week_start(now, zone), PaidBy.FREE)
            < limit
        ):
            _use(connection, learner_id, Feature.LESSON, source, PaidBy.FREE, now)
            return Admission(True, PaidBy.FREE)
        if self._take_pack_lesson(connection, record, source, now):
            return Admission(True, PaidBy.PACK)
        return Admission(False, exhausted=Feature.LESSON, limit=limit)

    def _voice(
        self, connection: Connection, record: Entitlement, source: str, now: datetime, zone: tzinfo
    ) -> Admission:
        learner_id = record.learner_id
        if _metered(connection, learner_id, Feature.VOICE, source) is not None:
            return Admission(True, PaidBy.FREE)
        limit = self.catalog.free.voice_notes_per_day
        if _used(connection, learner_id, Feature.VOICE, day_start(now, zone), PaidBy.FREE) < limit:
            _use(connection, learner_id, Feature.VOICE, source, PaidBy.FREE, now)
            return Admission(True, PaidBy.FREE)
        # Out of free voice notes: a pack lesson makes this lesson a paid one.
        if self._take_pack_lesson(connection, record, f"{source}:voice", now):
            return Admission(True, PaidBy.PACK)
        return Admission(False, exhausted=Feature.VOICE, limit=limit)

    def _take_pack_lesson(
        self, connection: Connection, record: Entitlement, source: str, now: datetime
    ) -> bool:
        if record.lessons_remaining < 1:
            return False
        done = connection.execute(
            update(entitlements)
            .where(
                entitlements.c.learner_id == record.learner_id,
                entitlements.c.lessons_remaining > 0,
            )
            .values(lessons_remaining=entitlements.c.lessons_remaining - 1, updated_at=now)
        )
        if done.rowcount != 1:
            return False
        _use(connection, record.learner_id, Feature.LESSON, source, PaidBy.PACK, now)
        return True

    def allowance(self, learner_id: int, now: datetime, zone: tzinfo) -> Allowance:
        """What the learner has left now (creates their record on the free plan if needed)."""
        with self.engine.begin() as connection:
            record = records.ensure(connection, learner_id, now)
            free = self.catalog.free
            lessons = _used(
                connection, learner_id, Feature.LESSON, week_start(now, zone), PaidBy.FREE
            )
            voice = _used(connection, learner_id, Feature.VOICE, day_start(now, zone), PaidBy.FREE)
        return Allowance(
            entitlement=record,
            subscribed=record.subscribed(now, self.grace),
            lessons_left=max(0, free.lessons_per_week - lessons),
            lessons_limit=free.lessons_per_week,
            voice_left=max(0, free.voice_notes_per_day - voice),
            voice_limit=free.voice_notes_per_day,
        )
