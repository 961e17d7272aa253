"""Stripe webhook events, as plain dicts, turned into ledger :class:`PaymentEvent`\\ s.

    Stripe event                     PaymentEvent
    ──────────────────────────────── ─────────────────────────────────────────────────
    checkout.session.completed       purchase (paid sessions only): a pack, object_ref
      (and async_payment_succeeded)  the payment intent; or a subscription, with its id
    invoice.paid                     renewal (subscription_cycle); the first invoice of
                                     a subscription is a renewal marked FIRST_INVOICE
                                     (it records the period end and the payment intent
                                     a refund will name, or the invoice id when the
                                     body has none: the rail then finds the invoice a
                                     refund's payment intent paid; the learner is not
                                     told twice)
    customer.subscription.updated    cancel, when it is set to end at the period end
    customer.subscription.deleted    ended
    charge.refunded                  refund of the payment intent (full or partial)

Anything else maps to nothing. On the API version the SDK pins (``2026-10-28.endive``)
an invoice names its subscription at ``parent.subscription_details.subscription`` and a
subscription's ``current_period_end`` is on its items; older shapes are read too, so the
recorded events of older API versions still map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from payments.ledger import EventKind, PaymentEvent, Provider

#: ``PaymentEvent.reason`` of the renewal a subscription's first invoice becomes.
FIRST_INVOICE = "first invoice"
#: Resolves a Payment Link id to the plan it sells (the ``payment_links`` cache).
LinkLookup = Callable[[str], str | None]

_RENEWING = frozenset({"subscription_cycle", "subscription_create", "subscription_update"})


def when(timestamp: Any) -> datetime | None:
    """A Stripe Unix timestamp as an aware UTC datetime."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (ValueError, OverflowError, OSError):  # past year 9999, NaN: no real event's time
        return None


def ref(value: Any) -> str | None:
    """An id, whether the field holds the id or the expanded object."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        found = value.get("id")
        return found if isinstance(found, str) and found else None
    return None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _text(data: Any, *path: str) -> str | None:
    value = _get(data, *path)
    return value if isinstance(value, str) and value else None


def _int(data: Any, *path: str) -> int | None:
    value = _get(data, *path)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Amounts are stored in a 32-bit column; Stripe's own limit is 8 digits of minor units.
MAX_AMOUNT = 2**31 - 1


def _amount(data: Any, *path: str) -> int | None:
    """An amount in minor units, or None when missing or beyond any real charge."""
    value = _int(data, *path)
    return value if value is not None and 0 <= value <= MAX_AMOUNT else None


def _items(data: Any, *path: str) -> list[Any]:
    value = _get(data, *path, "data")
    return list(value) if isinstance(value, list) else []


def period_end(subscription: Mapping[str, Any]) -> datetime | None:
    """The latest ``current_period_end`` of a subscription's items (or its own, older)."""
    ends = [_int(item, "current_period_end") for item in _items(subscription, "items")]
    ends.append(_int(subscription, "current_period_end"))
    found = [end for end in ends if end is not None]
    return when(max(found)) if found else None


def events_from(event: Mapping[str, Any], links: LinkLookup | None = None) -> list[PaymentEvent]:
    """The ledger events one Stripe event means (usually one, often none)."""
    kind = _text(event, "type") or ""
    mapper = _MAPPERS.get(kind)
    obj = _get(event, "data", "object")
    event_id = _text(event, "id")
    occurred = when(_get(event, "created"))
    if mapper is None or not isinstance(obj, Mapping) or event_id is None or occurred is None:
        return []
    found = mapper(event_id, occurred, obj, links)
    return [found] if found is not None else []


def _checkout(
    event_id: str, occurred: datetime, session: Mapping[str, Any], links: LinkLookup | None
) -> PaymentEvent | None:
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return None  # an async method (SEPA): async_payment_succeeded follows
    mode = session.get("mode")
    plan = _text(session, "metadata", "plan")
    link = ref(session.get("payment_link"))
    if plan is None and link is not None and links is not None:
        plan = links(link)
    common: dict[str, Any] = {
        "provider": Provider.STRIPE,
        "event_id": event_id,
        "kind": EventKind.PURCHASE,
        "occurred_at": occurred,
        "reference": _text(session, "client_reference_id"),
        "plan": plan,
        "amount": _amount(session, "amount_total"),
        "currency": _text(session, "currency"),
        "customer_ref": ref(session.get("customer")),
    }
    if mode == "payment":
        return PaymentEvent(**common, object_ref=ref(session.get("payment_intent")))
    if mode == "subscription":
        return PaymentEvent(
            **common,
            subscription_ref=ref(session.get("subscription")),
            object_ref=ref(session.get("invoice")),
        )
    return None


