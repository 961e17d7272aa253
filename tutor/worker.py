"""Turns inbox rows into replies, one learner at a time, in arrival order.

``drain(learner_key)`` takes the learner's lease, processes every pending
message oldest first (dispatch outside any transaction, then one transaction
that stores the turn, the learner, the queued replies and marks the row done),
sends the replies, releases the lease and looks again, so a message that
arrived while the lease was held is never stranded. ``sweep()`` re-drives
rows nobody picked up (a lost hand-off, a crashed worker, a Redis outage).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from agents import asking
from agents.base import Context, Outcome
from agents.registry import build_dispatcher
from memory import context as memory_context
from memory import sessions
from payments import entitlements
from tutor import error_events, inbox, learners, leases, logs, metrics, outbox
from tutor.dispatcher import Dispatcher
from tutor.errors import ChannelError
from tutor.i18n import t
from tutor.inbox import InboxRow
from tutor.llm.types import Task
from tutor.messages import Reply
from tutor.models import utcnow

if TYPE_CHECKING:
    from tutor.services import Services

logger = logging.getLogger(__name__)

#: Activities whose first reply may start with "last time you struggled with ...".
WELCOME_AGENTS = frozenset({"conversation", "grammar", "vocabulary", "pronunciation", "lexicon"})

MAX_PROCESS_ATTEMPTS = 3


class Worker:
    """Processes learners' inbox rows; safe to run in many threads and processes at once."""

    def __init__(self, services: Services, dispatcher: Dispatcher | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.dispatcher = dispatcher or build_dispatcher(services)
        self.sender = outbox.Sender(
            services.engine,
            services.channels,
            max_attempts=self.settings.send_max_attempts,
            base_backoff=self.settings.send_backoff_seconds,
            max_backoff=self.settings.send_max_backoff_seconds,
            retry_window=self.settings.send_retry_window_seconds,
            on_result=lambda channel, result: metrics.SENDS.labels(channel, result).inc(),
            pacer=services.pacer,
            # Waits inside a drain stay well within the learner's lease, renewed before each.
            inline_limit=self.settings.learner_lease_seconds / 3,
        )
        self._owner_prefix = f"{socket.gethostname()}:{os.getpid()}"

    def drain(self, learner_key: str) -> int:
        """Process everything pending for one learner; returns how many messages."""
        engine = self.services.engine
        processed = 0
        while True:
            owner = f"{self._owner_prefix}:{uuid.uuid4().hex[:8]}"
            if not leases.acquire(engine, learner_key, owner, self.settings.learner_lease_seconds):
                return processed  # the holder looks again after releasing
            stuck = False
            try:
                renewed = time.monotonic()
                while not stuck and (batch := inbox.pending(engine, learner_key)):
                    for row in batch:
                        if not self._process(row):
                            stuck = True
                            break
                        processed += 1
                        if time.monotonic() - renewed > self.settings.learner_lease_seconds / 3:
                            leases.acquire(
                                engine, learner_key, owner, self.settings.learner_lease_seconds
                            )
                            renewed = time.monotonic()
                renew = partial(
                    leases.acquire, engine, learner_key, owner, self.settings.learner_lease_seconds
                )
                delivered = self.sender.deliver(learner_key, renew=renew)
            finally:
                leases.release(engine, learner_key, owner)
            if stuck or not delivered or not inbox.has_pending(engine, learner_key):
                return processed

    def sweep(self) -> int:
        """Drain learners with stale pending messages or replies due for a retry."""
        stale = timedelta(seconds=self.settings.resolved_sweep_stale_seconds)
        keys = dict.fromkeys(
            [
                *inbox.stale_learners(self.services.engine, stale),
                *outbox.due_learners(self.services.engine),
            ]
        )
        return sum(self.drain(key) for key in keys)

    # One message ----------------------------------------------------------

    def _process(self, row: InboxRow) -> bool:
        """Handle one row; False when it failed and should be retried later."""
        inbound = row.inbound
        with logs.bound(
            correlation_id=row.correlation_id,
            channel=inbound.channel.value,
            learner_key=inbound.learner_key,
            inbox_id=row.id,
        ):
            started = time.perf_counter()
            try:
                self._turn(row)
            except Exception as exc:
                metrics.FAILED.labels(inbound.channel.value).inc()
                give_up = row.attempts + 1 >= MAX_PROCESS_ATTEMPTS
                logger.exception(
                    "processing failed", extra={"attempt": row.attempts + 1, "give_up": give_up}
                )
                inbox.record_failure(
                    self.services.engine, row, f"{type(exc).__name__}: {exc}", give_up=give_up
                )
                if give_up:
                    self._apologise(row)
                return give_up  # a dead row no longer blocks the learner's later messages
            elapsed = time.perf_counter() - started
            metrics.PROCESSING_SECONDS.labels(inbound.channel.value).observe(elapsed)
            return True

    def _turn(self, row: InboxRow) -> None:
        services, inbound = self.services, row.inbound
        engine = services.engine
        if inbound.callback_id:
            self._acknowledge(inbound.chat_id, inbound.callback_id, inbound.channel)
        learner = learners.load_or_create(engine, inbound)
        recent = services.hot.recent_turns(learner.key)
        if recent is None:
            recent = learners.recent_turns(engine, learner.id, self.settings.hot_turns)
            services.hot.prime(learner.key, recent)
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        with engine.connect() as connection:
            remembered = memory_context.assemble(
                connection,
                learner.id,
                inbound.text,
                services.embedder,
                now=utcnow(),
                idle=idle,
                k=self.settings.memory_notes_per_turn,
            )
            record = entitlements.get(connection, learner.id)
        paid = record is not None and (record.subscribed(utcnow()) or record.lessons_remaining > 0)
        context = Context(
            learner.key,
            learner.profile,
            learner.state,
            tuple(recent),
            learner_id=learner.id,
            request_id=f"inbox-{row.id}",
            memory=remembered,
            plan="paid" if paid else "free",
        )
        outcome = _welcomed_back(self.dispatcher.dispatch(inbound, context), context)
        if outcome.erased:  # the erasure marked this message done and queued the goodbye
            logger.info("learner erased at their request")
            return
        profile = outcome.profile if outcome.profile is not None else learner.profile
        state = outcome.state if outcome.state is not None else learner.state
        replies = [reply.to_dict() for reply in outcome.replies]
        with logs.bound(agent=outcome.agent):
            with engine.begin() as connection:
                if not inbox.mark_done(connection, row.id):
                    logger.warning("message already processed elsewhere; skipping")
                    connection.rollback()
                    return
                saved = learners.save_turn(
                    connection,
                    learner=learner,
                    inbox_id=row.id,
                    inbound=inbound,
                    agent=outcome.agent,
                    replies=replies,
                    profile=profile,
                    state=state,
                    idle=idle,
                )
                error_events.record(
                    connection,
                    learner_id=learner.id,
                    inbox_id=row.id,
                    text=inbound.text,
                    events=outcome.errors,
                    now=saved.at,  # the turn's time: its session's summary counts them
                )
                outbox.add(
                    connection,
                    inbox_id=row.id,
                    learner_key=learner.key,
                    channel=inbound.channel,
                    chat_id=inbound.chat_id,
                    replies=outcome.replies,
                    correlation_id=row.correlation_id,
                )
            services.hot.remember(learner.key, saved.turn, state)
            if sessions.due_for_compression(saved.session_turns):
                sessions.compress(engine, saved.session_id, self._compressor(context))
            metrics.PROCESSED.labels(inbound.channel.value, outcome.agent).inc()
            logger.info(
                "message processed",
                extra={
                    "kind": inbound.kind.value,
                    "replies": len(replies),
                    "queued_ms": round((utcnow() - row.received_at).total_seconds() * 1000, 1),
                },
            )

    def _compressor(self, context: Context) -> Callable[[list[dict[str, Any]]], str | None] | None:
        """The fast model writing a long session's compressed start (None offline)."""
        router = self.services.router
        if not router.tiers:
            return None
        target = str(context.profile.get("target_language") or "es")

        def write(earlier: list[dict[str, Any]]) -> str | None:
            transcript = "\n".join(
                f"Learner: {turn.get('text', '')}\nTutor: {' / '.join(turn.get('reply', []))}"
                for turn in earlier[-30:]
            )
            result = router.complete(
                asking.request(
                    context,
                    target,
                    task=Task.SUMMARISE,
                    agent="memory",
                    purpose="compress",
                    template="summarise",
                    learner_text=transcript,
                    fallback=lambda: "",
                    max_tokens=150,
                )
            )
            return result.text.strip() if result.provider != "offline" else None

        return write

    def _apologise(self, row: InboxRow) -> None:
        """Tell the learner something went wrong, in their language, when we give up."""
        inbound = row.inbound
        try:
            learner = learners.load_or_create(self.services.engine, inbound)
            lang = Context(learner.key, learner.profile, learner.state).lang
            with self.services.engine.begin() as connection:
                outbox.add(
                    connection,
                    inbox_id=row.id,
                    learner_key=inbound.learner_key,
                    channel=inbound.channel,
                    chat_id=inbound.chat_id,
                    replies=(Reply(t("internal_error", lang)),),
                    correlation_id=row.correlation_id,
                )
        except Exception:
            logger.exception("could not queue the apology")

    def _acknowledge(self, chat_id: str, callback_id: str, channel: object) -> None:
        adapter = self.services.channels.get(channel)  # type: ignore[call-overload]
        if adapter is None:
            return
        try:
            adapter.acknowledge(chat_id, callback_id)
        except ChannelError:
            logger.info("could not acknowledge a button press")


def _welcomed_back(outcome: Outcome, context: Context) -> Outcome:
    """A learner back after a session with mistakes hears about them in the first reply
    of a tutoring activity (not in menus, onboarding or settings)."""
    if outcome.agent not in WELCOME_AGENTS or not outcome.replies:
        return outcome
    line = memory_context.welcome_back(context.memory, context.lang, utcnow())
    if line is None:
        return outcome
    first = outcome.replies[0]
    replies = (replace(first, text=f"{line}\n\n{first.text}"), *outcome.replies[1:])
    return replace(outcome, replies=replies)
