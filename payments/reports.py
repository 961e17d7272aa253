"""What the admin pages read about money: subscriptions, revenue, model and voice cost, margins.

Every function is a read. Amounts stay in the currency they were paid in: whole Telegram
Stars (``XTR``) or minor units of a currency (cents for ``EUR``); nothing is added across
currencies. Model and voice costs are US dollars (the ``llm_calls`` ledger). A margin is
shown in dollars only for revenue whose currency has a rate in ``rates`` (US dollars for
one Star, one euro...); revenue in other currencies is listed beside it, unconverted.

Grouping by month and day happens in Python over one window of rows, so a month reads the
same on SQLite, PostgreSQL and Oracle; the lists admins page through (subscriptions) are
counted and sliced in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from payments.entitlements import GRACE
from payments.ledger import EventKind, Provider, Status
from payments.plans import FREE
from tutor.models import entitlements, learners, llm_calls, payment_events

STATUSES = ("active", "cancelling", "lapsed", "free", "pack")
RAILS = ("stars", "stripe", "whatsapp", "grant")
#: Digits after the decimal point of a currency's minor unit (Stars are whole).
EXPONENT = {"XTR": 0, "JPY": 0, "KRW": 0}
#: Revenue kinds: payments add, refunds take away.
PAID = (EventKind.PURCHASE.value, EventKind.RENEWAL.value)
REFUND = EventKind.REFUND.value


def major(amount: int, currency: str) -> float:
    """``amount`` minor units as a count of the currency (cents to euros; Stars as they are)."""
    return amount / 10.0 ** EXPONENT.get(currency.upper(), 2)


def parse_rates(text: str) -> dict[str, float]:
    """``"XTR:0.013,EUR:1.08"`` (US dollars for one unit) as a mapping; bad pairs are skipped."""
    rates: dict[str, float] = {}
    for item in text.split(","):
        code, _, value = item.partition(":")
        try:
            rate = float(value)
        except ValueError:
            continue
        if len(code.strip()) == 3 and rate > 0:
            rates[code.strip().upper()] = rate
    rates.setdefault("USD", 1.0)
    return rates


# Subscriptions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    """What the subscriptions list is narrowed to; empty strings mean "any"."""

    plan: str = ""
    rail: str = ""
    status: str = ""
    search: str = ""


@dataclass(frozen=True, slots=True)
class Subscriber:
    learner_id: int
    learner_key: str
    channel: str
    plan: str
    rail: str | None
    status: str
    renews: datetime | None
    lessons_left: int
    last_seen: datetime | None


def _status(now: datetime) -> ColumnElement[str]:
    """The learner's status as SQL, in the order the list's filter names them.

    A subscription covers ``now`` while its period (plus the renewal grace) lasts; past
    it, a learner with lessons from packs is ``pack``, one who had a subscription is
    ``lapsed``, anyone else ``free`` (also learners who never had a record).
    """
    active = entitlements.c.subscription_active.is_(True)
    covered = and_(
        active,
        or_(
            entitlements.c.next_payment_date.is_(None),
            entitlements.c.next_payment_date > now - GRACE,
        ),
    )
    # A gift never renews and nobody cancelled it: it is active until its date.
    cancelling = and_(
        entitlements.c.cancel_at_period_end.is_(True),
        func.coalesce(entitlements.c.rail, "") != "grant",
    )
    return case(
        (and_(covered, ~cancelling), literal("active")),
        (covered, literal("cancelling")),
        (entitlements.c.lessons_remaining > 0, literal("pack")),
        (or_(active, entitlements.c.subscription_ref.is_not(None)), literal("lapsed")),
        else_=literal("free"),
    )


def _listing(filters: Filters, now: datetime) -> Select[Any]:
    status = _status(now).label("status")
    query = select(
        learners.c.id,
        learners.c.key,
        learners.c.channel,
        func.coalesce(entitlements.c.plan, FREE).label("plan"),
        entitlements.c.rail,
        status,
        entitlements.c.next_payment_date,
        func.coalesce(entitlements.c.lessons_remaining, 0).label("lessons"),
        learners.c.last_inbound_at,
    ).select_from(learners.outerjoin(entitlements, entitlements.c.learner_id == learners.c.id))
    if filters.plan:
        query = query.where(func.coalesce(entitlements.c.plan, FREE) == filters.plan)
    if filters.rail:
        query = query.where(entitlements.c.rail == filters.rail)
    if filters.status in STATUSES:
        query = query.where(_status(now) == filters.status)
    search = filters.search.strip()
    if search:
        matches = learners.c.key.contains(search.lower(), autoescape=True)
        if search.isdigit():
            matches = or_(learners.c.id == int(search), matches)
        query = query.where(matches)
    return query


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(
        learner_id=int(row.id),
        learner_key=row.key,
        channel=row.channel,
        plan=row.plan,
        rail=row.rail,
        status=row.status,
        renews=row.next_payment_date,
        lessons_left=int(row.lessons),
        last_seen=row.last_inbound_at,
    )


def subscribers(
    engine: Engine, filters: Filters, *, page: int = 1, per_page: int = 100, now: datetime
) -> tuple[list[Subscriber], int]:
    """One page of learners (by id) and how many match in all."""
    query = _listing(filters, now)
    offset = (max(page, 1) - 1) * per_page
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = connection.execute(
            query.order_by(learners.c.id).limit(per_page).offset(offset)
        ).all()
    return [_subscriber(row) for row in rows], int(total)


def every_subscriber(engine: Engine, filters: Filters, *, now: datetime) -> Iterator[Subscriber]:
    """All matching learners, streamed from the database (the CSV export)."""
    query = _listing(filters, now).order_by(learners.c.id).execution_options(yield_per=1000)
    with engine.connect() as connection:
        for row in connection.execute(query):
            yield _subscriber(row)


def plans_in_use(engine: Engine) -> list[str]:
    """Plan ids on learners' records, for the filter's choices."""
    with engine.connect() as connection:
        found = connection.execute(select(entitlements.c.plan).distinct()).scalars()
        return sorted({FREE, *found})


# Revenue -------------------------------------------------------------------------------


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``"2026-03"`` as ``[start, end)`` in UTC; ValueError for anything else."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def months_back(until: datetime, count: int) -> list[str]:
    """``count`` months ending with ``until``'s, oldest first."""
    months = []
    cursor = until.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(count):
        months.append(cursor.strftime("%Y-%m"))
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    return months[::-1]


