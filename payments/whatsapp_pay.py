"""WhatsApp Pay (India, Brazil): the order a learner pays inside the chat, and its statuses.

The Payments API exists only in India (UPI, payment gateways) and Brazil (Pix, boleto,
links); everywhere else the tutor sends a Stripe Payment Link. Here:

    available(settings, phone)      → the currency WhatsApp Pay takes from that number
    order(plan, reference_id, ...)  → the ``parameters`` of an ``order_details`` message
    events_from_status(status)      → a ``statuses[]`` item of type ``payment`` as ledger
                                      events (captured → purchase, completed refunds)
    order_status(reference_id, ...) → the ``parameters`` of the ``order_status`` message
                                      a seller sends once the order is paid

A reference id is ``"<plan>-<learner id>-<issued, unix seconds in base 36>"``: the
payment status echoes it, so it alone names the learner and what they bought. Wire
formats (Meta's "Receive payments via payment gateways on WhatsApp", Payments API
India/Brazil "Orders", "Send order status template message"; mirrored at
support.chatarchitect.com/books/meta-whatsapp/chapter/payments):

    order_details action  {"name": "review_and_pay", "parameters": {"reference_id",
                           "type": "digital-goods", "payment_type", "payment_configuration",
                           "currency", "total_amount": {"value", "offset"},
                           "order": {"status": "pending", "items": [{"retailer_id",
                           "name" (≤60), "amount": {"value", "offset"}, "quantity"}],
                           "subtotal": {"value", "offset"}}}}
    payment status        {"id": wamid, "type": "payment", "status": "captured" | "pending"
                           | "failed", "timestamp", "recipient_id", "payment":
                           {"reference_id", "amount": {"value", "offset"}, "currency",
                           "transaction": {"id", "type", "status", "created_timestamp",
                           "updated_timestamp", "amount", "currency", "refunds": [{"id",
                           "amount", "status": "completed", ...}] | null}}}
    order_status action   {"name": "review_order", "parameters": {"reference_id",
                           "order": {"status": "processing" | "completed" | ...}}}

Refunds arrive on the same payment status (still ``captured``) as entries of
``transaction.refunds`` (Kaleyra's recording of the Cloud API webhook,
developers.kaleyra.io/docs/whatsapp-payments-webhook).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from payments import ledger
from payments.ledger import Applied, EventKind, PaymentEvent, Provider, Status
from payments.plans import Catalog, Plan
from tutor import logs, outbox
from tutor.messages import Channel, Invoice, Reply
from tutor.models import learners

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from tutor.settings import Settings

logger = logging.getLogger(__name__)

#: Meta: reference_id is case sensitive, at most 35 letters, digits, ``_``, ``-`` or ``.``.
REFERENCE_LIMIT = 35
REFERENCE = re.compile(r"[A-Za-z0-9_.-]{1,35}")
#: Plan.prices are hundredths (paise, centavos): ``{"value": 79900, "offset": 100}`` is ₹799.
OFFSET = 100
ITEM_NAME_LIMIT = 60
#: ``payment_type`` by currency: UPI in India, ``br`` in Brazil.
PAYMENT_TYPES = {"INR": "upi", "BRL": "br"}
ORDER_TYPE = "digital-goods"  # lessons and subscriptions: nothing is shipped
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Reference:
    """What a reference id names: the plan, the learner, and when the order was issued."""

    plan: str
    learner_id: int
    issued: int

    def __str__(self) -> str:
        return f"{self.plan}-{self.learner_id}-{_base36(self.issued)}"


def reference_id(plan_id: str, learner_id: int, now: datetime) -> str:
    """A fresh order reference; ValueError when the plan id is too long to fit in 35."""
    text = str(Reference(plan_id, learner_id, int(now.timestamp())))
    if not REFERENCE.fullmatch(text):
        raise ValueError(f"plan id {plan_id!r} is too long for a WhatsApp Pay reference")
    return text


def parse_reference(text: str) -> Reference | None:
    """The reference a status echoes; None for one this tutor did not issue."""
    plan, _, rest = text.partition("-")
    learner, _, issued = rest.partition("-")
    if not (plan and learner.isdigit() and issued.isalnum() and issued.isascii()):
        return None
    return Reference(plan, int(learner), int(issued, 36))


def available(settings: Settings, phone: str) -> str | None:
    """The currency WhatsApp Pay takes from ``phone`` (its calling code), or None: off,
    no payment configuration, a country without it, or no number known (a BSUID)."""
    if not settings.whatsapp_pay_enabled or not settings.whatsapp_pay_configuration:
        return None
    digits = phone.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        return None
    codes = sorted(settings.whatsapp_pay_currencies.items(), key=lambda item: -len(item[0]))
    return next((currency for code, currency in codes if digits.startswith(code)), None)


def price(plan: Plan, currency: str) -> int | None:
    """The plan's price in ``currency`` (minor units), or None when not sold in it."""
    amount = plan.prices.get(currency.upper())
    return amount if amount else None


def order(
    plan: Plan, reference_id: str, currency: str, lang: str, configuration: str
) -> dict[str, Any]:
    """The ``order_details`` parameters for one ``plan`` (ValueError if it has no price in
    ``currency`` or the reference breaks Meta's rules)."""
    code = currency.upper()
    amount = price(plan, code)
    if amount is None:
        raise ValueError(f"plan {plan.id!r} has no {code} price")
    if not REFERENCE.fullmatch(reference_id):
        raise ValueError("a reference id is 1-35 letters, digits, _ - or .")
    money = {"value": amount, "offset": OFFSET}
    return {
        "reference_id": reference_id,
        "type": ORDER_TYPE,
        "payment_type": PAYMENT_TYPES.get(code, "upi"),
        "payment_configuration": configuration,
        "currency": code,
        "total_amount": money,
        "order": {
            "status": "pending",  # the only status an order_details message may carry
            "items": [
                {
                    "retailer_id": plan.id,
                    "name": plan.name(lang)[:ITEM_NAME_LIMIT],
                    "amount": money,
                    "quantity": 1,
                }
            ],
            "subtotal": money,
        },
    }


