"""One entitlement record per learner, whatever the rail: what they have and until when.

The row is created on first need with the free plan and an opaque ``reference`` (the
id payment links carry, never a chat id). Only :mod:`payments.ledger` (signed payment
events, admin grants) and :mod:`payments.metering` (lessons used) change it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from payments.plans import FREE
from tutor.models import entitlements, learners

#: A renewal may arrive a little after the period ends (Stripe retries a failed card,
#: Telegram charges at expiry): access lasts this much longer before it lapses.
GRACE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Entitlement:
    """A snapshot of the record."""

    learner_id: int
    reference: str
    plan: str
    rail: str | None
    subscription_active: bool
    subscription_ref: str | None
    customer_ref: str | None
    cancel_at_period_end: bool
    next_payment_date: datetime | None
    lessons_remaining: int
    lesson_open_until: datetime | None

    def subscribed(self, now: datetime, grace: timedelta = GRACE) -> bool:
        """True while a paid (or granted) subscription covers ``now``."""
        if not self.subscription_active:
            return False
        return self.next_payment_date is None or now < self.next_payment_date + grace

    @classmethod
    def from_row(cls, row: Any) -> Entitlement:
        return cls(
            learner_id=int(row.learner_id),
            reference=row.reference,
            plan=row.plan,
            rail=row.rail,
            subscription_active=bool(row.subscription_active),
            subscription_ref=row.subscription_ref,
            customer_ref=row.customer_ref,
            cancel_at_period_end=bool(row.cancel_at_period_end),
            next_payment_date=row.next_payment_date,
            lessons_remaining=int(row.lessons_remaining),
            lesson_open_until=row.lesson_open_until,
        )


def new_reference() -> str:
    """An unguessable id that Stripe accepts as ``client_reference_id`` (``[A-Za-z0-9_-]``)."""
    return "L" + secrets.token_urlsafe(15)


def ensure(connection: Connection, learner_id: int, now: datetime) -> Entitlement:
    """The learner's record, created on the free plan if they have none; locked for
    update where the database can (PostgreSQL, Oracle) until the transaction ends."""
    query = select(entitlements).where(entitlements.c.learner_id == learner_id)
    row = connection.execute(query.with_for_update()).first()
    if row is not None:
        return Entitlement.from_row(row)
    try:
        with connection.begin_nested():
            connection.execute(
                insert(entitlements).values(
                    learner_id=learner_id,
                    reference=new_reference(),
                    plan=FREE,
                    rail=None,
                    subscription_active=False,
                    cancel_at_period_end=False,
                    lessons_remaining=0,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:
        pass  # created by a concurrent transaction: read theirs
    return Entitlement.from_row(connection.execute(query.with_for_update()).one())


def get(connection: Connection, learner_id: int) -> Entitlement | None:
    row = connection.execute(
        select(entitlements).where(entitlements.c.learner_id == learner_id)
    ).first()
    return Entitlement.from_row(row) if row is not None else None


def by_reference(connection: Connection, reference: str) -> int | None:
    """The learner a payment link's reference names."""
    return connection.execute(
        select(entitlements.c.learner_id).where(entitlements.c.reference == reference)
    ).scalar()


def by_subscription(connection: Connection, subscription_ref: str) -> int | None:
    """The learner whose record holds this subscription."""
    return connection.execute(
        select(entitlements.c.learner_id).where(entitlements.c.subscription_ref == subscription_ref)
    ).scalar()


def learner_of(connection: Connection, learner_id: int) -> tuple[str, str, str] | None:
    """``(key, channel, chat_id)`` of a learner, to send them a notice."""
    row = connection.execute(
        select(learners.c.key, learners.c.channel, learners.c.chat_id).where(
            learners.c.id == learner_id
        )
    ).first()
    return (row.key, row.channel, row.chat_id) if row is not None else None
