"""Telegram Stars: the invoice payload, the pre-checkout check and payment updates as events.

An invoice's payload is ``"<plan>:<learner id>:<issued, unix seconds>"`` (at most 128
bytes, Telegram's limit). At pre-checkout the payload must name a plan sold in Stars,
its price, currency ``XTR`` and the learner who is paying; anything else is refused
with a reason Telegram shows them. Payments and refunds become :class:`PaymentEvent`s
keyed by ``telegram_payment_charge_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payments.ledger import EventKind, PaymentEvent, Provider
from payments.plans import Catalog, Plan, PlanKind
from tutor.messages import Invoice, PaymentUpdate

CURRENCY = "XTR"
SUBSCRIPTION_PERIOD = 30 * 24 * 3600  # seconds: the only period Telegram allows


@dataclass(frozen=True, slots=True)
class Payload:
    plan: str
    learner_id: int
    issued: int

    def __str__(self) -> str:
        return f"{self.plan}:{self.learner_id}:{self.issued}"


def parse_payload(text: str) -> Payload | None:
    parts = text.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return Payload(parts[0], int(parts[1]), int(parts[2]))


def invoice(plan: Plan, learner_id: int, lang: str, description: str, now: datetime) -> Invoice:
    """The Stars invoice for ``plan``: a subscription goes as a 30-day invoice link."""
    payload = Payload(plan.id, learner_id, int(now.timestamp()))
    return Invoice(
        title=plan.name(lang),
        description=description,
        payload=str(payload),
        currency=CURRENCY,
        amount=plan.stars,
        subscription_period=SUBSCRIPTION_PERIOD if plan.kind is PlanKind.SUBSCRIPTION else 0,
    )


def check_checkout(
    catalog: Catalog, payload: str, currency: str, amount: int, learner_id: int | None
) -> str | None:
    """None when a pre-checkout query may go ahead; else the reason it may not (English:
    the caller translates it with :data:`REASONS`)."""
    parsed = parse_payload(payload)
    if parsed is None:
        return "payload"
    plan = catalog.get(parsed.plan)
    if plan is None or not plan.stars:
        return "plan"
    if currency != CURRENCY:
        return "currency"
    if amount != plan.stars:
        return "amount"
    if learner_id is None or learner_id != parsed.learner_id:
        return "learner"
    return None


def event(
    update: PaymentUpdate, learner_id: int, occurred_at: datetime, source: str = ""
) -> PaymentEvent:
    """A Stars payment or refund as a payment event for the ledger; ``source`` names the
    message that carried it (see :attr:`PaymentEvent.source`)."""
    parsed = parse_payload(update.payload)
    plan = parsed.plan if parsed else None
    if update.kind == "refunded":
        return PaymentEvent(
            provider=Provider.TELEGRAM,
            event_id=f"refund:{update.charge_id}",
            kind=EventKind.REFUND,
            occurred_at=occurred_at,
            learner_id=learner_id,
            plan=plan,
            amount=update.amount,
            currency=update.currency,
            object_ref=update.charge_id,
            source=source,
        )
    renewal = update.is_recurring and not update.is_first_recurring
    return PaymentEvent(
        provider=Provider.TELEGRAM,
        event_id=f"charge:{update.charge_id}",
        kind=EventKind.RENEWAL if renewal else EventKind.PURCHASE,
        occurred_at=occurred_at,
        learner_id=learner_id,
        plan=plan,
        amount=update.amount,
        currency=update.currency,
        object_ref=update.charge_id,
        # A Stars subscription is known by its first charge, the id that cancelling names;
        # renewals carry their own charge ids and find the subscription on the record.
        subscription_ref=update.charge_id if update.is_first_recurring else None,
        period_end=update.expires_at,
        source=source,
    )
