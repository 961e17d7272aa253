"""The learner's mistakes as typed rows: written in the turn's transaction, read for hints.

Each :class:`agents.rules.ErrorEvent` an agent reports becomes one
``error_events`` row (category, rule, span, correction, source and the
sentence around it). Agents read them back to notice a repeated mistake;
the memory, vocabulary and progress work group them into review items.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from agents.rules import ErrorEvent
from tutor.models import error_events, utcnow

_SENTENCE_CHARS = 500


def _around(text: str, event: ErrorEvent) -> str:
    """The learner's text around the mistake, at most 500 characters."""
    if len(text) <= _SENTENCE_CHARS:
        return text
    start = max(0, min(event.start - 200, len(text) - _SENTENCE_CHARS))
    return text[start : start + _SENTENCE_CHARS]


def record(
    connection: Connection,
    *,
    learner_id: int,
    inbox_id: int | None,
    text: str,
    events: Iterable[ErrorEvent],
    now: datetime | None = None,
) -> int:
    """Insert one row per event inside the caller's transaction; returns how many."""
    rows: list[dict[str, Any]] = [
        {
            "learner_id": learner_id,
            "inbox_id": inbox_id,
            "created_at": now or utcnow(),
            "code": event.code,
            "category": event.category[:24],
            "rule": event.rule[:64],
            "source": event.source[:16],
            "wrong": event.wrong[:200],
            "correction": event.correction[:200],
            "span_start": event.start,
            "span_end": event.end,
            "sentence": _around(text, event),
        }
        for event in events
    ]
    if rows:
        connection.execute(insert(error_events), rows)
    return len(rows)


def counts_by_rule(engine: Engine, learner_id: int) -> dict[str, int]:
    """How often the learner made each mistake (by rule), all time."""
    query = (
        select(error_events.c.rule, func.count())
        .where(error_events.c.learner_id == learner_id)
        .group_by(error_events.c.rule)
    )
    with engine.connect() as connection:
        return {rule: int(count) for rule, count in connection.execute(query)}


def counts_by_code(engine: Engine, learner_id: int) -> dict[str, int]:
    """How often the learner made each kind of mistake (taxonomy code), all time."""
    query = (
        select(error_events.c.code, func.count())
        .where(error_events.c.learner_id == learner_id)
        .group_by(error_events.c.code)
    )
    with engine.connect() as connection:
        return {code: int(count) for code, count in connection.execute(query)}


def recent(engine: Engine, learner_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The learner's latest mistakes, newest first."""
    query = (
        select(error_events)
        .where(error_events.c.learner_id == learner_id)
        .order_by(error_events.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
