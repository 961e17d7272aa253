"""Erasing a learner everywhere: SQL rows, Redis keys, cached model answers and jobs.

One function, :func:`erase`, used by the "delete my data" conversation, the ``tutor
learner delete`` command and (later) the admin page. In one transaction it deletes every
row that belongs to the learner (the tables of :data:`memory.export.BY_LEARNER_ID`, the
learner row, their outbox rows, dead letters and lease), anonymises their model-call
ledger rows and payment events (the costs and revenue stay in the reports, nothing
points to them), and scrubs their inbox rows: a row keeps only its channel and provider
message id, so a redelivered webhook of a message they sent is still recognised as a
duplicate and cannot bring them back. Then it removes what Redis holds about them: keys
that name them (hot turns and state, their monthly model budget), model answers cached
under their turns' request ids, and semantic cache entries whose question is something
they wrote. Per-learner scheduled jobs, when there are any, are removed here too
(``jobs``), so this stays the one place that knows everything a learner leaves behind.

Redis fails open, as everywhere: on an error the SQL erasure stands, the report says
so, and what is left expires with its TTL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, delete, select, update

from memory.export import BY_LEARNER_ID, KEPT_ANONYMISED
from tutor.logs import learner_hash
from tutor.models import (
    dead_letters,
    inbox,
    learner_leases,
    learners,
    llm_calls,
    outbox,
    turns,
    utcnow,
)

logger = logging.getLogger(__name__)

#: What replaces a learner key or chat id in the rows kept after an erasure.
ERASED = "erased"
#: Model answers kept under a turn's request id (``tutor.llm.router``).
MODEL_ANSWERS = "tutor:llm:request:inbox-"
#: Semantic cache buckets (``tutor.llm.cache.SemanticCache``): ``...:semantic:<dims>:...``.
SEMANTIC_BUCKETS = "tutor:llm:cache:semantic:"
_STAMP_BYTES = 8  # a semantic entry: stored-at (double) | float32 vector | answer JSON


class LearnerJobs(Protocol):
    """Whatever schedules work for one learner (reminders, nudges)."""

    def remove_learner(self, learner_key: str) -> int:
        """Cancel every job for ``learner_key``; return how many."""
        ...


class HotTier(Protocol):
    def forget(self, learner_key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did: rows deleted and rows kept but emptied, per table."""

    found: bool
    removed: dict[str, int] = field(default_factory=dict)
    scrubbed: dict[str, int] = field(default_factory=dict)
    redis_keys: int = 0
    redis_failed: bool = False
    jobs: int = 0

    def lines(self) -> list[str]:
        """The report in short lines, for the command line and logs."""
        lines = [f"{table}: {count} deleted" for table, count in self.removed.items() if count]
        lines += [f"{table}: {count} scrubbed" for table, count in self.scrubbed.items() if count]
        lines.append(f"redis: {self.redis_keys} key(s) or entries removed")
        if self.redis_failed:
            lines.append("redis: unavailable; what is left there expires with its TTL")
        if self.jobs:
            lines.append(f"scheduled jobs: {self.jobs} removed")
        return lines


def erase(
    engine: Engine,
    redis: Any,
    learner_key: str,
    *,
    confirming_inbox_id: int | None = None,
    also: Callable[[Connection], None] | None = None,
    hot: HotTier | None = None,
    jobs: LearnerJobs | None = None,
) -> Erasure:
    """Erase ``learner_key`` everywhere; see the module docstring.

    ``confirming_inbox_id`` is the message that asked for the erasure, still being
    processed: it is marked done and scrubbed with the rest, so the turn is never
    stored. Other messages still pending are left to be processed: they arrived after
    the erasure and start a new conversation. ``also`` runs inside the erasure's
    transaction (the goodbye reply is queued there, so it is sent exactly when the
    erasure is committed).
    """
    removed: dict[str, int] = {}
    scrubbed: dict[str, int] = {}
    with engine.begin() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.key == learner_key)
        ).scalar()
        inbox_ids = [
            int(row.id)
            for row in connection.execute(
                select(inbox.c.id).where(inbox.c.learner_key == learner_key)
            )
        ]
        texts = _texts(connection, learner_key, learner_id)
        if learner_id is not None:
            for table in KEPT_ANONYMISED:
                scrubbed[table.name] = _anonymise(connection, table, learner_id)
            for table in BY_LEARNER_ID:
                done = connection.execute(delete(table).where(table.c.learner_id == learner_id))
                removed[table.name] = done.rowcount
            done = connection.execute(delete(learners).where(learners.c.id == learner_id))
            removed[learners.name] = done.rowcount
        for table in (outbox, dead_letters, learner_leases):
            done = connection.execute(delete(table).where(table.c.learner_key == learner_key))
            removed[table.name] = done.rowcount
        scrubbed[llm_calls.name] = connection.execute(
            update(llm_calls).where(llm_calls.c.learner_key == learner_key).values(learner_key=None)
        ).rowcount
        scrubbed[inbox.name] = _scrub_inbox(connection, learner_key, confirming_inbox_id)
        if also is not None:
            also(connection)
    if hot is not None:
        hot.forget(learner_key)
    redis_keys, redis_failed = _forget_in_redis(redis, learner_key, inbox_ids, texts)
    removed_jobs = jobs.remove_learner(learner_key) if jobs is not None else 0
    erasure = Erasure(
        found=learner_id is not None or bool(inbox_ids),
        removed=removed,
        scrubbed=scrubbed,
        redis_keys=redis_keys,
        redis_failed=redis_failed,
        jobs=removed_jobs,
    )
    logger.info(
        "learner erased",
        extra={
            "learner": learner_hash(learner_key),
            "rows_removed": sum(removed.values()),
            "rows_scrubbed": sum(scrubbed.values()),
            "redis_keys": redis_keys,
        },
    )
    return erasure