@dataclass(slots=True)
class Money:
    """Paid and refunded amounts in one currency (minor units; Stars whole)."""

    payments: int = 0
    paid: int = 0
    refunds: int = 0
    refunded: int = 0

    @property
    def net(self) -> int:
        return self.paid - self.refunded


@dataclass(frozen=True, slots=True)
class Revenue:
    """Money per (month, rail, currency), and the same per (month, plan, currency)."""

    months: list[str]
    by_rail: dict[tuple[str, str, str], Money]
    by_plan: dict[tuple[str, str, str], Money]
    payers: dict[tuple[str, str], set[int]] = field(default_factory=dict)
    anonymous: dict[tuple[str, str], int] = field(default_factory=dict)

    def currencies(self) -> list[str]:
        return sorted({currency for _, _, currency in self.by_rail})

    def rails(self) -> list[str]:
        return sorted({rail for _, rail, _ in self.by_rail})


def _currency(row: Any) -> str:
    if row.currency:
        return str(row.currency).upper()
    return "XTR" if row.provider == Provider.TELEGRAM.value else "?"


def revenue(engine: Engine, months: list[str]) -> Revenue:
    """Payments and refunds that were applied, by the month they happened (UTC).

    Admin grants are not revenue; payments still pending or ignored are not counted.
    """
    start, _ = month_bounds(months[0])
    _, end = month_bounds(months[-1])
    query = (
        select(
            payment_events.c.provider,
            payment_events.c.kind,
            payment_events.c.learner_id,
            payment_events.c.plan,
            payment_events.c.amount,
            payment_events.c.currency,
            payment_events.c.occurred_at,
        )
        .where(
            payment_events.c.status == Status.APPLIED.value,
            payment_events.c.kind.in_((*PAID, REFUND)),
            payment_events.c.provider != Provider.ADMIN.value,
            payment_events.c.occurred_at >= start,
            payment_events.c.occurred_at < end,
        )
        .execution_options(yield_per=1000)
    )
    by_rail: dict[tuple[str, str, str], Money] = defaultdict(Money)
    by_plan: dict[tuple[str, str, str], Money] = defaultdict(Money)
    payers: dict[tuple[str, str], set[int]] = defaultdict(set)
    anonymous: dict[tuple[str, str], int] = defaultdict(int)
    with engine.connect() as connection:
        for row in connection.execute(query):
            month, currency = month_of(row.occurred_at), _currency(row)
            rail = _RAIL.get(row.provider, row.provider)
            plan = row.plan or "?"
            for money in (by_rail[(month, rail, currency)], by_plan[(month, plan, currency)]):
                if row.kind == REFUND:
                    money.refunds += 1
                    money.refunded += int(row.amount or 0)
                else:
                    money.payments += 1
                    money.paid += int(row.amount or 0)
            if row.kind != REFUND:
                if row.learner_id is None:
                    anonymous[(month, plan)] += 1  # erased since: still one payer
                else:
                    payers[(month, plan)].add(int(row.learner_id))
    return Revenue(months, dict(by_rail), dict(by_plan), dict(payers), dict(anonymous))


