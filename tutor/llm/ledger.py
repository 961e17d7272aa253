"""The SQL ledger of model calls: one row per provider call or cache hit, never twice.

It is the authoritative record of spend (the Redis budget counters are a fast
copy), the fallback the budget reads when Redis is down, and the source of the
cost reports on the admin page and ``tutor llm report``.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError

from tutor.models import llm_calls, utcnow

logger = logging.getLogger(__name__)

CacheKind = Literal["none", "exact", "semantic"]
ReportBy = Literal["learner", "agent", "provider", "day", "tier"]
_GROUP_COLUMNS = {
    "learner": llm_calls.c.learner_key,
    "agent": llm_calls.c.agent,
    "provider": llm_calls.c.provider,
    "day": llm_calls.c.created_at,
    "tier": llm_calls.c.tier,
}


def price(
    input_tokens: int,
    output_tokens: int,
    price_in_per_million: float,
    price_out_per_million: float,
) -> float:
    """The US dollar cost of one call at the given per-million-token prices."""
    return (input_tokens * price_in_per_million + output_tokens * price_out_per_million) / 1e6


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One model call (or cache hit) as the router saw it; ``outcome`` is "ok" or an error class."""

    request_id: str
    agent: str
    task: str
    tier: str
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    cache: CacheKind = "none"
    outcome: str = "ok"
    learner_key: str | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ReportRow:
    """Totals for one group; ``key`` is None for calls with no learner (system work)."""

    key: str | None
    calls: int
    cache_hits: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    avg_latency_ms: float
    p50_latency_ms: float


class Ledger:
    """Reads and writes ``llm_calls``; every method is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, entry: LedgerEntry) -> bool:
        """Store ``entry``; False when its ``request_id`` was already recorded."""
        values = {
            "created_at": entry.created_at,
            "request_id": entry.request_id,
            "learner_key": entry.learner_key,
            "agent": entry.agent,
            "task": str(entry.task),
            "tier": str(entry.tier),
            "provider": entry.provider,
            "model": entry.model,
            "input_tokens": entry.input_tokens,
            "output_tokens": entry.output_tokens,
            "cost_usd": round(entry.cost_usd, 6),
            "latency_ms": entry.latency_ms,
            "cache": entry.cache,
            "outcome": entry.outcome,
        }
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(llm_calls).values(**values))
        except IntegrityError:
            if self._seen(entry.request_id):
                return False
            raise
        return True

    def _seen(self, request_id: str) -> bool:
        # Not SELECT EXISTS: Oracle before 23ai has no boolean expressions in a select list.
        query = select(llm_calls.c.id).where(llm_calls.c.request_id == request_id).limit(1)
        with self.engine.connect() as connection:
            return connection.scalar(query) is not None

    def spend(
        self, *, provider: str | None = None, learner_key: str | None = None, since: datetime
    ) -> float:
        """US dollars spent since ``since``, optionally for one provider and/or one learner."""
        query = select(func.coalesce(func.sum(llm_calls.c.cost_usd), 0)).where(
            llm_calls.c.created_at >= since
        )
        if provider is not None:
            query = query.where(llm_calls.c.provider == provider)
        if learner_key is not None:
            query = query.where(llm_calls.c.learner_key == learner_key)
        with self.engine.connect() as connection:
            return float(connection.scalar(query) or 0)

    def requests(self, *, provider: str, since: datetime) -> int:
        """Requests sent to ``provider`` since ``since`` (cache hits never reach it)."""
        query = select(func.count()).where(
            llm_calls.c.provider == provider,
            llm_calls.c.cache == "none",
            llm_calls.c.created_at >= since,
        )
        with self.engine.connect() as connection:
            return int(connection.scalar(query) or 0)

    def report(self, *, since: datetime, until: datetime, by: ReportBy) -> list[ReportRow]:
        """Totals per ``by`` over ``[since, until)``, biggest spend first.

        Rows are aggregated here rather than in SQL so that "day" (UTC) and the
        median latency read the same on SQLite, PostgreSQL and Oracle; that is
        fine for the weeks an admin report covers, not for years of calls.
        """
        column = _GROUP_COLUMNS[by]
        query = (
            select(
                column.label("key"),
                llm_calls.c.cache,
                llm_calls.c.outcome,
                llm_calls.c.input_tokens,
                llm_calls.c.output_tokens,
                llm_calls.c.cost_usd,
                llm_calls.c.latency_ms,
            )
            .where(llm_calls.c.created_at >= since, llm_calls.c.created_at < until)
            .execution_options(yield_per=1000)
        )
        groups: dict[str | None, _Totals] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                key = _day(row.key) if by == "day" else row.key
                groups.setdefault(key, _Totals()).add(row)
        rows = [totals.row(key) for key, totals in groups.items()]
        return sorted(rows, key=lambda r: (-r.cost_usd, -r.calls, r.key or ""))


@dataclass(slots=True)
class _Totals:
    calls: int = 0
    cache_hits: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latencies: list[int] = field(default_factory=list)

    def add(self, row: Any) -> None:
        self.calls += 1
        self.cache_hits += row.cache != "none"
        self.errors += row.outcome != "ok"
        self.input_tokens += row.input_tokens
        self.output_tokens += row.output_tokens
        self.cost_usd += float(row.cost_usd)
        self.latencies.append(row.latency_ms)

    def row(self, key: str | None) -> ReportRow:
        return ReportRow(
            key=key,
            calls=self.calls,
            cache_hits=self.cache_hits,
            errors=self.errors,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=round(self.cost_usd, 6),
            avg_latency_ms=statistics.fmean(self.latencies),
            p50_latency_ms=float(statistics.median(self.latencies)),
        )


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()
