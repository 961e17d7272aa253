"""Payment events, stored once under their provider id, then applied to the entitlement.

Every rail turns what its provider says into one :class:`PaymentEvent` (normalised:
no card data, no raw payload) and calls :func:`record`. In one transaction the event
is inserted under the unique ``(provider, event_id)`` *before* anything changes; a
replay or a concurrent duplicate fails that insert and changes nothing. Then:

    kind       effect on the learner's record
    ────────── ────────────────────────────────────────────────────────────────
    purchase   a pack adds its lessons; a subscription becomes active until the
               paid period ends (its subscription id is remembered)
    renewal    the period end moves forward (never back: renewals out of order
               apply in any order); ignored once the subscription has ended
    cancel     stays active until the period ends, then lapses
    ended      the subscription is over now (only the one on the record)
    refund     what the refunded payment bought is taken back: a pack's lessons
               (down to zero when some were used), or the subscription
    grant      an admin's gift: days of subscription or lessons, with a reason
    revoke     an admin takes a grant back

An event that names no learner yet (Stripe may send a renewal before the checkout
that links the subscription to a learner) is kept ``pending`` and applied when the
purchase that names the learner arrives. Unknown plans are kept ``ignored`` with the
reason, for an admin to see. Amounts are checked against the plan's price on that
rail; a difference is noted, not refused: the money was already taken.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from payments import entitlements as records
from payments.entitlements import Entitlement
from payments.plans import FREE, Catalog, Plan, PlanKind
from tutor.models import entitlements, payment_events, utcnow

logger = logging.getLogger(__name__)

#: A Stars subscription's period, the only one Telegram allows.
PERIOD = timedelta(days=30)


class EventKind(StrEnum):
    PURCHASE = "purchase"
    RENEWAL = "renewal"
    CANCEL = "cancel"
    ENDED = "ended"
    REFUND = "refund"
    GRANT = "grant"
    REVOKE = "revoke"


class Provider(StrEnum):
    TELEGRAM = "telegram"
    STRIPE = "stripe"
    WHATSAPP = "whatsapp"
    ADMIN = "admin"


#: The rail a provider's payments are recorded under.
RAIL = {
    Provider.TELEGRAM: "stars",
    Provider.STRIPE: "stripe",
    Provider.WHATSAPP: "whatsapp",
    Provider.ADMIN: "grant",
}


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One provider event, normalised. ``event_id`` is the provider's own id for it.

    The learner is named by ``learner_id`` (Telegram, admin), by ``reference`` (the
    entitlement's reference a payment link carried) or by ``subscription_ref`` (a
    subscription already on a record). ``object_ref`` is the payment it is about
    (a Stars charge id, a Stripe payment intent or invoice): refunds find what they
    take back through it. ``period_end`` is when the paid period ends.
    """

    provider: Provider
    event_id: str
    kind: EventKind
    occurred_at: datetime
    learner_id: int | None = None
    reference: str | None = None
    plan: str | None = None
    amount: int | None = None
    currency: str | None = None
    object_ref: str | None = None
    subscription_ref: str | None = None
    customer_ref: str | None = None
    period_end: datetime | None = None
    days: int = 0  # grants: days of subscription
    lessons: int = 0  # grants: lessons
    full_refund: bool = True
    reason: str = ""  # grants, revokes and refunds by an admin
    #: The message that carried the event (``inbox-<id>``), when it came in one: that same
    #: message processed again after a crash is told what the event did, not "replayed".
    source: str = ""

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return {key: value for key, value in data.items() if value not in (None, "", 0)}