_RAIL = {"telegram": "stars", "stripe": "stripe", "whatsapp": "whatsapp"}


# Costs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostLine:
    key: str | None
    calls: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Costs:
    """Model and voice spend in US dollars over ``[since, until)``."""

    since: datetime
    until: datetime
    by_provider: list[CostLine]
    by_agent: list[CostLine]
    by_kind: list[CostLine]
    top_learners: list[tuple[CostLine, int | None]]

    @property
    def total(self) -> float:
        return sum(line.cost_usd for line in self.by_provider)


def _grouped(
    connection: Connection, column: Any, since: datetime, until: datetime, limit: int | None
) -> list[CostLine]:
    total = func.sum(llm_calls.c.cost_usd)
    query = (
        select(column.label("key"), func.count().label("calls"), total.label("cost"))
        .where(llm_calls.c.created_at >= since, llm_calls.c.created_at < until)
        .group_by(column)
        .order_by(total.desc())
    )
    if limit is not None:
        query = query.where(llm_calls.c.learner_key.is_not(None)).limit(limit)
    return [
        CostLine(row.key, int(row.calls), round(float(row.cost or 0), 6))
        for row in connection.execute(query)
    ]


def costs(engine: Engine, since: datetime, until: datetime, top: int = 10) -> Costs:
    """Spend by provider, by agent, model against voice, and the ``top`` learners."""
    kind = case((llm_calls.c.tier == "voice", literal("voice")), else_=literal("model"))
    with engine.connect() as connection:
        by_provider = _grouped(connection, llm_calls.c.provider, since, until, None)
        by_agent = _grouped(connection, llm_calls.c.agent, since, until, None)
        by_kind = _grouped(connection, kind, since, until, None)
        learners_ = _grouped(connection, llm_calls.c.learner_key, since, until, top)
        keys = [line.key for line in learners_ if line.key]
        found = connection.execute(
            select(learners.c.key, learners.c.id).where(learners.c.key.in_(keys))
        )
        ids = {str(row.key): int(row.id) for row in found}
    top_learners = [(line, ids.get(line.key or "")) for line in learners_]
    return Costs(since, until, by_provider, by_agent, by_kind, top_learners)