def order_status(reference_id: str, status: str = COMPLETED) -> dict[str, Any]:
    """The ``order_status`` parameters: ``completed`` once the learner has what they paid."""
    return {"reference_id": reference_id, "order": {"status": status}}


# Payment statuses -----------------------------------------------------------


def events_from_status(status: dict[str, Any]) -> list[PaymentEvent]:
    """Ledger events for one ``type: payment`` status: a purchase when ``captured``, a
    refund per completed refund; nothing (logged) while pending or after a failure."""
    state = str(status.get("status") or "")
    payment = _dict(status.get("payment"))
    transaction = _dict(payment.get("transaction"))
    text = payment.get("reference_id")
    ref_text = text if isinstance(text, str) and text else f"{status.get('id')}"
    parsed = parse_reference(ref_text)
    if state != "captured":
        level = logging.WARNING if state == "failed" else logging.INFO
        logger.log(
            level,
            "whatsapp pay status; nothing to apply",
            extra={"status": state, "transaction_status": transaction.get("status")},
        )
        return []
    common: dict[str, Any] = {
        "provider": Provider.WHATSAPP,
        "learner_id": parsed.learner_id if parsed else None,
        "plan": parsed.plan if parsed else None,
        "currency": _currency(payment, transaction),
        "object_ref": ref_text,  # refunds find the purchase through the order
    }
    paid = _minor(payment.get("amount")) or _minor(transaction.get("amount"))
    events = [
        PaymentEvent(
            event_id=f"{ref_text}:captured",  # one order is paid once, whatever retries
            kind=EventKind.PURCHASE,
            occurred_at=_when(status.get("timestamp")),
            amount=paid,
            **common,
        )
    ]
    for refund in _refunds(transaction):
        amount = _minor(refund.get("amount"))
        events.append(
            PaymentEvent(
                event_id=f"{ref_text}:refund:{refund['id']}",
                kind=EventKind.REFUND,
                occurred_at=_when(refund.get("updated_timestamp") or status.get("timestamp")),
                amount=amount,
                full_refund=amount is None or paid is None or amount >= paid,
                **common,
            )
        )
    return events


def record_in(
    connection: Connection, event: PaymentEvent, catalog: Catalog, now: datetime
) -> Applied:
    """:func:`payments.ledger.record_in`, after dropping a learner id no learner has (a
    reference from another database): the ledger then keeps the event ``ignored``."""
    if event.learner_id is not None:
        known = connection.execute(
            select(learners.c.id).where(learners.c.id == event.learner_id)
        ).first()
        if known is None:
            event = replace(event, learner_id=None)
    return ledger.record_in(connection, event, catalog, now)


def queue_order_status(connection: Connection, applied: Applied) -> str | None:
    """Queue ``order_status: completed`` for a newly applied WhatsApp Pay purchase, in the
    caller's transaction; the learner key to nudge, or None when nothing was queued.

    Meta asks the seller to send it after a capture: it closes the order card in the
    learner's chat. It goes through the outbox (retried, in order with the learner's other
    messages), not from the webhook request.
    """
    event = applied.event
    if (
        not applied.new
        or applied.status is not Status.APPLIED
        or event.provider is not Provider.WHATSAPP
        or event.kind is not EventKind.PURCHASE
        or applied.learner_id is None
        or not event.object_ref
    ):
        return None
    row = connection.execute(learners.select().where(learners.c.id == applied.learner_id)).first()
    if row is None or row.channel != Channel.WHATSAPP.value:
        return None
    lang = str(row.profile.get("explanation_language") or row.profile.get("ui_hint") or "en")
    name = applied.plan.name(lang) if applied.plan else str(event.plan)
    invoice = Invoice(
        title=name,
        description="",
        payload=event.object_ref,
        currency=event.currency or "",
        amount=event.amount or 0,
        order=order_status(event.object_ref),
    )
    outbox.add(
        connection,
        inbox_id=None,
        learner_key=row.key,
        channel=Channel.WHATSAPP,
        chat_id=row.chat_id,
        replies=(Reply(f"✅ {name}", invoice=invoice),),
        correlation_id=str(logs.current().get("correlation_id") or logs.new_correlation_id()),
    )
    return str(row.key)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _refunds(transaction: dict[str, Any]) -> list[dict[str, Any]]:
    refunds = transaction.get("refunds")
    if not isinstance(refunds, list):
        return []
    return [
        refund
        for refund in refunds
        if isinstance(refund, dict)
        and refund.get("status") == COMPLETED
        and isinstance(refund.get("id"), str)
        and refund["id"]
    ]


def _minor(amount: Any) -> int | None:
    """Minor units (hundredths) from ``{"value", "offset"}``; None when malformed."""
    amount = _dict(amount)
    value, offset = amount.get("value"), amount.get("offset")
    if not isinstance(value, int) or not isinstance(offset, int) or offset <= 0:
        return None
    return round(value * OFFSET / offset)


def _currency(payment: dict[str, Any], transaction: dict[str, Any]) -> str | None:
    currency = payment.get("currency") or transaction.get("currency")
    return currency.upper() if isinstance(currency, str) and currency else None


def _when(value: Any) -> datetime:
    """A webhook timestamp (seconds; milliseconds accepted) as UTC; now when absent."""
    try:
        seconds = int(value)
        if seconds > 10**11:  # milliseconds
            seconds //= 1000
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text