class Status(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    IGNORED = "ignored"


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`record` did. ``new`` is False for a replay (nothing changed)."""

    new: bool
    status: Status
    detail: str
    event: PaymentEvent
    learner_id: int | None = None
    entitlement: Entitlement | None = None
    plan: Plan | None = None
    #: Pending events of the same subscription applied along with this one.
    also: tuple[Applied, ...] = field(default=())


def record(
    engine: Engine, event: PaymentEvent, catalog: Catalog, now: datetime | None = None
) -> Applied:
    """Store ``event`` once and apply it, in one transaction."""
    with engine.begin() as connection:
        return record_in(connection, event, catalog, now or utcnow())


def record_in(
    connection: Connection, event: PaymentEvent, catalog: Catalog, now: datetime
) -> Applied:
    """:func:`record` inside the caller's transaction."""
    row_id = _store(connection, event, now)
    if row_id is None:
        again = _recorded_by_source(connection, event, catalog)
        if again is not None:
            return again
        logger.info(
            "payment event replayed; nothing changes",
            extra={"provider": event.provider.value, "kind": event.kind.value},
        )
        return Applied(False, Status.IGNORED, "already received", event)
    applied = _apply(connection, event, catalog, now)
    _mark(connection, row_id, applied)
    if (
        applied.status is Status.APPLIED
        and event.subscription_ref
        and event.kind
        in (
            EventKind.PURCHASE,
            EventKind.GRANT,
        )
    ):
        applied = replace(applied, also=_pending(connection, event.subscription_ref, catalog, now))
    logger.info(
        "payment event recorded",
        extra={
            "provider": event.provider.value,
            "kind": event.kind.value,
            "status": applied.status.value,
            "detail": applied.detail,
        },
    )
    return applied


def _store(connection: Connection, event: PaymentEvent, now: datetime) -> int | None:
    """Insert the event's row in the caller's transaction; its id, or None when this
    provider event is already stored.

    No savepoint where the database has ``ON CONFLICT``: on SQLite a savepoint opened
    first in a transaction commits on release, so the row would outlive a rollback (or a
    crash) of the effects it stands for, and replays would then skip them. On PostgreSQL
    one subscription's events take their turn (an advisory lock until the transaction
    ends): a renewal racing its purchase must see it, or be seen by it, not neither."""
    values = {
        "provider": event.provider.value,
        "event_id": event.event_id[:191],
        "kind": event.kind.value,
        "learner_id": event.learner_id,
        "plan": event.plan,
        "amount": event.amount,
        "currency": event.currency,
        "object_ref": event.object_ref,
        "subscription_ref": event.subscription_ref,
        "status": Status.PENDING.value,
        "detail": "received",
        "occurred_at": event.occurred_at,
        "received_at": now,
        "data": event.to_data(),
    }
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql" and event.subscription_ref:
            connection.execute(
                select(func.pg_advisory_xact_lock(func.hashtext(event.subscription_ref)))
            )
        upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            upsert(payment_events)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["provider", "event_id"])
            .returning(payment_events.c.id)
        )
        found = connection.execute(statement).scalar_one_or_none()
        return None if found is None else int(found)
    try:
        with connection.begin_nested():
            inserted = connection.execute(insert(payment_events).values(**values))
    except IntegrityError:
        return None
    key = inserted.inserted_primary_key
    assert key is not None
    return int(key[0])


def _recorded_by_source(
    connection: Connection, event: PaymentEvent, catalog: Catalog
) -> Applied | None:
    """What the stored event did, when ``event`` comes again from the message that stored it.

    A worker killed after the event's transaction but before its turn's is the only way
    one message records an event twice: that turn's reply was never queued, so the
    message is answered as if new (nothing is applied again)."""
    if not event.source:
        return None
    row = connection.execute(
        select(
            payment_events.c.status,
            payment_events.c.detail,
            payment_events.c.learner_id,
            payment_events.c.plan,
            payment_events.c.data,
        ).where(
            payment_events.c.provider == event.provider.value,
            payment_events.c.event_id == event.event_id[:191],
        )
    ).first()
    if row is None or row.data.get("source") != event.source:
        return None
    logger.info(
        "payment event seen again from its own message; answered, not applied",
        extra={"provider": event.provider.value, "kind": event.kind.value},
    )
    learner_id = int(row.learner_id) if row.learner_id is not None else None
    return Applied(
        True,
        Status(row.status),
        row.detail,
        event,
        learner_id,
        records.get(connection, learner_id) if learner_id is not None else None,
        catalog.get(row.plan) if row.plan else None,
    )


def _mark(connection: Connection, row_id: int, applied: Applied) -> None:
    connection.execute(
        update(payment_events)
        .where(payment_events.c.id == row_id)
        .values(
            status=applied.status.value,
            detail=applied.detail[:200],
            learner_id=applied.learner_id,
            plan=applied.plan.id if applied.plan else applied.event.plan,
        )
    )


def _pending(
    connection: Connection, subscription_ref: str, catalog: Catalog, now: datetime
) -> tuple[Applied, ...]:
    """Apply the events that waited for this subscription's learner, oldest first."""
    rows = connection.execute(
        select(payment_events.c.id, payment_events.c.data)
        .where(
            payment_events.c.status == Status.PENDING.value,
            payment_events.c.subscription_ref == subscription_ref,
        )
        .order_by(payment_events.c.occurred_at, payment_events.c.id)
    ).all()
    done = []
    for row in rows:
        event = from_data(row.data)
        applied = _apply(connection, event, catalog, now)
        _mark(connection, int(row.id), applied)
        done.append(applied)
    return tuple(done)


def from_data(data: dict[str, Any]) -> PaymentEvent:
    """The event a ``payment_events.data`` document holds."""
    values = dict(data)
    values["provider"] = Provider(values["provider"])
    values["kind"] = EventKind(values["kind"])
    for key in ("occurred_at", "period_end"):
        if key in values:
            values[key] = datetime.fromisoformat(values[key])
    return PaymentEvent(**values)


