"""The durable inbox: one row per provider message, written before the webhook answers.

A unique key on (channel, provider message id) makes a redelivered webhook a
no-op. Rows move pending -> done, or -> failed with a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Integer, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tutor.messages import Inbound
from tutor.models import dead_letters, inbox, utcnow


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    inbound: Inbound
    attempts: int
    correlation_id: str
    received_at: datetime


_INSERT = insert(inbox)


def accept(engine: Engine, inbound: Inbound, correlation_id: str, *, keep_raw: bool = True) -> bool:
    """Store ``inbound`` once; False when this provider message was already stored."""
    values = {
        "channel": inbound.channel.value,
        "provider_message_id": inbound.provider_message_id,
        "learner_key": inbound.learner_key,
        "status": "pending",
        "attempts": 0,
        "message": inbound.to_dict(),
        "raw": inbound.raw if keep_raw and inbound.raw else None,
        "correlation_id": correlation_id,
        "received_at": utcnow(),
    }
    try:
        with engine.begin() as connection:
            connection.execute(_INSERT, values)
    except IntegrityError:
        return False
    return True


def pending(engine: Engine, learner_key: str, limit: int = 20) -> list[InboxRow]:
    """The learner's oldest unprocessed messages, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(_PENDING, {"learner_key": learner_key, "limit": limit})
        return [
            InboxRow(
                id=row.id,
                inbound=Inbound.from_dict(row.message, raw=row.raw),
                attempts=row.attempts,
                correlation_id=row.correlation_id,
                received_at=row.received_at,
            )
            for row in rows
        ]


_PENDING = (
    select(
        inbox.c.id,
        inbox.c.message,
        inbox.c.raw,
        inbox.c.attempts,
        inbox.c.correlation_id,
        inbox.c.received_at,
    )
    .where(inbox.c.learner_key == bindparam("learner_key"), inbox.c.status == "pending")
    .order_by(inbox.c.id)
    .limit(bindparam("limit", type_=Integer, literal_execute=True))
)


def has_pending(engine: Engine, learner_key: str) -> bool:
    query = (
        select(inbox.c.id)
        .where(inbox.c.learner_key == learner_key, inbox.c.status == "pending")
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


def mark_done(connection: Connection, row_id: int) -> bool:
    """Inside the turn's transaction: False if another worker finished it first."""
    result = connection.execute(
        update(inbox)
        .where(inbox.c.id == row_id, inbox.c.status == "pending")
        .values(status="done", processed_at=utcnow())
    )
    return result.rowcount == 1


def record_failure(engine: Engine, row: InboxRow, error: str, *, give_up: bool) -> None:
    """Count a failed attempt; after the last one the row becomes a dead letter."""
    with engine.begin() as connection:
        values: dict[str, Any] = {"attempts": row.attempts + 1, "error": error[:2000]}
        if give_up:
            values.update(status="failed", processed_at=utcnow())
        connection.execute(update(inbox).where(inbox.c.id == row.id).values(**values))
        if give_up:
            add_dead_letter(
                connection,
                "inbox",
                row.id,
                row.inbound.channel.value,
                row.inbound.learner_key,
                error,
                row.correlation_id,
            )


def add_dead_letter(
    connection: Connection,
    source: str,
    ref_id: int,
    channel: str,
    learner_key: str,
    error: str,
    correlation_id: str,
) -> None:
    connection.execute(
        insert(dead_letters).values(
            source=source,
            ref_id=ref_id,
            channel=channel,
            learner_key=learner_key,
            error=error[:2000],
            correlation_id=correlation_id,
            created_at=utcnow(),
        )
    )


def stale_learners(engine: Engine, older_than: timedelta, limit: int = 200) -> list[str]:
    """Learners with messages still pending after ``older_than``: the sweeper's work list."""
    cutoff = utcnow() - older_than
    query = (
        select(inbox.c.learner_key)
        .where(inbox.c.status == "pending", inbox.c.received_at <= cutoff)
        .group_by(inbox.c.learner_key)
        .order_by(func.min(inbox.c.id))
        .limit(limit)
    )
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    """Rows per status: the queue depth is ``counts()["pending"]``."""
    query = select(inbox.c.status, func.count()).group_by(inbox.c.status)
    with engine.connect() as connection:
        found = {status: int(n) for status, n in connection.execute(query)}
    return {status: found.get(status, 0) for status in ("pending", "done", "failed")}


def failed(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The newest dead letters, for ``tutor inbox failed``."""
    query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