def daily_costs(engine: Engine, since: datetime, until: datetime) -> dict[str, dict[str, float]]:
    """US dollars per provider per UTC day, every day of the window present (0 when idle)."""
    days: dict[str, dict[str, float]] = {}
    cursor = since
    while cursor < until:
        days[cursor.astimezone(UTC).date().isoformat()] = {}
        cursor += timedelta(days=1)
    query = (
        select(llm_calls.c.created_at, llm_calls.c.provider, llm_calls.c.cost_usd)
        .where(llm_calls.c.created_at >= since, llm_calls.c.created_at < until)
        .execution_options(yield_per=1000)
    )
    with engine.connect() as connection:
        for row in connection.execute(query):
            day = days.setdefault(row.created_at.astimezone(UTC).date().isoformat(), {})
            day[row.provider] = day.get(row.provider, 0.0) + float(row.cost_usd)
    return days


def monthly_costs(engine: Engine, months: list[str]) -> dict[str, list[CostLine]]:
    """Spend by provider for each month (one grouped query a month)."""
    found = {}
    with engine.connect() as connection:
        for month in months:
            start, end = month_bounds(month)
            found[month] = _grouped(connection, llm_calls.c.provider, start, end, None)
    return found


# Margins -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Margin:
    """One plan in one month. ``revenue`` is net per currency; ``usd`` the part converted."""

    plan: str
    learners: int
    revenue: dict[str, int]
    revenue_usd: float
    unconverted: tuple[str, ...]
    cost_usd: float

    @property
    def margin_usd(self) -> float:
        return self.revenue_usd - self.cost_usd

    @property
    def per_learner_usd(self) -> float | None:
        return self.margin_usd / self.learners if self.learners else None


def margins(
    engine: Engine, month: str, income: Revenue, rates: Mapping[str, float]
) -> list[Margin]:
    """Revenue of each plan's payers in ``month`` minus what their model and voice calls
    cost; learners who paid nothing that month (and calls of no learner) make "free".

    A learner who paid for two plans in the month counts toward the first one, in plan
    order, so their cost is taken once.
    """
    start, end = month_bounds(month)
    plans = sorted({plan for (m, plan, _) in income.by_plan if m == month})
    owner: dict[int, str] = {}
    for plan in plans:
        for learner_id in income.payers.get((month, plan), set()):
            owner.setdefault(learner_id, plan)
    spend: dict[str, float] = defaultdict(float)
    users: dict[str, int] = defaultdict(int)
    with engine.connect() as connection:
        rows = connection.execute(
            select(learners.c.id, func.sum(llm_calls.c.cost_usd).label("cost"))
            .select_from(llm_calls.outerjoin(learners, learners.c.key == llm_calls.c.learner_key))
            .where(llm_calls.c.created_at >= start, llm_calls.c.created_at < end)
            .group_by(learners.c.id)
        )
        for row in rows:
            plan = owner.get(int(row.id), FREE) if row.id is not None else FREE
            spend[plan] += float(row.cost or 0)
            users[plan] += row.id is not None and plan == FREE
    lines = []
    for plan in [*plans, FREE] if FREE not in plans else plans:
        revenue_by_currency = {
            currency: money.net
            for (m, p, currency), money in income.by_plan.items()
            if m == month and p == plan
        }
        converted = sum(
            major(amount, currency) * rates[currency]
            for currency, amount in revenue_by_currency.items()
            if currency in rates
        )
        count = len(income.payers.get((month, plan), set()))
        count += income.anonymous.get((month, plan), 0)
        lines.append(
            Margin(
                plan=plan,
                learners=count if plan != FREE else users[FREE],
                revenue=revenue_by_currency,
                revenue_usd=round(converted, 6),
                unconverted=tuple(sorted(c for c in revenue_by_currency if c not in rates)),
                cost_usd=round(spend.get(plan, 0.0), 6),
            )
        )
    return lines
