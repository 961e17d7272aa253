"""Replies waiting to be sent, in order per learner, with retries and dead letters.

Replies are written in the same transaction that marks their inbox row done,
so a crash after processing never loses them; sending happens afterwards.
A retryable failure holds back the learner's later replies (order matters)
until its next attempt; a permanent one becomes a dead letter.

A reply naming a ``document`` gets its file built from the database at send time
(the data export: :mod:`memory.export`), so the file is never stored here. A reply
marked ``scrub_when_sent`` (the goodbye to an erased learner) is emptied once sent
(:func:`memory.erase.scrub_sent`).

Before each send the channel's rules are checked:

- pacing (:mod:`tutor.pacing`): a reply waits for its tokens without spending an
  attempt, inline when the wait is short, else through ``next_attempt_at`` (the
  sweeper comes back; the learner's later replies stay behind it). A platform's
  "slow down" pushes the matching bucket back for every process.
- WhatsApp's 24-hour window: a free-form reply to a learner whose last message (or
  the message it answers) is older than 24 hours is not sent: status ``skipped``,
  neither retried nor a dead letter. A reply carrying a ``template`` goes out as that
  template, which is allowed at any time.
- a recipient gone for good (Telegram 403: the bot is blocked) makes the reply a dead
  letter and the learner inactive (``inactive_at``, no next reminder) until they write.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from memory import erase, export
from tutor import logs, pacing
from tutor.channels.base import ChannelAdapter
from tutor.channels.whatsapp import WINDOW
from tutor.errors import PermanentSendError, RateLimited, RetryableSendError
from tutor.inbox import add_dead_letter
from tutor.messages import Attachment, Channel, Reply
from tutor.models import inbox, learners, outbox, utcnow

logger = logging.getLogger(__name__)

#: Waits up to this long inside the worker before leaving a retry to the sweeper.
INLINE_RETRY_LIMIT = 5.0

#: Builds a named document for a learner at send time; None when there is nothing to send.
DocumentBuilder = Callable[[str, str], Attachment | None]

#: Why a free-form WhatsApp reply was not sent (the row's ``error``, status ``skipped``).
OUTSIDE_WINDOW = "outside the WhatsApp 24-hour window"


@dataclass(frozen=True, slots=True)
class _Again:
    """Not done with a row: try again in ``seconds``; ``attempted`` when a send was tried."""

    seconds: float
    attempted: bool


def add(
    connection: Connection,
    *,
    inbox_id: int | None,
    learner_key: str,
    channel: Channel,
    chat_id: str,
    replies: tuple[Reply, ...],
    correlation_id: str,
) -> None:
    """Queue ``replies`` inside the caller's transaction."""
    now = utcnow()
    for reply in replies:  # one by one: ids must follow the replies' order
        connection.execute(
            _INSERT,
            {
                "inbox_id": inbox_id,
                "learner_key": learner_key,
                "channel": channel.value,
                "chat_id": chat_id,
                "reply": reply.to_dict(),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "correlation_id": correlation_id,
                "created_at": now,
            },
        )


