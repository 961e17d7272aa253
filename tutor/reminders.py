"""Practice reminders: what is sent to whom and when.

Every learner who wants reminders has ``learners.next_reminder_at``: when the
scheduler should next look at them. A job every minute (:func:`run_due`) takes the
learners whose moment has come, in indexed batches, and decides for each:

    the paid period ends within days and will not renew  → "expiry" (once per period)
    FSRS cards are due                                   → "review"
    practised yesterday but not yet today                → "streak"
    otherwise                                            → nothing

and then sends nothing when a rule says no: inside quiet hours (the moment moves to
their end), over the per-day cap, within hours of the learner's last message (they
are practising already), or on WhatsApp more than 24 hours after their last message
without an approved template ("window"). A decision is one ``reminders`` row, unique
per (learner, kind, slot), inserted before its outbox row in the same transaction, so
a restarted or duplicated scheduler never sends twice. The slot of a daily reminder
is the learner's local date.

The moment is the learner's practice time in their time zone
(:mod:`tutor.reminder_times`). A profile change that matters sets ``next_reminder_at``
to the change's time, and the job then reschedules: a moment more than
:data:`CATCH_UP` past its slot is never sent late, only moved on.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from tutor import outbox
from tutor.billing import day as day_name
from tutor.channels.whatsapp import WINDOW
from tutor.i18n import t
from tutor.messages import Channel, Reply, Template
from tutor.models import cards as cards_table
from tutor.models import entitlements, learners, reminders, turns
from tutor.models import outbox as outbox_table
from tutor.reminder_times import Policy, last_slot, next_due, wanted, zone_name, zone_of

logger = logging.getLogger(__name__)

#: A moment found later than this after its slot (the scheduler was down) is not sent late.
CATCH_UP = timedelta(hours=1)
#: How long after a learner's last message WhatsApp accepts free-form text.
WHATSAPP_WINDOW = WINDOW
#: WhatsApp refuses template parameters with new lines or longer than this.
TEMPLATE_PARAMETER_LIMIT = 1000
#: Days of turns read to count a streak.
STREAK_HORIZON = timedelta(days=120)


@dataclass(frozen=True, slots=True)
class Due:
    """A learner whose reminder moment has come."""

    id: int
    key: str
    channel: str
    chat_id: str
    profile: dict[str, Any]
    last_inbound_at: datetime | None

    @property
    def lang(self) -> str:
        return str(self.profile.get("explanation_language") or self.profile.get("ui_hint") or "en")


@dataclass(slots=True)
class Facts:
    """What one batch of learners needs, read with one query per kind."""

    due_cards: dict[int, int] = field(default_factory=dict)
    recent: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    period_ends: dict[int, datetime] = field(default_factory=dict)
    expiry_slots: set[tuple[int, str]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Decision:
    """One reminder decided: queued with ``reply``, or skipped for ``reason``."""

    kind: str
    slot: str
    reply: Reply | None
    reason: str | None = None


@dataclass(slots=True)
class Report:
    """What one run did: rows per status and reason, and the learners to nudge."""

    looked_at: int = 0
    queued: int = 0
    templates: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    learner_keys: list[str] = field(default_factory=list)


def _facts(connection: Connection, batch: Sequence[Due], now: datetime, policy: Policy) -> Facts:
    ids = [learner.id for learner in batch]
    facts = Facts()
    rows = connection.execute(
        select(cards_table.c.learner_id, func.count())
        .where(
            cards_table.c.learner_id.in_(ids),
            cards_table.c.due <= now,
            cards_table.c.retired_at.is_(None),
        )
        .group_by(cards_table.c.learner_id)
    )
    facts.due_cards = {int(learner_id): int(count) for learner_id, count in rows}
    sent = connection.execute(
        select(reminders.c.learner_id, reminders.c.created_at).where(
            reminders.c.learner_id.in_(ids),
            reminders.c.created_at >= now - timedelta(hours=27),
            reminders.c.status == "queued",
        )
    )
    for learner_id, created_at in sent:
        facts.recent[int(learner_id)].append(created_at)
    horizon = now + timedelta(days=policy.expiry_days)
    ending = connection.execute(
        select(entitlements.c.learner_id, entitlements.c.next_payment_date).where(
            entitlements.c.learner_id.in_(ids),
            entitlements.c.subscription_active.is_(True),
            entitlements.c.cancel_at_period_end.is_(True),
            entitlements.c.next_payment_date > now,
            entitlements.c.next_payment_date <= horizon,
        )
    )
    facts.period_ends = {int(learner_id): end for learner_id, end in ending}
    if facts.period_ends:
        warned = connection.execute(
            select(reminders.c.learner_id, reminders.c.slot).where(
                reminders.c.learner_id.in_(list(facts.period_ends)),
                reminders.c.kind == "expiry",
            )
        )
        facts.expiry_slots = {(int(learner_id), slot) for learner_id, slot in warned}
    return facts


def _streak(connection: Connection, learner_id: int, zone: tzinfo, now: datetime) -> int:
    """Consecutive local days with a turn, ending yesterday."""
    stamps = connection.execute(
        select(turns.c.created_at).where(
            turns.c.learner_id == learner_id, turns.c.created_at >= now - STREAK_HORIZON
        )
    ).scalars()
    days = {stamp.astimezone(zone).date() for stamp in stamps}
    day = now.astimezone(zone).date() - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


def _review_reply(count: int, lang: str) -> Reply:
    key = "reminder_review_one" if count == 1 else "reminder_review"
    return Reply(t(key, lang, count=count))


def _what(
    connection: Connection,
    learner: Due,
    facts: Facts,
    slot: datetime,
    zone: tzinfo,
    now: datetime,
) -> Decision | None:
    """The reminder this learner should get at ``slot``, before the sending rules."""
    lang = learner.lang
    end = facts.period_ends.get(learner.id)
    if end is not None:
        period = end.date().isoformat()
        if (learner.id, period) not in facts.expiry_slots:
            text = t("reminder_expiry", lang, date=day_name(end.astimezone(zone), lang))
            return Decision("expiry", period, Reply(text))
    local_day = slot.astimezone(zone).date().isoformat()
    count = facts.due_cards.get(learner.id, 0)
    if count:
        return Decision("review", local_day, _review_reply(count, lang))
    last = learner.last_inbound_at
    today = now.astimezone(zone).date()
    if last is not None and last.astimezone(zone).date() == today - timedelta(days=1):
        days = _streak(connection, learner.id, zone, now)
        key = "reminder_streak" if days >= 2 else "reminder_streak_start"
        return Decision("streak", local_day, Reply(t(key, lang, days=days)))
    return None


def _template(policy: Policy, reply: Reply, lang: str) -> Template | None:
    if not policy.template:
        return None
    parameter = " ".join(reply.text.split())[:TEMPLATE_PARAMETER_LIMIT]
    return Template(policy.template, policy.template_language or lang, (parameter,))


def _rules(
    learner: Due, decision: Decision, facts: Facts, zone: tzinfo, now: datetime, policy: Policy
) -> Decision:
    """``decision`` as sent: skipped when a rule says no, a template outside WhatsApp's window."""
    assert decision.reply is not None
    if policy.quiet(now.astimezone(zone).time()):
        return Decision(decision.kind, decision.slot, None, "quiet_hours")
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    today = [sent for sent in facts.recent.get(learner.id, []) if sent >= midnight]
    if len(today) >= policy.max_per_day:
        return Decision(decision.kind, decision.slot, None, "cap")
    last = learner.last_inbound_at
    if last is not None and now - last < timedelta(hours=policy.active_hours):
        return Decision(decision.kind, decision.slot, None, "active")
    if learner.channel == Channel.WHATSAPP.value and (
        last is None or now - last >= WHATSAPP_WINDOW
    ):
        template = _template(policy, decision.reply, learner.lang)
        if template is None:
            return Decision(decision.kind, decision.slot, None, "window")
        reply = Reply(decision.reply.text, template=template)
        return Decision(decision.kind, decision.slot, reply)
    return decision


