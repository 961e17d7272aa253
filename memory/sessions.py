"""Session summaries: "learned X, struggled with Y", built from what the learner did.

A conversation session (``conversations``: one JSON document of turns, closed after
``TUTOR_SESSION_IDLE_MINUTES`` idle) gets a ``summary`` from the records its turns
left: the error events the grammar checks found (by rule, with the latest example),
the reviews answered and how many were right, the pronunciation attempts and their
mean accuracy, and the activities used. Offline this is the whole summary; with a
model configured, the compression of a long open session also gets a short text
written by the fast tier.

While a session is open and longer than ``COMPRESS_AFTER`` turns, its earlier turns
(all but the last ``KEEP_TURNS``) are compressed the same way into ``summary`` with
``"open": true`` and ``upto``, so prompts carry a short note instead of every turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from tutor.models import (
    card_reviews,
    cards,
    conversations,
    error_events,
    pronunciation_attempts,
    utcnow,
)

COMPRESS_AFTER = 20
KEEP_TURNS = 10
_EXAMPLES = 2


def facts(
    connection: Connection,
    learner_id: int,
    start: datetime,
    end: datetime,
    turns: list[Mapping[str, Any]],
) -> dict[str, Any]:
    """What happened between ``start`` and ``end`` (inclusive), from the stored records."""
    errors = connection.execute(
        select(
            error_events.c.rule,
            error_events.c.code,
            error_events.c.wrong,
            error_events.c.correction,
        )
        .where(
            error_events.c.learner_id == learner_id,
            error_events.c.created_at >= start,
            error_events.c.created_at <= end,
        )
        .order_by(error_events.c.id.desc())
    ).all()
    by_rule: dict[str, dict[str, Any]] = {}
    for row in errors:
        entry = by_rule.setdefault(
            str(row.rule),
            {"rule": str(row.rule), "code": str(row.code), "count": 0, "examples": []},
        )
        entry["count"] += 1
        if len(entry["examples"]) < _EXAMPLES and row.wrong:
            entry["examples"].append({"wrong": str(row.wrong), "correction": str(row.correction)})
    reviews = connection.execute(
        select(card_reviews.c.rating, cards.c.kind, cards.c.item_key)
        .join(cards, cards.c.id == card_reviews.c.card_id)
        .where(
            card_reviews.c.learner_id == learner_id,
            card_reviews.c.reviewed_at >= start,
            card_reviews.c.reviewed_at <= end,
        )
    ).all()
    spoken = connection.execute(
        select(func.count(), func.avg(pronunciation_attempts.c.accuracy)).where(
            pronunciation_attempts.c.learner_id == learner_id,
            pronunciation_attempts.c.created_at >= start,
            pronunciation_attempts.c.created_at <= end,
        )
    ).one()
    agents = Counter(str(turn.get("agent", "")) for turn in turns if turn.get("agent"))
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "turns": len(turns),
        "agents": dict(agents.most_common()),
        "errors": sorted(by_rule.values(), key=lambda e: (-e["count"], e["rule"])),
        "reviews": {
            "total": len(reviews),
            "right": sum(1 for r in reviews if r.rating >= 3),
            "words": sorted(
                {str(r.item_key).split(":", 1)[-1] for r in reviews if r.kind == "word"}
            )[:10],
        },
        "pronunciation": {
            "attempts": int(spoken[0] or 0),
            "accuracy": round(float(spoken[1])) if spoken[1] is not None else None,
        },
    }


def summarise_closed(connection: Connection, session: Any) -> dict[str, Any]:
    """The final summary of a session row (id, learner_id, started_at, last_turn_at,
    document)."""
    turns = list(dict(session.document).get("turns", []))
    summary = facts(connection, session.learner_id, session.started_at, session.last_turn_at, turns)
    return {"open": False, **summary}


def close(connection: Connection, session: Any) -> None:
    """Close a session and store its summary, in the caller's transaction."""
    connection.execute(
        update(conversations)
        .where(conversations.c.id == session.id)
        .values(closed_at=session.last_turn_at, summary=summarise_closed(connection, session))
    )


def close_idle(engine: Engine, idle: timedelta, now: datetime | None = None) -> int:
    """Close (and summarise) sessions idle for longer than ``idle``; returns how many."""
    cutoff = (now or utcnow()) - idle
    query = select(
        conversations.c.id,
        conversations.c.learner_id,
        conversations.c.started_at,
        conversations.c.last_turn_at,
        conversations.c.document,
    ).where(conversations.c.closed_at.is_(None), conversations.c.last_turn_at < cutoff)
    closed = 0
    with engine.begin() as connection:
        for session in connection.execute(query).all():
            close(connection, session)
            closed += 1
    return closed


def due_for_compression(session_turns: int) -> bool:
    """Whether a session of this many turns has a new block of turns to compress."""
    return session_turns > COMPRESS_AFTER and (session_turns - COMPRESS_AFTER) % KEEP_TURNS == 1


def compress(
    engine: Engine,
    session_id: int,
    writer: Callable[[list[dict[str, Any]]], str | None] | None = None,
) -> bool:
    """Compress an open session's earlier turns once it is long enough; True if it did.

    ``writer`` (the fast model, when configured) may add a short text; offline the
    summary is the facts alone.
    """
    with engine.connect() as connection:
        session = connection.execute(
            select(
                conversations.c.id,
                conversations.c.learner_id,
                conversations.c.started_at,
                conversations.c.document,
                conversations.c.summary,
                conversations.c.closed_at,
            ).where(conversations.c.id == session_id)
        ).first()
        if session is None or session.closed_at is not None:
            return False
        turns = list(dict(session.document).get("turns", []))
        done = int((session.summary or {}).get("upto", 0))
        upto = len(turns) - KEEP_TURNS
        if len(turns) <= COMPRESS_AFTER or upto - done < KEEP_TURNS:
            return False
        earlier = turns[:upto]
        end = datetime.fromisoformat(str(earlier[-1]["at"]))
        summary: dict[str, Any] = {
            "open": True,
            "upto": upto,
            **facts(connection, session.learner_id, session.started_at, end, earlier),
        }
    if writer is not None:
        text = writer(earlier)
        if text:
            summary["text"] = text[:600]
    with engine.begin() as connection:
        connection.execute(
            update(conversations)
            .where(conversations.c.id == session_id, conversations.c.closed_at.is_(None))
            .values(summary=summary)
        )
    return True