# Applying ------------------------------------------------------------------


def _learner(connection: Connection, event: PaymentEvent) -> int | None:
    if event.learner_id is not None:
        return event.learner_id
    if event.reference:
        found = records.by_reference(connection, event.reference)
        if found is not None:
            return found
    if event.subscription_ref:
        found = records.by_subscription(connection, event.subscription_ref)
        if found is not None:
            return found
    if event.object_ref:
        found = _purchase(connection, event.object_ref, "learner_id")
        return int(found) if found is not None else None
    return None


def _purchase(connection: Connection, object_ref: str, column: str) -> Any:
    """A column of the applied purchase or renewal that paid ``object_ref``."""
    return connection.execute(
        select(payment_events.c[column])
        .where(
            payment_events.c.object_ref == object_ref,
            payment_events.c.status == Status.APPLIED.value,
            payment_events.c.kind.in_((EventKind.PURCHASE.value, EventKind.RENEWAL.value)),
        )
        .order_by(payment_events.c.id)
        .limit(1)
    ).scalar()


def _apply(connection: Connection, event: PaymentEvent, catalog: Catalog, now: datetime) -> Applied:
    learner_id = _learner(connection, event)
    if learner_id is None:
        if event.kind in (EventKind.PURCHASE, EventKind.GRANT) and not event.subscription_ref:
            return Applied(True, Status.IGNORED, "no learner matches this payment", event)
        return Applied(True, Status.PENDING, "waiting for the learner's purchase", event)
    current = records.ensure(connection, learner_id, now)
    handler = _HANDLERS[event.kind]
    status, detail, values, plan = handler(connection, event, catalog, current, now)
    if values:
        values["updated_at"] = now
        connection.execute(
            update(entitlements).where(entitlements.c.learner_id == learner_id).values(**values)
        )
    after = records.get(connection, learner_id)
    return Applied(True, status, detail, event, learner_id, after, plan)


Change = tuple[Status, str, dict[str, Any], Plan | None]


def _plan(event: PaymentEvent, catalog: Catalog) -> Plan | None:
    return catalog.get(event.plan) if event.plan else None


def _price_note(event: PaymentEvent, plan: Plan) -> str:
    if event.amount is None:
        return ""
    if event.provider is Provider.TELEGRAM:
        if event.currency not in (None, "XTR"):
            return f"; paid in {event.currency}, not Stars"
        expected = plan.stars
    elif event.currency and event.currency.upper() in plan.prices:
        expected = plan.prices[event.currency.upper()]
    else:
        expected = plan.stripe_amount
    if expected and event.amount != expected:
        return f"; paid {event.amount}, the plan costs {expected}"
    return ""


def _purchase_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    plan = _plan(event, catalog)
    if plan is None:
        return Status.IGNORED, f"unknown plan {event.plan!r}", {}, None
    note = _price_note(event, plan)
    if plan.kind is PlanKind.PACK:
        total = current.lessons_remaining + plan.lessons
        return (
            Status.APPLIED,
            f"+{plan.lessons} lessons ({total} left){note}",
            {"lessons_remaining": total, "rail": current.rail or RAIL[event.provider]},
            plan,
        )
    end = event.period_end or event.occurred_at + PERIOD
    same = current.subscription_ref == event.subscription_ref and current.next_payment_date
    if same and current.next_payment_date and current.next_payment_date > end:
        end = current.next_payment_date
    values = {
        "plan": plan.id,
        "rail": RAIL[event.provider],
        "subscription_active": True,
        "subscription_ref": event.subscription_ref,
        "customer_ref": event.customer_ref or current.customer_ref,
        "cancel_at_period_end": False,
        "next_payment_date": end,
    }
    return Status.APPLIED, f"subscribed until {end:%Y-%m-%d}{note}", values, plan


def _ended(connection: Connection, subscription_ref: str) -> bool:
    return (
        connection.execute(
            select(payment_events.c.id)
            .where(
                payment_events.c.subscription_ref == subscription_ref,
                payment_events.c.kind == EventKind.ENDED.value,
                payment_events.c.status == Status.APPLIED.value,
            )
            .limit(1)
        ).first()
        is not None
    )


def _renewal_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    plan = catalog.get(current.plan) if current.plan != FREE else _plan(event, catalog)
    if event.subscription_ref and _ended(connection, event.subscription_ref):
        return Status.IGNORED, "the subscription has already ended", {}, plan
    if event.subscription_ref and current.subscription_ref not in (None, event.subscription_ref):
        if current.subscribed(now):
            return Status.IGNORED, "another subscription is on the record", {}, plan
    end = event.period_end or event.occurred_at + PERIOD
    if (
        current.next_payment_date
        and current.next_payment_date > end
        and current.subscription_active
    ):
        return Status.APPLIED, "an earlier period, already covered", {}, plan
    values: dict[str, Any] = {
        "subscription_active": True,
        "next_payment_date": end,
        "subscription_ref": event.subscription_ref or current.subscription_ref,
        "rail": RAIL[event.provider],
    }
    if plan is not None:
        values["plan"] = plan.id
    return Status.APPLIED, f"renewed until {end:%Y-%m-%d}", values, plan


