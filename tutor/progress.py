"""A learner's progress in numbers: activity, words by FSRS state, review accuracy, mistakes.

One :func:`report` reads what the other parts record (turns, cards and their
reviews, error events) for the progress agent, and later for the teacher and
admin pages. Days are the learner's local days (their time zone, UTC until
they give one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from tutor import cards
from tutor.models import card_reviews, error_events, pronunciation_attempts, turns
from tutor.models import cards as cards_table
from tutor.text import local_zone


@dataclass(frozen=True, slots=True)
class Trend:
    """A kind of mistake this week against the week before, per 10 turns."""

    code: str
    this_week: float
    last_week: float

    @property
    def direction(self) -> str:
        if self.this_week < self.last_week:
            return "improving"
        if self.this_week > self.last_week:
            return "worsening"
        return "steady"


@dataclass(frozen=True, slots=True)
class Report:
    days_active: int
    streak: int
    turns_this_week: int
    words: dict[str, int]  # learning | review | relearning
    mistake_cards: int
    reviews_30d: int
    review_accuracy: float | None  # share of reviews not rated Again, last 30 days
    clean_share: float | None  # share of this week's turns without a mistake found
    trends: list[Trend] = field(default_factory=list)
    #: The last 7 local days, oldest first: (day, messages, reviews).
    week: list[tuple[date, int, int]] = field(default_factory=list)
    #: Voice attempts this week and their mean accuracy, and last week's mean (None: none).
    spoken_this_week: int = 0
    spoken_accuracy: float | None = None
    spoken_accuracy_before: float | None = None
    #: The learner's weakest drilled sound this week and its mean score.
    weakest_sound: tuple[str, int] | None = None


def _streak(days: set[date], today: date) -> int:
    """Consecutive active days up to today (or up to yesterday, if today is still open)."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def report(engine: Engine, learner_id: int, *, zone: str | None, now: datetime) -> Report:
    tz = local_zone(zone)
    week_ago, two_weeks_ago, month_ago = (now - timedelta(days=d) for d in (7, 14, 30))
    with engine.connect() as connection:
        stamps = (
            connection.execute(select(turns.c.created_at).where(turns.c.learner_id == learner_id))
            .scalars()
            .all()
        )
        review_rows = connection.execute(
            select(card_reviews.c.rating, card_reviews.c.reviewed_at).where(
                card_reviews.c.learner_id == learner_id, card_reviews.c.reviewed_at >= month_ago
            )
        ).all()
        reviews = [row.rating for row in review_rows]
        mistake_cards = connection.execute(
            select(func.count()).where(
                cards_table.c.learner_id == learner_id,
                cards_table.c.kind == "error",
                cards_table.c.retired_at.is_(None),
            )
        ).scalar()
        events = connection.execute(
            select(error_events.c.code, error_events.c.created_at, error_events.c.inbox_id).where(
                error_events.c.learner_id == learner_id,
                error_events.c.created_at >= two_weeks_ago,
            )
        ).all()
    moments = list(stamps)
    days = {moment.astimezone(tz).date() for moment in moments}
    this_week = [m for m in moments if m >= week_ago]
    last_week = [m for m in moments if two_weeks_ago <= m < week_ago]
    codes_now: Counter[str] = Counter()
    codes_before: Counter[str] = Counter()
    flawed: set[int] = set()
    for code, created, inbox_id in events:
        if created >= week_ago:
            codes_now[code] += 1
            if inbox_id is not None:
                flawed.add(int(inbox_id))
        else:
            codes_before[code] += 1
    trends = [
        Trend(
            code,
            round(10 * codes_now[code] / max(len(this_week), 1), 1),
            round(10 * codes_before[code] / max(len(last_week), 1), 1),
        )
        for code in sorted(set(codes_now) | set(codes_before))
    ]
    trends.sort(key=lambda trend: -(trend.this_week + trend.last_week))
    words = cards.counts_by_state(engine, learner_id, kinds=("word", "used"))
    spoken = _spoken(engine, learner_id, week_ago, two_weeks_ago)
    passed = sum(1 for rating in reviews if int(rating) > 1)
    today = now.astimezone(tz).date()
    messages_by_day = Counter(moment.astimezone(tz).date() for moment in moments)
    reviews_by_day = Counter(row.reviewed_at.astimezone(tz).date() for row in review_rows)
    week = [
        (day, messages_by_day[day], reviews_by_day[day])
        for day in (today - timedelta(days=n) for n in range(6, -1, -1))
    ]
    return Report(
        days_active=len(days),
        streak=_streak(days, now.astimezone(tz).date()),
        turns_this_week=len(this_week),
        words=words,
        mistake_cards=int(mistake_cards or 0),
        reviews_30d=len(reviews),
        review_accuracy=passed / len(reviews) if reviews else None,
        clean_share=1 - len(flawed) / len(this_week) if this_week else None,
        trends=trends[:4],
        week=week,
        **spoken,
    )