#: What a payment event keeps once its learner is erased: enough for revenue reports.
PAYMENT_FACTS = ("provider", "kind", "plan", "amount", "currency", "occurred_at")


def _anonymise(connection: Connection, table: Any, learner_id: int) -> int:
    rows = connection.execute(
        select(table.c.id, table.c.data).where(table.c.learner_id == learner_id)
    ).all()
    for row in rows:
        kept = {key: row.data[key] for key in PAYMENT_FACTS if key in (row.data or {})}
        connection.execute(
            update(table).where(table.c.id == row.id).values(learner_id=None, data=kept)
        )
    return len(rows)


def scrub_sent(connection: Connection, outbox_id: int, learner_key: str) -> None:
    """After the goodbye to an erased learner is sent (or given up): its outbox row keeps
    nothing that points to them, and neither does the lease the send was made under."""
    connection.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id)
        .values(learner_key=ERASED, chat_id=ERASED, reply={}, provider_message_ids=None)
    )
    connection.execute(delete(learner_leases).where(learner_leases.c.learner_key == learner_key))


# SQL ------------------------------------------------------------------------------


def _scrub_inbox(connection: Connection, learner_key: str, confirming_inbox_id: int | None) -> int:
    """Keep (channel, provider message id) for deduplication; drop everything else."""
    if confirming_inbox_id is not None:
        connection.execute(
            update(inbox)
            .where(inbox.c.id == confirming_inbox_id, inbox.c.learner_key == learner_key)
            .values(status="done", processed_at=utcnow())
        )
    done = connection.execute(
        update(inbox)
        .where(inbox.c.learner_key == learner_key, inbox.c.status != "pending")
        .values(learner_key=ERASED, message={}, raw=None, error=None)
    )
    return done.rowcount


def _texts(connection: Connection, learner_key: str, learner_id: int | None) -> set[str]:
    """What the learner wrote (their messages and turns), to find it in caches."""
    found: set[str] = set()
    for (message,) in connection.execute(
        select(inbox.c.message).where(inbox.c.learner_key == learner_key)
    ):
        if isinstance(message, dict) and message.get("text"):
            found.add(str(message["text"]))
    if learner_id is not None:
        for (inbound,) in connection.execute(
            select(turns.c.inbound).where(turns.c.learner_id == learner_id)
        ):
            if isinstance(inbound, dict) and inbound.get("text"):
                found.add(str(inbound["text"]))
    return found


# Redis ----------------------------------------------------------------------------


def _forget_in_redis(
    redis: Any, learner_key: str, inbox_ids: Iterable[int], texts: set[str]
) -> tuple[int, bool]:
    """How many keys or entries were removed, and whether Redis failed."""
    try:
        removed = _delete_keys(redis, redis.scan_iter(match=f"*{_glob(learner_key)}*", count=500))
        removed += _delete_keys(redis, _model_answers(redis, set(inbox_ids)))
        removed += _semantic_entries(redis, texts)
    except Exception:  # any Redis or connection error: the SQL erasure stands
        logger.warning("redis unavailable during an erasure; its keys expire with their TTL")
        return 0, True
    return removed, False


def _delete_keys(redis: Any, keys: Iterable[Any]) -> int:
    found = list(keys)
    return int(redis.delete(*found)) if found else 0


def _model_answers(redis: Any, inbox_ids: set[int]) -> Iterable[Any]:
    """Keys of model answers kept under request ids of the learner's messages."""
    for raw in redis.scan_iter(match=f"{MODEL_ANSWERS}*", count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        number = key.removeprefix(MODEL_ANSWERS).split(":", 1)[0]
        if number.isdigit() and int(number) in inbox_ids:
            yield raw


def _semantic_entries(redis: Any, texts: set[str]) -> int:
    """Remove semantic cache entries whose question is one of ``texts``."""
    from tutor.llm.cache import normalise

    questions = {normalise(text) for text in texts if text.strip()}
    if not questions:
        return 0
    removed = 0
    for raw in redis.scan_iter(match=f"{SEMANTIC_BUCKETS}*", count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        dims = key.removeprefix(SEMANTIC_BUCKETS).split(":", 1)[0]
        if not dims.isdigit():
            continue
        width = _STAMP_BYTES + 4 * int(dims)
        for item in redis.lrange(raw, 0, -1):
            if _question(item, width) in questions:
                removed += int(redis.lrem(raw, 0, item))
    return removed


def _question(item: Any, width: int) -> str | None:
    if not isinstance(item, bytes) or len(item) <= width:
        return None
    try:
        payload = json.loads(item[width:])
    except ValueError:
        return None
    question = payload.get("q") if isinstance(payload, dict) else None
    return question if isinstance(question, str) else None


def _glob(text: str) -> str:
    """``text`` with Redis glob characters escaped, for SCAN MATCH."""
    return "".join(f"\\{ch}" if ch in "*?[]\\" else ch for ch in text)
