"""What an admin can do to a learner's entitlement: grant, revoke, refund Stars, look.

Each change is a payment event of its own (provider ``admin`` for grants and revokes,
``telegram`` for a Stars refund, under the same id as Telegram's own refund update, so
the update that follows changes nothing), with the admin's reason in its record: the
history says who was given what and why. The command line (``tutor payments``) and the
admin page use these functions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from payments import entitlements as records
from payments import ledger
from payments.entitlements import Entitlement
from payments.ledger import Applied, EventKind, PaymentEvent, Provider, Status
from payments.plans import Catalog
from tutor.models import learners, payment_events, utcnow


class AdminError(Exception):
    """The admin's request cannot be done (no such learner, no such payment)."""


@dataclass(frozen=True, slots=True)
class Summary:
    learner_key: str
    entitlement: Entitlement
    history: list[dict[str, Any]]

    def lines(self, now: datetime) -> list[str]:
        record = self.entitlement
        until = (
            f"{record.next_payment_date:%Y-%m-%d %H:%M} UTC" if record.next_payment_date else "-"
        )
        state = "active" if record.subscribed(now) else "inactive"
        lines = [
            f"learner: {self.learner_key}",
            f"plan: {record.plan} ({state}), rail: {record.rail or '-'}, until: {until}"
            + (", cancelled at period end" if record.cancel_at_period_end else ""),
            f"lessons from packs: {record.lessons_remaining}",
            f"payment reference: {record.reference}",
            "payment events:" if self.history else "payment events: none",
        ]
        for event in self.history:
            lines.append(
                f"  {event['received_at']:%Y-%m-%d %H:%M} {event['provider']} {event['kind']} "
                f"{event['plan'] or '-'} {event['amount'] or ''} {event['currency'] or ''} "
                f"[{event['status']}] {event['detail']} ({event['event_id']})"
            )
        return lines


def _learner_id(engine: Engine, learner_key: str) -> int:
    with engine.connect() as connection:
        found = connection.execute(
            select(learners.c.id).where(learners.c.key == learner_key)
        ).scalar()
    if found is None:
        raise AdminError(f"no learner {learner_key!r}")
    return int(found)


def summary(engine: Engine, learner_key: str, now: datetime | None = None) -> Summary:
    learner_id = _learner_id(engine, learner_key)
    with engine.begin() as connection:
        record = records.ensure(connection, learner_id, now or utcnow())
        history = ledger.history(connection, learner_id)
    return Summary(learner_key, record, history)


def grant(
    engine: Engine,
    catalog: Catalog,
    learner_key: str,
    *,
    days: int = 0,
    lessons: int = 0,
    reason: str,
    admin: str = "cli",
) -> Applied:
    """Give days of the subscription plan and/or lessons, with a reason (required)."""
    return _change(engine, catalog, learner_key, EventKind.GRANT, days, lessons, reason, admin)


def revoke(
    engine: Engine,
    catalog: Catalog,
    learner_key: str,
    *,
    lessons: int = 0,
    reason: str,
    admin: str = "cli",
) -> Applied:
    """Take a granted subscription back (or ``lessons`` lessons), with a reason."""
    return _change(engine, catalog, learner_key, EventKind.REVOKE, 0, lessons, reason, admin)


def _change(
    engine: Engine,
    catalog: Catalog,
    learner_key: str,
    kind: EventKind,
    days: int,
    lessons: int,
    reason: str,
    admin: str,
) -> Applied:
    if not reason.strip():
        raise AdminError("say why: a reason is required")
    if days < 0 or lessons < 0:
        raise AdminError("days and lessons are 0 or more")
    if kind is EventKind.GRANT and not (days or lessons):
        raise AdminError("grant days, lessons or both")
    event = PaymentEvent(
        provider=Provider.ADMIN,
        event_id=f"{kind.value}:{uuid.uuid4().hex}",
        kind=kind,
        occurred_at=utcnow(),
        learner_id=_learner_id(engine, learner_key),
        days=days,
        lessons=lessons,
        reason=f"{reason.strip()[:150]} (by {admin})",
    )
    return ledger.record(engine, event, catalog)


def refund_stars(
    engine: Engine,
    catalog: Catalog,
    learner_key: str,
    charge_id: str,
    refund: Callable[[str, str], None],
    *,
    reason: str,
) -> Applied:
    """Refund a Stars payment through the Bot API (``refund(user_id, charge_id)``), then
    record it under the id Telegram's own refund update will carry."""
    if not learner_key.startswith("telegram:"):
        raise AdminError("Stars payments belong to Telegram learners")
    learner_id = _learner_id(engine, learner_key)
    with engine.connect() as connection:
        paid = connection.execute(
            select(payment_events.c.plan, payment_events.c.amount).where(
                payment_events.c.provider == Provider.TELEGRAM.value,
                payment_events.c.object_ref == charge_id,
                payment_events.c.learner_id == learner_id,
                payment_events.c.status == Status.APPLIED.value,
            )
        ).first()
    if paid is None:
        raise AdminError(f"no Stars payment {charge_id!r} by {learner_key}")
    refund(learner_key.split(":", 1)[1], charge_id)
    event = PaymentEvent(
        provider=Provider.TELEGRAM,
        event_id=f"refund:{charge_id}",
        kind=EventKind.REFUND,
        occurred_at=utcnow(),
        learner_id=learner_id,
        plan=paid.plan,
        amount=paid.amount,
        currency="XTR",
        object_ref=charge_id,
        reason=reason,
    )
    return ledger.record(engine, event, catalog)