def _invoice_subscription(invoice: Mapping[str, Any]) -> str | None:
    return ref(_get(invoice, "parent", "subscription_details", "subscription")) or ref(
        invoice.get("subscription")
    )


def _invoice_payment(invoice: Mapping[str, Any]) -> str | None:
    """The payment intent that paid the invoice (``payments`` when expanded, or the
    pre-2025 top-level field); else the invoice's own id."""
    for payment in _items(invoice, "payments"):
        found = ref(_get(payment, "payment", "payment_intent"))
        if found:
            return found
    return ref(invoice.get("payment_intent")) or _text(invoice, "id")


def _invoice_plan(invoice: Mapping[str, Any]) -> str | None:
    candidates = [
        _get(invoice, "parent", "subscription_details", "metadata", "plan"),
        _get(invoice, "subscription_details", "metadata", "plan"),
        *(_get(line, "metadata", "plan") for line in _items(invoice, "lines")),
    ]
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _invoice_paid(
    event_id: str, occurred: datetime, invoice: Mapping[str, Any], links: LinkLookup | None
) -> PaymentEvent | None:
    subscription = _invoice_subscription(invoice)
    reason = invoice.get("billing_reason")
    if subscription is None or reason not in _RENEWING:
        return None
    ends = [_int(line, "period", "end") for line in _items(invoice, "lines")]
    found = [end for end in ends if end is not None]
    return PaymentEvent(
        provider=Provider.STRIPE,
        event_id=event_id,
        kind=EventKind.RENEWAL,
        occurred_at=occurred,
        subscription_ref=subscription,
        customer_ref=ref(invoice.get("customer")),
        plan=_invoice_plan(invoice),
        amount=_amount(invoice, "amount_paid"),
        currency=_text(invoice, "currency"),
        object_ref=_invoice_payment(invoice),
        period_end=when(max(found)) if found else None,
        reason=FIRST_INVOICE if reason == "subscription_create" else "",
    )


def _subscription_updated(
    event_id: str, occurred: datetime, subscription: Mapping[str, Any], links: LinkLookup | None
) -> PaymentEvent | None:
    ending = subscription.get("cancel_at_period_end") is True or bool(subscription.get("cancel_at"))
    if not ending or subscription.get("status") in ("canceled", "incomplete_expired"):
        return None
    return PaymentEvent(
        provider=Provider.STRIPE,
        event_id=event_id,
        kind=EventKind.CANCEL,
        occurred_at=occurred,
        subscription_ref=_text(subscription, "id"),
        customer_ref=ref(subscription.get("customer")),
        period_end=period_end(subscription),
    )


def _subscription_deleted(
    event_id: str, occurred: datetime, subscription: Mapping[str, Any], links: LinkLookup | None
) -> PaymentEvent | None:
    return PaymentEvent(
        provider=Provider.STRIPE,
        event_id=event_id,
        kind=EventKind.ENDED,
        occurred_at=occurred,
        subscription_ref=_text(subscription, "id"),
        customer_ref=ref(subscription.get("customer")),
    )


def _charge_refunded(
    event_id: str, occurred: datetime, charge: Mapping[str, Any], links: LinkLookup | None
) -> PaymentEvent | None:
    refunded = _amount(charge, "amount_refunded") or 0
    amount = _amount(charge, "amount") or 0
    return PaymentEvent(
        provider=Provider.STRIPE,
        event_id=event_id,
        kind=EventKind.REFUND,
        occurred_at=occurred,
        plan=_text(charge, "metadata", "plan"),
        amount=refunded,
        currency=_text(charge, "currency"),
        object_ref=ref(charge.get("payment_intent")) or _text(charge, "id"),
        customer_ref=ref(charge.get("customer")),
        full_refund=refunded >= amount,
    )


_Mapper = Callable[[str, datetime, Mapping[str, Any], LinkLookup | None], PaymentEvent | None]
_MAPPERS: dict[str, _Mapper] = {
    "checkout.session.completed": _checkout,
    "checkout.session.async_payment_succeeded": _checkout,
    "invoice.paid": _invoice_paid,
    "customer.subscription.updated": _subscription_updated,
    "customer.subscription.deleted": _subscription_deleted,
    "charge.refunded": _charge_refunded,
}