_INSERT = insert(outbox)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """Seconds before the next try: the platform's retry-after, else capped jittered doubling."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap) if cap else max(retry_after, 0.0)
    return float(min(cap, base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0))


class Sender:
    """Delivers a learner's pending replies through their channel adapter."""

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[Channel, ChannelAdapter],
        *,
        max_attempts: int = 5,
        base_backoff: float = 0.5,
        max_backoff: float = 30.0,
        retry_window: float = 0.0,
        on_result: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        documents: DocumentBuilder | None = None,
        pacer: pacing.Pacer | None = None,
        inline_limit: float = INLINE_RETRY_LIMIT,
    ) -> None:
        self._engine = engine
        self._documents = documents or self._stored_documents
        self._channels = channels
        self._max_attempts = max_attempts
        self._base = base_backoff
        self._cap = max_backoff
        self._window = timedelta(seconds=retry_window)
        self._on_result = on_result or (lambda channel, outcome: None)
        self._sleep = sleep
        self._pacer = pacer
        self._inline_limit = min(inline_limit, INLINE_RETRY_LIMIT)

    def deliver(self, learner_key: str, renew: Callable[[], bool] | None = None) -> bool:
        """Send what is due for ``learner_key``, oldest first; True if nothing is left waiting.

        ``renew`` is called before each wait inside this call (the caller's lease on the
        learner must outlast it); False stops here and leaves the rest to the sweeper.
        """
        now = utcnow()
        for row in self._pending(learner_key):
            if row["next_attempt_at"] > now:
                return False  # an earlier reply waits for its retry; later ones wait behind it
            while True:
                again = self._attempt(row)
                if again is None:
                    break  # sent, dead or skipped: next row
                if again.seconds > self._inline_limit:
                    return False  # the sweeper comes back at next_attempt_at
                if renew is not None and not renew():
                    later = utcnow() + timedelta(seconds=again.seconds)
                    self._update(row["id"], next_attempt_at=later)
                    return False
                self._sleep(again.seconds)
                if again.attempted:
                    row = {**row, "attempts": row["attempts"] + 1}
        return True

    def _pending(self, learner_key: str) -> list[dict[str, Any]]:
        query = (
            select(outbox)
            .where(outbox.c.learner_key == learner_key, outbox.c.status == "pending")
            .order_by(outbox.c.id)
        )
        with self._engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def _attempt(self, row: dict[str, Any]) -> _Again | None:
        """One try; None when finished with the row, else when to try again."""
        with logs.bound(
            correlation_id=row["correlation_id"],
            channel=row["channel"],
            learner_key=row["learner_key"],
            outbox_id=row["id"],
        ):
            return self._try(row)

    def _try(self, row: dict[str, Any]) -> _Again | None:
        channel = Channel(row["channel"])
        adapter = self._channels.get(channel)
        attempt = row["attempts"] + 1
        try:
            if adapter is None:
                raise PermanentSendError(f"channel {channel.value} is not configured")
            reply = Reply.from_dict(row["reply"])
            if self._outside_window(row, channel, reply):
                self._skip(row, OUTSIDE_WINDOW)
                return None
            wait = self._pace(row, channel, reply)
            if wait > 0:
                return _Again(wait, attempted=False)  # no attempt spent
            reply = self._with_document(row["learner_key"], reply)
            ids = adapter.send(row["chat_id"], reply)
        except RetryableSendError as exc:
            retry_after = exc.retry_after
            if isinstance(exc, RateLimited):
                retry_after = self._slow_down(row, channel, exc, attempt)
            if self._given_up(row, attempt):
                self._dead(row, attempt, f"{type(exc).__name__}: {exc}")
                return None
            delay = backoff(attempt, self._base, self._cap, retry_after)
            logger.warning(
                "send failed; will retry",
                extra={
                    "outbox_id": row["id"],
                    "attempt": attempt,
                    "delay": round(delay, 2),
                    "error": type(exc).__name__,
                    "code": exc.code,
                },
            )
            self._update(
                row["id"],
                attempts=attempt,
                error=f"{type(exc).__name__}: {exc}",
                next_attempt_at=utcnow() + timedelta(seconds=delay),
            )
            self._on_result(channel.value, "retry")
            return _Again(delay, attempted=True)
        except PermanentSendError as exc:
            self._dead(row, attempt, f"{type(exc).__name__}: {exc}", gone=exc.recipient_gone)
            return None
        sent_at = utcnow()
        with self._engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.id == row["id"])
                .values(
                    status="sent",
                    attempts=attempt,
                    sent_at=sent_at,
                    provider_message_ids=ids,
                    error=None,
                )
            )
            if row["reply"].get("scrub_when_sent"):
                erase.scrub_sent(connection, row["id"], row["learner_key"])
        logger.info(
            "reply sent",
            extra={
                "attempt": attempt,
                "queued_ms": round((sent_at - row["created_at"]).total_seconds() * 1000, 1),
            },
        )
        self._on_result(channel.value, "sent")
        return None

    def _given_up(self, row: dict[str, Any], attempt: int) -> bool:
        """A failing reply is a dead letter once it has had its attempts and is older than
        the retry window: a platform down for minutes costs a delay, not an admin's retry."""
        return attempt >= self._max_attempts and utcnow() - row["created_at"] >= self._window

    def _pace(self, row: dict[str, Any], channel: Channel, reply: Reply) -> float:
        """Seconds to wait for the channel's tokens (0: taken); a long wait is left to the
        sweeper through ``next_attempt_at``."""
        if self._pacer is None:
            return 0.0
        cost = pacing.message_count(channel, row["chat_id"], reply)
        wait = self._pacer.take(channel, row["chat_id"], cost)
        if wait <= 0:
            return 0.0
        logger.debug("reply paced", extra={"outbox_id": row["id"], "wait": round(wait, 3)})
        if wait > self._inline_limit:
            self._update(row["id"], next_attempt_at=utcnow() + timedelta(seconds=wait))
        self._on_result(channel.value, "paced")
        return wait

    def _slow_down(
        self, row: dict[str, Any], channel: Channel, exc: RateLimited, attempt: int
    ) -> float | None:
        """The wait a "slow down" asks for (``growth ** attempt`` when the platform gave
        none); the matching bucket is pushed back for every process.

        A recipient's bucket is only emptied: that learner's replies already wait behind
        this row. A sender-wide limit holds every process for the stated time.
        """
        retry_after = exc.retry_after
        if retry_after is None and exc.growth is not None:
            retry_after = exc.growth**attempt
        if self._pacer is not None:
            hold = (exc.retry_after or 0.0) if exc.scope == "sender" else 0.0
            self._pacer.push_back(channel, row["chat_id"], exc.scope, hold)
        return retry_after

    def _outside_window(self, row: dict[str, Any], channel: Channel, reply: Reply) -> bool:
        """A free-form WhatsApp reply whose learner last wrote 24 hours ago or more."""
        if channel is not Channel.WHATSAPP or reply.template is not None:
            return False
        last = self._last_inbound(row)
        return last is None or utcnow() - last >= WINDOW

    def _last_inbound(self, row: dict[str, Any]) -> datetime | None:
        """The learner's last message, or the one this reply answers if later (a learner
        erased in that turn has no row any more); one round trip."""
        learner_last = (
            select(learners.c.last_inbound_at)
            .where(learners.c.key == row["learner_key"])
            .scalar_subquery()
        )
        answered = select(inbox.c.received_at).where(inbox.c.id == row["inbox_id"])
        with self._engine.connect() as connection:
            times = connection.execute(select(learner_last, answered.scalar_subquery())).one()
        known = [moment for moment in times if moment is not None]
        return max(known) if known else None

    def _skip(self, row: dict[str, Any], reason: str) -> None:
        """Not sent and never will be, by the channel's rules: not a failure."""
        logger.info("reply not sent", extra={"outbox_id": row["id"], "reason": reason})
        with self._engine.begin() as connection:
            connection.execute(
                update(outbox)
                .where(outbox.c.id == row["id"])
                .values(status="skipped", error=reason)
            )
            if row["reply"].get("scrub_when_sent"):
                erase.scrub_sent(connection, row["id"], row["learner_key"])
        self._on_result(row["channel"], "skipped")

    def _dead(self, row: dict[str, Any], attempt: int, error: str, *, gone: bool = False) -> None:
        logger.error(
            "send failed for good; dead letter", extra={"outbox_id": row["id"], "attempt": attempt}
        )
        scrub = bool(row["reply"].get("scrub_when_sent"))
        with self._engine.begin() as connection:
            if gone:
                _mark_inactive(connection, row["learner_key"])
            connection.execute(
                update(outbox)
                .where(outbox.c.id == row["id"])
                .values(status="dead", attempts=attempt, error=error[:2000])
            )
            add_dead_letter(
                connection,
                "outbox",
                row["id"],
                row["channel"],
                erase.ERASED if scrub else row["learner_key"],
                error,
                row["correlation_id"],
            )
            if scrub:
                erase.scrub_sent(connection, row["id"], row["learner_key"])
        self._on_result(row["channel"], "dead")

    def _with_document(self, learner_key: str, reply: Reply) -> Reply:
        """``reply`` with its named document built now (the row only names it)."""
        if not reply.document:
            return reply
        try:
            attachment = self._documents(learner_key, reply.document)
        except SQLAlchemyError as exc:
            raise RetryableSendError(f"could not build the {reply.document} document") from exc
        if attachment is None:
            raise PermanentSendError(f"no {reply.document} document for this learner")
        return replace(reply, attachment=attachment)

    def _stored_documents(self, learner_key: str, name: str) -> Attachment | None:
        """The documents the service knows how to build: the learner's data export."""
        if name == "export":
            return export.attachment(self._engine, learner_key)
        raise PermanentSendError(f"unknown document {name!r}")

    def _update(self, row_id: int, **values: Any) -> None:
        with self._engine.begin() as connection:
            connection.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


