"""Stripe's subscriptions compared with the entitlement records: drift is reported, not fixed.

Webhooks can be lost for good (an endpoint down for more than Stripe's three days of
retries) or applied out of order; this check finds where the two disagree:

    what                      Stripe says                    the record says
    ───────────────────────── ────────────────────────────── ──────────────────────────
    not_on_record             active (trialing, past_due)    not subscribed
    not_active_at_stripe      canceled, unpaid, expired, or  subscribed
                              no such subscription
    period_end                active, period ends on day X   subscribed until X ± >1 day
    unknown_subscription      active                         no record holds it

Each run logs the drift and stores one ``payment_reconciliations`` row; an admin
decides (a grant, a revoke, or a resent event). Entitlements are never changed here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Engine, insert, or_, select

from payments.stripe_rail import RemoteSubscription
from tutor.models import entitlements, payment_reconciliations

logger = logging.getLogger(__name__)

PROVIDER = "stripe"
#: Period ends closer than this agree (time zones, a renewal a few hours late).
TOLERANCE = timedelta(days=1)
ACTIVE = frozenset({"active", "trialing", "past_due"})
OVER = frozenset({"canceled", "unpaid", "incomplete_expired"})


class SubscriptionSource(Protocol):
    """What reconciliation needs of the rail (the real one or a test double)."""

    def subscriptions(self) -> Iterable[RemoteSubscription]: ...


class DriftKind(StrEnum):
    NOT_ON_RECORD = "not_on_record"
    NOT_ACTIVE_AT_STRIPE = "not_active_at_stripe"
    PERIOD_END = "period_end"
    UNKNOWN = "unknown_subscription"


@dataclass(frozen=True, slots=True)
class Drift:
    """One disagreement between Stripe and a record."""

    what: DriftKind
    subscription: str
    learner_id: int | None = None
    stripe_status: str | None = None
    stripe_period_end: datetime | None = None
    record_period_end: datetime | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "what": self.what.value,
            "subscription": self.subscription,
            "learner_id": self.learner_id,
            "stripe_status": self.stripe_status,
            "stripe_period_end": _iso(self.stripe_period_end),
            "record_period_end": _iso(self.record_period_end),
        }

    def line(self) -> str:
        who = f"learner {self.learner_id}" if self.learner_id is not None else "no learner"
        ends = ""
        if self.stripe_period_end or self.record_period_end:
            ends = (
                f" (Stripe {_day(self.stripe_period_end)}, record {_day(self.record_period_end)})"
            )
        status = self.stripe_status or "missing"
        return f"{self.what.value}: {self.subscription} [{status}] {who}{ends}"


@dataclass(frozen=True, slots=True)
class Report:
    """What one run compared and found."""

    ran_at: datetime
    checked: int  # subscriptions listed at Stripe
    records: int  # Stripe records in the database
    drift: tuple[Drift, ...] = field(default=())

    def count(self, what: DriftKind) -> int:
        return sum(1 for item in self.drift if item.what is what)

    def lines(self) -> list[str]:
        """The report as a CLI prints it."""
        head = (
            f"Stripe reconciliation {self.ran_at:%Y-%m-%d %H:%M} UTC: "
            f"{self.checked} subscriptions at Stripe, {self.records} records, "
            f"{len(self.drift)} drift"
        )
        counts = [f"  {kind.value}: {self.count(kind)}" for kind in DriftKind if self.count(kind)]
        return [head, *counts, *(f"  - {item.line()}" for item in self.drift)]


@dataclass(frozen=True, slots=True)
class _Record:
    learner_id: int
    subscription_ref: str
    active: bool
    period_end: datetime | None


def reconcile_stripe(engine: Engine, rail: SubscriptionSource, now: datetime) -> Report:
    """Compare Stripe's subscriptions with the records; store and return the drift."""
    remote: dict[str, RemoteSubscription] = {sub.id: sub for sub in rail.subscriptions()}
    records = _records(engine)
    drift: list[Drift] = []
    for record in records.values():
        found = remote.get(record.subscription_ref)
        drift.extend(_compare(record, found))
    for sub in remote.values():
        if sub.id not in records and sub.status in ACTIVE:
            drift.append(Drift(DriftKind.UNKNOWN, sub.id, None, sub.status, sub.current_period_end))
    report = Report(now, len(remote), len(records), tuple(drift))
    with engine.begin() as connection:
        connection.execute(
            insert(payment_reconciliations).values(
                provider=PROVIDER,
                ran_at=now,
                checked=len(remote),
                drift=[item.to_data() for item in drift],
            )
        )
    for item in drift:
        logger.warning(
            "stripe drift",
            extra={"what": item.what.value, "subscription": item.subscription},
        )
    logger.info(
        "stripe reconciled",
        extra={"checked": len(remote), "records": len(records), "drift": len(drift)},
    )
    return report


def _records(engine: Engine) -> dict[str, _Record]:
    query = select(
        entitlements.c.learner_id,
        entitlements.c.subscription_ref,
        entitlements.c.subscription_active,
        entitlements.c.next_payment_date,
    ).where(
        entitlements.c.subscription_ref.is_not(None),
        or_(
            entitlements.c.rail == PROVIDER,
            entitlements.c.subscription_ref.startswith("sub_", autoescape=True),
        ),
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return {
        row.subscription_ref: _Record(
            int(row.learner_id),
            row.subscription_ref,
            bool(row.subscription_active),
            row.next_payment_date,
        )
        for row in rows
    }


def _compare(record: _Record, found: RemoteSubscription | None) -> list[Drift]:
    ref, learner = record.subscription_ref, record.learner_id
    if found is None:
        if record.active:
            return [
                Drift(DriftKind.NOT_ACTIVE_AT_STRIPE, ref, learner, None, None, record.period_end)
            ]
        return []
    drift = Drift(
        DriftKind.PERIOD_END,
        ref,
        learner,
        found.status,
        found.current_period_end,
        record.period_end,
    )
    if found.status in ACTIVE and not record.active:
        return [replace(drift, what=DriftKind.NOT_ON_RECORD)]
    if found.status in OVER and record.active:
        return [replace(drift, what=DriftKind.NOT_ACTIVE_AT_STRIPE)]
    if found.status in ACTIVE and _apart(found.current_period_end, record.period_end):
        return [drift]
    return []


def _apart(stripe_end: datetime | None, record_end: datetime | None) -> bool:
    if stripe_end is None or record_end is None:
        return (stripe_end is None) != (record_end is None)
    return abs(stripe_end - record_end) > TOLERANCE


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _day(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d}" if when is not None else "—"
