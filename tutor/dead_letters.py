"""Dead letters: messages the worker gave up on, and replies that could not be sent.

A dead letter points at its row: an inbox message that failed on every attempt
(:func:`tutor.inbox.record_failure`) or an outbox reply the channel refused for good
(:class:`tutor.outbox.Sender`). Retrying puts that row back as it was when it arrived,
``pending`` with no attempts, and removes the dead letter; the caller then wakes the
learner's queue, so the worker processes the message again (inbox) or the sender tries
the reply again (outbox). Discarding removes the dead letter only: the row stays
``failed`` or ``dead``, as the record of what happened. Both run in the caller's
transaction, so the admin page audits them in the same commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, delete, func, select, update

from memory.erase import ERASED
from tutor.models import dead_letters, inbox, learners, outbox, utcnow


class DeadLetterError(Exception):
    """The dead letter is gone, or its message can no longer be sent."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    source: str  # inbox | outbox
    ref_id: int
    channel: str
    learner_id: int | None  # None once the learner is erased
    error: str
    created_at: datetime


_LISTED = select(dead_letters, learners.c.id.label("learner_id")).select_from(
    dead_letters.outerjoin(learners, learners.c.key == dead_letters.c.learner_key)
)


def newest(engine: Engine, limit: int = 100) -> list[DeadLetter]:
    """The newest dead letters first, naming learners by id (never by chat key)."""
    query = _LISTED.order_by(dead_letters.c.created_at.desc(), dead_letters.c.id.desc()).limit(
        limit
    )
    return _read(engine, query)


def find(engine: Engine, dead_letter_id: int) -> DeadLetter | None:
    found = _read(engine, _LISTED.where(dead_letters.c.id == dead_letter_id))
    return found[0] if found else None


def _read(engine: Engine, query: Select[Any]) -> list[DeadLetter]:
    with engine.connect() as connection:
        return [
            DeadLetter(
                id=int(row.id),
                source=row.source,
                ref_id=int(row.ref_id),
                channel=row.channel,
                learner_id=int(row.learner_id) if row.learner_id is not None else None,
                error=row.error,
                created_at=row.created_at,
            )
            for row in connection.execute(query)
        ]


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(dead_letters)).scalar_one())


def _take(connection: Connection, dead_letter_id: int) -> tuple[str, int, str]:
    """``(source, ref_id, learner_key)`` of the dead letter, which is deleted."""
    row = connection.execute(
        select(dead_letters.c.source, dead_letters.c.ref_id, dead_letters.c.learner_key).where(
            dead_letters.c.id == dead_letter_id
        )
    ).first()
    if row is None:
        raise DeadLetterError("that dead letter is no longer there")
    connection.execute(delete(dead_letters).where(dead_letters.c.id == dead_letter_id))
    return str(row.source), int(row.ref_id), str(row.learner_key)


def retry(connection: Connection, dead_letter_id: int) -> str:
    """Put the message or reply back to be processed or sent; the learner key to wake."""
    source, ref_id, learner_key = _take(connection, dead_letter_id)
    if learner_key == ERASED:
        raise DeadLetterError("the learner was erased: there is nobody to send it to")
    if source == "inbox":
        done = connection.execute(
            update(inbox)
            .where(inbox.c.id == ref_id, inbox.c.status == "failed")
            .values(status="pending", attempts=0, processed_at=None, error=None)
        )
    else:
        done = connection.execute(
            update(outbox)
            .where(outbox.c.id == ref_id, outbox.c.status == "dead")
            .values(status="pending", attempts=0, next_attempt_at=utcnow(), error=None)
        )
    if done.rowcount != 1:
        raise DeadLetterError(f"the {source} row is gone or no longer failed")
    return learner_key


def discard(connection: Connection, dead_letter_id: int) -> str:
    """Forget the dead letter (its row stays failed); its source, for the audit."""
    source, _, _ = _take(connection, dead_letter_id)
    return source