def _cancel_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    plan = catalog.get(current.plan)
    if event.subscription_ref and current.subscription_ref != event.subscription_ref:
        return Status.IGNORED, "not the subscription on the record", {}, plan
    if not current.subscription_active:
        return Status.IGNORED, "no active subscription", {}, plan
    until = current.next_payment_date
    detail = f"cancelled; access until {until:%Y-%m-%d}" if until else "cancelled"
    return Status.APPLIED, detail, {"cancel_at_period_end": True}, plan


_ENDED_VALUES = {
    "plan": FREE,
    "subscription_active": False,
    "cancel_at_period_end": False,
    "next_payment_date": None,
}


def _ended_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    plan = catalog.get(current.plan)
    if event.subscription_ref and current.subscription_ref != event.subscription_ref:
        return Status.IGNORED, "not the subscription on the record", {}, plan
    return Status.APPLIED, "subscription ended", dict(_ENDED_VALUES), plan


def _refund_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    paid_for = _purchase(connection, event.object_ref, "plan") if event.object_ref else None
    plan = catalog.get(paid_for or event.plan or "")
    if plan is None:
        return Status.IGNORED, "no applied payment matches this refund", {}, None
    if not event.full_refund:
        return Status.APPLIED, "partial refund; access unchanged", {}, plan
    if plan.kind is PlanKind.PACK:
        left = max(0, current.lessons_remaining - plan.lessons)
        used = plan.lessons - (current.lessons_remaining - left)
        detail = f"-{plan.lessons} lessons ({left} left)"
        if used:
            detail += f"; {used} of them already used"
        return Status.APPLIED, detail, {"lessons_remaining": left}, plan
    if current.plan != plan.id or not current.subscription_active:
        return Status.APPLIED, "refunded; the subscription was already over", {}, plan
    return Status.APPLIED, "refunded; subscription ended", dict(_ENDED_VALUES), plan


def _grant_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    values: dict[str, Any] = {}
    parts = []
    if event.lessons:
        values["lessons_remaining"] = current.lessons_remaining + event.lessons
        parts.append(f"+{event.lessons} lessons")
    plan = None
    if event.days:
        plan = _plan(event, catalog) or catalog.subscription
        if plan is None:
            return Status.IGNORED, "no subscription plan to grant", {}, None
        start = current.next_payment_date if current.subscribed(now) else None
        end = max(start or now, now) + timedelta(days=event.days)
        values.update(
            plan=plan.id,
            subscription_active=True,
            next_payment_date=end,
            rail=current.rail if current.subscribed(now) else RAIL[Provider.ADMIN],
        )
        if not current.subscribed(now):
            values.update(subscription_ref=None, cancel_at_period_end=True)
        parts.append(f"{plan.id} until {end:%Y-%m-%d}")
    if not parts:
        return Status.IGNORED, "a grant gives days or lessons", {}, None
    return Status.APPLIED, "granted " + ", ".join(parts) + f": {event.reason}", values, plan


def _revoke_change(
    connection: Connection,
    event: PaymentEvent,
    catalog: Catalog,
    current: Entitlement,
    now: datetime,
) -> Change:
    values: dict[str, Any] = {}
    if event.lessons:
        values["lessons_remaining"] = max(0, current.lessons_remaining - event.lessons)
    if event.days or not event.lessons:
        if current.rail not in (RAIL[Provider.ADMIN], None):
            return Status.IGNORED, "the subscription is paid; refund it instead", {}, None
        values.update(_ENDED_VALUES)
    return Status.APPLIED, f"revoked: {event.reason}", values, None


_HANDLERS = {
    EventKind.PURCHASE: _purchase_change,
    EventKind.RENEWAL: _renewal_change,
    EventKind.CANCEL: _cancel_change,
    EventKind.ENDED: _ended_change,
    EventKind.REFUND: _refund_change,
    EventKind.GRANT: _grant_change,
    EventKind.REVOKE: _revoke_change,
}


def history(connection: Connection, learner_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The learner's payment events, newest first."""
    rows = connection.execute(
        select(payment_events)
        .where(payment_events.c.learner_id == learner_id)
        .order_by(payment_events.c.received_at.desc(), payment_events.c.id.desc())
        .limit(limit)
    ).all()
    return [dict(row._mapping) for row in rows]