def _spoken(
    engine: Engine, learner_id: int, week_ago: datetime, two_weeks_ago: datetime
) -> dict[str, Any]:
    """Pronunciation this week against last: attempts, mean accuracy, weakest sound."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                pronunciation_attempts.c.created_at,
                pronunciation_attempts.c.accuracy,
                pronunciation_attempts.c.sounds,
            ).where(
                pronunciation_attempts.c.learner_id == learner_id,
                pronunciation_attempts.c.created_at >= two_weeks_ago,
            )
        ).all()
    now_rows = [r for r in rows if r.created_at >= week_ago]
    before = [r.accuracy for r in rows if r.created_at < week_ago]
    sounds: dict[str, list[int]] = {}
    for row in now_rows:
        for sound, value in dict(row.sounds or {}).items():
            sounds.setdefault(str(sound), []).append(int(value))
    weakest = min(
        ((sound, round(sum(v) / len(v))) for sound, v in sounds.items()),
        key=lambda item: item[1],
        default=None,
    )
    return {
        "spoken_this_week": len(now_rows),
        "spoken_accuracy": sum(r.accuracy for r in now_rows) / len(now_rows) if now_rows else None,
        "spoken_accuracy_before": sum(before) / len(before) if before else None,
        "weakest_sound": weakest,
    }


# --- the level follows the learner ------------------------------------------------------

LEVELS = ("A1", "A2", "B1", "B2", "C1")
#: Evidence needed in the window before the level moves, and the window itself.
MIN_REVIEWS = 20
MIN_MESSAGES = 20
WINDOW = timedelta(days=14)
#: At most one change a week.
SETTLE = timedelta(days=7)


def adapt(
    engine: Engine, learner_id: int, profile: dict[str, object], *, now: datetime
) -> str | None:
    """The learner's new level when two weeks of answers say they have outgrown theirs or
    are struggling (None: stay).

    Up one level when at least 90% of 20+ reviews were remembered and at least 80% of
    20+ messages had no mistake; down one when under 50% of reviews were remembered or
    under 30% of messages were clean. One change a week at most.
    """
    level = str(profile.get("level") or "A1")
    if level not in LEVELS:
        return None
    changed = profile.get("level_changed_at")
    if isinstance(changed, str):
        try:
            if now - datetime.fromisoformat(changed) < SETTLE:
                return None
        except ValueError:
            pass
    recall, reviews, clean, messages = _evidence(engine, learner_id, now)
    enough_reviews = recall is not None and reviews >= MIN_REVIEWS
    enough_messages = clean is not None and messages >= MIN_MESSAGES
    rank = LEVELS.index(level)
    if (
        enough_reviews
        and enough_messages
        and recall is not None
        and clean is not None
        and recall >= 0.9
        and clean >= 0.8
        and rank + 1 < len(LEVELS)
    ):
        return LEVELS[rank + 1]
    struggling = (enough_reviews and recall is not None and recall < 0.5) or (
        enough_messages and clean is not None and clean < 0.3
    )
    if struggling and rank > 0:
        return LEVELS[rank - 1]
    return None


# --- skills ---------------------------------------------------------------------------------


def skills(
    engine: Engine, learner_id: int, level: str, *, now: datetime
) -> dict[str, tuple[str, str]]:
    """The estimated level per skill with what the evidence says: ``{"vocabulary": ("A1",
    "ready"), "writing": ("A1", "practising")}``; the verdict is one of ready (above the
    bar to move up), struggling, steady, or unknown (not enough practice in two weeks)."""
    recall, reviews, clean, messages = _evidence(engine, learner_id, now)
    found: dict[str, tuple[str, str]] = {}
    for skill, share, count, minimum, up, down in (
        ("vocabulary", recall, reviews, MIN_REVIEWS, 0.9, 0.5),
        ("writing", clean, messages, MIN_MESSAGES, 0.8, 0.3),
    ):
        if share is None or count < minimum:
            verdict = "unknown"
        elif share >= up:
            verdict = "ready"
        elif share < down:
            verdict = "struggling"
        else:
            verdict = "steady"
        found[skill] = (level, verdict)
    return found


def _evidence(
    engine: Engine, learner_id: int, now: datetime
) -> tuple[float | None, int, float | None, int]:
    """Two weeks of evidence: (share of reviews remembered, reviews, share of clean
    messages, messages)."""
    since = now - WINDOW
    with engine.connect() as connection:
        ratings = (
            connection.execute(
                select(card_reviews.c.rating).where(
                    card_reviews.c.learner_id == learner_id, card_reviews.c.reviewed_at >= since
                )
            )
            .scalars()
            .all()
        )
        messages = int(
            connection.execute(
                select(func.count()).where(
                    turns.c.learner_id == learner_id, turns.c.created_at >= since
                )
            ).scalar()
            or 0
        )
        flawed = int(
            connection.execute(
                select(func.count(func.distinct(error_events.c.inbox_id))).where(
                    error_events.c.learner_id == learner_id,
                    error_events.c.created_at >= since,
                    error_events.c.inbox_id.is_not(None),
                )
            ).scalar()
            or 0
        )
    recall = sum(1 for r in ratings if int(r) > 1) / len(ratings) if ratings else None
    clean = 1 - flawed / messages if messages else None
    return recall, len(ratings), clean, messages


# --- for the teacher and admin pages --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LearnerRow:
    learner_id: int
    level: str
    last_active: datetime | None
    cards_due: int
    mistakes_this_week: dict[str, int]


def cohort(engine: Engine, learner_ids: list[int], *, now: datetime) -> list[LearnerRow]:
    """Per learner of a class: level, last activity, cards due now and this week's mistakes
    by kind (the class heatmap sums the last column)."""
    if not learner_ids:
        return []
    week_ago = now - timedelta(days=7)
    from tutor.models import learners

    with engine.connect() as connection:
        profiles = dict(
            connection.execute(
                select(learners.c.id, learners.c.profile).where(learners.c.id.in_(learner_ids))
            ).all()
        )
        last = dict(
            connection.execute(
                select(turns.c.learner_id, func.max(turns.c.created_at))
                .where(turns.c.learner_id.in_(learner_ids))
                .group_by(turns.c.learner_id)
            ).all()
        )
        due: dict[int, int] = dict(
            connection.execute(
                select(cards_table.c.learner_id, func.count())
                .where(
                    cards_table.c.learner_id.in_(learner_ids),
                    cards_table.c.due <= now,
                    cards_table.c.retired_at.is_(None),
                )
                .group_by(cards_table.c.learner_id)
            ).all()
        )
        mistakes: dict[int, dict[str, int]] = {}
        for learner_id, code, count in connection.execute(
            select(error_events.c.learner_id, error_events.c.code, func.count())
            .where(
                error_events.c.learner_id.in_(learner_ids), error_events.c.created_at >= week_ago
            )
            .group_by(error_events.c.learner_id, error_events.c.code)
        ):
            mistakes.setdefault(int(learner_id), {})[str(code)] = int(count)
    rows = []
    for learner_id in learner_ids:
        profile = dict(profiles.get(learner_id) or {})
        stamp = last.get(learner_id)
        rows.append(
            LearnerRow(
                learner_id=learner_id,
                level=str(profile.get("level") or "A1"),
                last_active=stamp,
                cards_due=int(due.get(learner_id, 0)),
                mistakes_this_week=mistakes.get(learner_id, {}),
            )
        )
    return rows