def _mark_inactive(connection: Connection, learner_key: str) -> None:
    """The channel refused the learner for good: schedule nothing more for them."""
    now = utcnow()
    connection.execute(
        update(learners)
        .where(learners.c.key == learner_key, learners.c.inactive_at.is_(None))
        .values(inactive_at=now, next_reminder_at=None, updated_at=now)
    )
    logger.warning("the channel refused the learner; marked inactive")


def due_learners(engine: Engine, limit: int = 200) -> list[str]:
    """Learners whose pending replies are due now, the longest waiting first: a backlog on
    one channel (a morning of reminders to Telegram) must not hold the other one back."""
    query = (
        select(outbox.c.learner_key)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= utcnow())
        .group_by(outbox.c.learner_key)
        .order_by(func.min(outbox.c.next_attempt_at), outbox.c.learner_key)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(query)]


def sent_since(
    engine: Engine, learner_key: str, after_id: int, limit: int = 50
) -> list[dict[str, Any]]:
    """Replies already sent to ``learner_key`` with id > ``after_id`` (the web chat's feed)."""
    query = (
        select(outbox.c.id, outbox.c.reply, outbox.c.sent_at)
        .where(
            outbox.c.learner_key == learner_key, outbox.c.id > after_id, outbox.c.status == "sent"
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
