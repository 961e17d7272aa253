"""What a learner hears about their payments, and how it reaches them outside a turn.

Events that arrive in a learner's own chat (Telegram Stars payments) are answered in
their turn. Events that arrive from elsewhere (Stripe webhooks, WhatsApp Pay statuses,
an admin's grant or refund) queue the same notice with :func:`notify`: an outbox row in
the learner's ordered stream, then a nudge to the workers to send it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from payments.ledger import Applied, EventKind, Status
from payments.plans import PlanKind
from tutor import logs, outbox
from tutor.i18n import t
from tutor.messages import Channel, Reply
from tutor.models import learners

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tutor.services import Services

logger = logging.getLogger(__name__)


def day(when: datetime | None, lang: str) -> str:
    """A date as a learner reads it: "14 Dec" / "14 dic"."""
    if when is None:
        return "—"
    months = {
        "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
        "es": "ene feb mar abr may jun jul ago sep oct nov dic",
    }
    names = (months.get(lang) or months["en"]).split()
    return f"{when.day} {names[when.month - 1]}"


def confirmation(applied: Applied, lang: str) -> str | None:
    """The sentence a learner gets for an applied event; None when there is nothing to say."""
    if not applied.new:
        return None
    record, plan, kind = applied.entitlement, applied.plan, applied.event.kind
    if applied.status is Status.IGNORED and kind is EventKind.PURCHASE:
        return t("paid_unknown", lang)
    if applied.status is not Status.APPLIED or record is None:
        return None
    name = plan.name(lang) if plan else record.plan
    if kind is EventKind.PURCHASE and plan is not None:
        if plan.kind is PlanKind.PACK:
            return t("paid_pack", lang, lessons=plan.lessons, total=record.lessons_remaining)
        return t("paid_subscription", lang, plan=name, date=day(record.next_payment_date, lang))
    if kind is EventKind.RENEWAL and record.subscription_active:
        return t("paid_renewal", lang, plan=name, date=day(record.next_payment_date, lang))
    if kind is EventKind.REFUND:
        if plan is not None and plan.kind is PlanKind.PACK:
            what = t("paid_refund_pack", lang, total=record.lessons_remaining)
        else:
            what = t("paid_refund_subscription", lang)
        return t("paid_refund", lang, what=what)
    if kind is EventKind.ENDED:
        return t("paid_ended", lang, plan=name)
    if kind is EventKind.GRANT:
        parts = []
        if applied.event.days:
            parts.append(f"{name} ({day(record.next_payment_date, lang)})")
        if applied.event.lessons:
            parts.append(t("offer_stars_pack", lang, amount=0, lessons=applied.event.lessons))
        return t("paid_granted", lang, what=", ".join(parts).replace("0 ⭐ ", ""))
    return None


def queue_notice(connection: Connection, applied: Applied) -> str | None:
    """Queue the learner's notice for ``applied`` in the caller's transaction; returns the
    learner key to nudge the workers for, or None when nothing was queued."""
    notices = [applied, *applied.also]
    queued = None
    for item in notices:
        if item.learner_id is None:
            continue
        row = connection.execute(learners.select().where(learners.c.id == item.learner_id)).first()
        if row is None:
            continue
        lang = str(row.profile.get("explanation_language") or row.profile.get("ui_hint") or "en")
        text = confirmation(item, lang)
        if text is None:
            continue
        outbox.add(
            connection,
            inbox_id=None,
            learner_key=row.key,
            channel=Channel(row.channel),
            chat_id=row.chat_id,
            replies=(Reply(text),),
            correlation_id=str(logs.current().get("correlation_id") or logs.new_correlation_id()),
        )
        queued = row.key
    return queued


def notify(services: Services, learner_key: str | None) -> None:
    """Nudge the workers to send what :func:`queue_notice` queued (the sweeper would too)."""
    if learner_key is None:
        return
    try:
        services.queue.notify(learner_key)
    except Exception:  # the row is safe in the outbox; the sweeper sends it
        logger.warning("queue hand-off failed; the sweeper will send the payment notice")
