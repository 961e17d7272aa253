"""Everything stored about one learner, as one JSON document they can download.

The export is built from the SQL store when it is sent (:mod:`tutor.outbox`) and
never stored itself. It holds the profile and state, sessions (documents and
summaries), turns, error events, cards and reviews, pronunciation attempts
(transcripts and scores: audio is never kept), memory notes (facts and text, not
their vectors), memory runs, the model-call ledger rows, and the inbox, outbox and
dead-letter rows of theirs.

``BY_LEARNER_ID`` and ``BY_LEARNER_KEY`` are the one map of where a learner's rows
live: :mod:`memory.erase` removes exactly what this module exports.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, select

from tutor.messages import Attachment
from tutor.models import (
    assignments,
    audit_log,
    card_reviews,
    cards,
    cohort_members,
    cohorts,
    conversations,
    curricula,
    dead_letters,
    entitlements,
    error_events,
    inbox,
    learner_leases,
    learners,
    llm_calls,
    memory_notes,
    memory_runs,
    outbox,
    payment_events,
    payment_links,
    payment_reconciliations,
    pronunciation_attempts,
    reminders,
    turns,
    usage_events,
    users,
    utcnow,
)

#: Tables whose rows belong to a learner through ``learner_id``, children before parents.
BY_LEARNER_ID: tuple[Table, ...] = (
    card_reviews,
    cards,
    pronunciation_attempts,
    memory_notes,
    memory_runs,
    error_events,
    turns,
    conversations,
    usage_events,
    entitlements,
    cohort_members,
    reminders,
)
#: Tables whose rows name a learner by ``learner_id`` but are kept, anonymised, when
#: they are erased: payments are the business's records (revenue, refunds).
KEPT_ANONYMISED: tuple[Table, ...] = (payment_events,)
#: Tables whose rows name a learner by ``learner_key``.
BY_LEARNER_KEY: tuple[Table, ...] = (outbox, dead_letters, llm_calls, inbox, learner_leases)
#: Tables that hold nothing about a learner (payment links, reconciliation runs, and the
#: staff's accounts and audit log: staff data, not learner data).
NOT_PERSONAL: tuple[Table, ...] = (
    payment_links,
    payment_reconciliations,
    users,
    audit_log,
    curricula,
    cohorts,
    assignments,
)
#: Columns never exported: vectors mean nothing to a person and are rebuilt from the text.
LEFT_OUT = frozenset({("memory_notes", "embedding")})
#: What the export's sections are called (a table's name unless said here).
SECTION = {"conversations": "sessions", "learner_leases": "leases"}

MIME_TYPE = "application/json"


def collect(connection: Connection, learner_key: str) -> dict[str, Any] | None:
    """The learner's data as plain JSON-ready values; None when there is no such learner."""
    learner = connection.execute(select(learners).where(learners.c.key == learner_key)).first()
    if learner is None:
        return None
    document: dict[str, Any] = {
        "exported_at": utcnow().isoformat(),
        "learner": _plain(learners, learner._mapping),
    }
    for table in (*BY_LEARNER_ID, *KEPT_ANONYMISED):
        query = select(table).where(table.c.learner_id == learner.id).order_by(table.c.id)
        document[SECTION.get(table.name, table.name)] = _rows(connection, table, query)
    for table in BY_LEARNER_KEY:
        query = select(table).where(table.c.learner_key == learner_key)
        if "id" in table.c:
            query = query.order_by(table.c.id)
        document[SECTION.get(table.name, table.name)] = _rows(connection, table, query)
    return document


def render(document: dict[str, Any]) -> bytes:
    """The export as indented UTF-8 JSON."""
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def attachment(engine: Engine, learner_key: str) -> Attachment | None:
    """The export as a file to send; None when the learner is not (or no longer) stored."""
    with engine.connect() as connection:
        document = collect(connection, learner_key)
    if document is None:
        return None
    return Attachment(f"tutor-data-{utcnow():%Y-%m-%d}.json", MIME_TYPE, render(document))


def _rows(connection: Connection, table: Table, query: Any) -> list[dict[str, Any]]:
    return [_plain(table, row._mapping) for row in connection.execute(query)]


def _plain(table: Table, row: Any) -> dict[str, Any]:
    return {
        name: _json_value(value)
        for name, value in row.items()
        if (table.name, name) not in LEFT_OUT
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | memoryview):
        return None  # no column exported holds bytes; never dump raw binary
    return value