# Storing a decision ---------------------------------------------------------------


def _record(
    connection: Connection, learner: Due, decision: Decision, slot: datetime, now: datetime
) -> bool:
    """Insert the reminder row and, when it is sent, its outbox row; False when this
    (learner, kind, slot) was decided already. Two schedulers deciding at once cannot
    both insert: the unique key fails one, and its whole transaction rolls back."""
    if decision.reply is None and decision.kind == "expiry":
        return True  # not stored: the warning is tried again at the next practice time
    exists = connection.execute(
        select(reminders.c.id).where(
            reminders.c.learner_id == learner.id,
            reminders.c.kind == decision.kind,
            reminders.c.slot == decision.slot,
        )
    ).first()
    if exists is not None:
        return False
    result = connection.execute(
        insert(reminders).values(
            learner_id=learner.id,
            kind=decision.kind,
            slot=decision.slot,
            scheduled_for=slot,
            created_at=now,
            status="queued" if decision.reply is not None else "skipped",
            reason=decision.reason,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    if decision.reply is None:
        return True
    correlation = f"reminder-{int(key[0])}"
    outbox.add(
        connection,
        inbox_id=None,
        learner_key=learner.key,
        channel=Channel(learner.channel),
        chat_id=learner.chat_id,
        replies=(decision.reply,),
        correlation_id=correlation,
    )
    outbox_id = connection.execute(
        select(outbox_table.c.id).where(
            outbox_table.c.learner_key == learner.key,
            outbox_table.c.correlation_id == correlation,
        )
    ).scalar()
    connection.execute(
        update(reminders).where(reminders.c.id == int(key[0])).values(outbox_id=outbox_id)
    )
    return True


def _move(connection: Connection, learner: Due, when: datetime | None) -> None:
    connection.execute(
        update(learners).where(learners.c.id == learner.id).values(next_reminder_at=when)
    )


def _handle(
    engine: Engine, learner: Due, facts: Facts, now: datetime, policy: Policy, report: Report
) -> None:
    """Decide for one learner and move their next moment on, in one transaction."""
    if not wanted(learner.profile):
        with engine.begin() as connection:
            _move(connection, learner, None)
        return
    zone = zone_of(zone_name(learner.profile, learner.channel, learner.chat_id)) or UTC
    following = next_due(
        learner.profile, now, channel=learner.channel, chat_id=learner.chat_id, policy=policy
    )
    with engine.begin() as connection:
        slot = last_slot(learner.profile, now, zone, policy)
        decision = None
        if now - slot <= CATCH_UP:
            decision = _what(connection, learner, facts, slot, zone, now)
        if decision is not None:
            decision = _rules(learner, decision, facts, zone, now, policy)
            if not _record(connection, learner, decision, slot, now):
                decision = None
        _move(connection, learner, following)
    if decision is None:
        return
    if decision.reply is None:
        report.skipped[decision.reason or "unknown"] += 1
        return
    report.queued += 1
    report.templates += decision.reply.template is not None
    report.learner_keys.append(learner.key)
    facts.recent[learner.id].append(now)


def _batch(engine: Engine, now: datetime, size: int, failed: set[int]) -> list[Due]:
    query = (
        select(
            learners.c.id,
            learners.c.key,
            learners.c.channel,
            learners.c.chat_id,
            learners.c.profile,
            learners.c.last_inbound_at,
        )
        .where(learners.c.next_reminder_at <= now, learners.c.inactive_at.is_(None))
        .order_by(learners.c.next_reminder_at, learners.c.id)
        .limit(size)
    )
    if failed:
        query = query.where(learners.c.id.not_in(failed))
    with engine.connect() as connection:
        return [
            Due(
                int(row.id),
                row.key,
                row.channel,
                row.chat_id,
                dict(row.profile),
                row.last_inbound_at,
            )
            for row in connection.execute(query)
        ]


def run_due(
    engine: Engine,
    now: datetime,
    policy: Policy,
    *,
    notify: Callable[[str], None] | None = None,
) -> Report:
    """Decide for every learner whose reminder moment has come by ``now``; each learner
    leaves with a later moment (or none), so the loop ends."""
    report = Report()
    failed: set[int] = set()
    while batch := _batch(engine, now, policy.batch_size, failed):
        with engine.connect() as connection:
            facts = _facts(connection, batch, now, policy)
        for learner in batch:
            report.looked_at += 1
            try:
                _handle(engine, learner, facts, now, policy, report)
            except Exception:
                logger.exception("reminder decision failed", extra={"learner_id": learner.id})
                failed.add(learner.id)
        if len(batch) < policy.batch_size:
            break
    if notify is not None:
        _hand_off(notify, report.learner_keys)
    return report


def _hand_off(notify: Callable[[str], None], keys: list[str]) -> None:
    for key in keys:
        try:
            notify(key)
        except Exception:  # the rows are safe in the outbox; the sweeper sends them
            logger.warning("queue hand-off failed; the sweeper will send the reminder")
