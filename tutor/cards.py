"""Spaced-repetition cards in SQL, scheduled by FSRS.

One ``cards`` row per learner and item (a curriculum word, or a recurring
mistake), holding the fsrs ``Card`` as a JSON document next to the columns the
due-card query needs (``due``, ``state``). Every review is one ``card_reviews``
row keyed by the request id of the message that answered it, so a redelivered
message is never counted twice. All datetimes are timezone-aware UTC, as fsrs
requires.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from fsrs import Card, Rating, Scheduler, State
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tutor.models import card_reviews, cards, utcnow
from tutor.text import local_zone

SCHEDULER = Scheduler(desired_retention=0.9)


@dataclass(frozen=True, slots=True)
class StoredCard:
    """A learner's card: its row id, item, and the fsrs card."""

    id: int
    learner_id: int
    kind: str
    item_key: str
    card: Card
    retired: bool = False
    reps: int = 0

    @property
    def due(self) -> datetime:
        return self.card.due


def _stored(row: Any) -> StoredCard:
    card = Card.from_dict(cast(Any, dict(row.card)))
    return StoredCard(
        id=int(row.id),
        learner_id=int(row.learner_id),
        kind=str(row.kind),
        item_key=str(row.item_key),
        card=card,
        retired=row.retired_at is not None,
        reps=int(row.reps),
    )


def _columns(card: Card) -> dict[str, Any]:
    return {
        "due": card.due,
        "state": int(card.state),
        "last_review": card.last_review,
        "card": card.to_dict(),
    }


def add(
    engine: Engine,
    learner_id: int,
    item_key: str,
    *,
    kind: str = "word",
    now: datetime | None = None,
    due: datetime | None = None,
) -> StoredCard:
    """The learner's card for ``item_key``, created (due ``due``, else now) if it is new."""
    now = now or utcnow()
    existing = get(engine, learner_id, item_key)
    if existing is not None:
        return existing
    card = Card(due=due or now)
    row = {
        "learner_id": learner_id,
        "kind": kind,
        "item_key": item_key,
        "created_at": now,
        "reps": 0,
        "lapses": 0,
        **_columns(card),
    }
    try:
        with engine.begin() as connection:
            connection.execute(insert(cards), row)
    except IntegrityError:  # added by a concurrent turn: that one stands
        pass
    found = get(engine, learner_id, item_key)
    assert found is not None
    return found


def get(engine: Engine, learner_id: int, item_key: str) -> StoredCard | None:
    query = select(cards).where(cards.c.learner_id == learner_id, cards.c.item_key == item_key)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return _stored(row) if row is not None else None


def by_id(engine: Engine, card_id: int) -> StoredCard | None:
    with engine.connect() as connection:
        row = connection.execute(select(cards).where(cards.c.id == card_id)).first()
    return _stored(row) if row is not None else None


def due(
    engine: Engine,
    learner_id: int,
    *,
    now: datetime | None = None,
    limit: int = 20,
    kinds: tuple[str, ...] = (),
) -> list[StoredCard]:
    """The learner's cards due by ``now``, most overdue first (retired cards never); only
    cards of ``kinds`` when given."""
    now = now or utcnow()
    where = [cards.c.learner_id == learner_id, cards.c.due <= now, cards.c.retired_at.is_(None)]
    if kinds:
        where.append(cards.c.kind.in_(kinds))
    query = select(cards).where(*where).order_by(cards.c.due, cards.c.id).limit(limit)
    with engine.connect() as connection:
        return [_stored(row) for row in connection.execute(query)]


def next_due(engine: Engine, learner_id: int) -> datetime | None:
    """When the learner's next card falls due (None without cards)."""
    query = select(func.min(cards.c.due)).where(
        cards.c.learner_id == learner_id, cards.c.retired_at.is_(None)
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def added_since(engine: Engine, learner_id: int, since: datetime, *, kind: str = "word") -> int:
    """How many cards of ``kind`` the learner got since ``since`` (new words today)."""
    query = select(func.count()).where(
        cards.c.learner_id == learner_id, cards.c.kind == kind, cards.c.created_at >= since
    )
    with engine.connect() as connection:
        return int(connection.execute(query).scalar() or 0)


def item_keys(engine: Engine, learner_id: int) -> set[str]:
    """Every item the learner has a card for."""
    query = select(cards.c.item_key).where(cards.c.learner_id == learner_id)
    with engine.connect() as connection:
        return {str(key) for key in connection.execute(query).scalars()}


def rating_for(
    correct: bool, verdict: str, response_ms: int | None, *, recognition: bool
) -> Rating:
    """The FSRS rating an answer earns.

    Wrong is Again. A right answer with a slip (accent, typo, missing article),
    or one that took over 30 seconds, is Hard. A right answer is Good, and Easy
    when it came within 6 seconds; picking from options is never Easy.
    """
    if not correct:
        return Rating.Again
    if verdict != "exact" or (response_ms is not None and response_ms > 30_000):
        return Rating.Hard
    if not recognition and response_ms is not None and response_ms <= 6_000:
        return Rating.Easy
    return Rating.Good


def review(
    engine: Engine,
    stored: StoredCard,
    rating: Rating,
    *,
    exercise: str,
    verdict: str,
    request_id: str,
    response_ms: int | None = None,
    now: datetime | None = None,
) -> StoredCard | None:
    """Schedule the card after an answer and log it; None if ``request_id`` was already
    counted (a redelivered message)."""
    now = now or utcnow()
    card, log = SCHEDULER.review_card(stored.card, rating, review_datetime=now)
    lapsed = rating == Rating.Again and stored.card.state == State.Review
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(card_reviews),
                {
                    "card_id": stored.id,
                    "learner_id": stored.learner_id,
                    "reviewed_at": now,
                    "exercise": exercise[:16],
                    "verdict": verdict[:16],
                    "rating": int(rating),
                    "response_ms": response_ms,
                    "request_id": request_id[:64],
                    "log": log.to_dict(),
                },
            )
            connection.execute(
                update(cards)
                .where(cards.c.id == stored.id)
                .values(
                    reps=cards.c.reps + 1,
                    lapses=cards.c.lapses + (1 if lapsed else 0),
                    **_columns(card),
                )
            )
    except IntegrityError:
        return None
    return replace(stored, card=card, reps=stored.reps + 1)


def retire(engine: Engine, card_id: int, *, now: datetime | None = None) -> None:
    """Never show the card again (a disputed mistake, a word the learner removed)."""
    with engine.begin() as connection:
        connection.execute(
            update(cards).where(cards.c.id == card_id).values(retired_at=now or utcnow())
        )


def counts_by_state(
    engine: Engine, learner_id: int, *, kinds: tuple[str, ...] = ()
) -> dict[str, int]:
    """Cards per FSRS state ("learning", "review", "relearning"), retired ones left out;
    only cards of ``kinds`` when given."""
    where = [cards.c.learner_id == learner_id, cards.c.retired_at.is_(None)]
    if kinds:
        where.append(cards.c.kind.in_(kinds))
    query = select(cards.c.state, func.count()).where(and_(*where)).group_by(cards.c.state)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {State(int(state)).name.lower(): int(count) for state, count in rows}


def start_of_day(now: datetime, zone: str | None) -> datetime:
    """Midnight of ``now``'s day in the learner's time zone, as UTC."""
    local = now.astimezone(local_zone(zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)
