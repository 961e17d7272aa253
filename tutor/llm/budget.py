"""Spend limits per provider and per learner, counted in Redis by UTC day and month.

``check`` runs before a call, ``record`` after it: caps are soft by one call
(a call is allowed while spend is below the cap and may overshoot by its own
cost). Providers without limits (a local server, the offline brain) are free
and never refused. Fails open: on a Redis error it logs, reports ``on_error``
and reads the SQL ledger instead, so caps still hold; with no ledger it allows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

import redis

from tutor.models import utcnow
from tutor.settings import Settings

logger = logging.getLogger(__name__)

Refusal = Literal["daily_quota", "monthly_cap", "learner_cap"]
_MICRO = 1_000_000  # counters hold integer micro-dollars: INCRBYFLOAT would drift
_DAY_TTL = 2 * 24 * 3600
_MONTH_TTL = 35 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """``daily_requests`` 0 means no quota; ``monthly_cap_usd`` 0 means nothing may be spent."""

    daily_requests: int
    monthly_cap_usd: float


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """Limits per paid provider and each plan's monthly cap per learner (all providers)."""

    providers: Mapping[str, ProviderLimits]
    learner_monthly_cap_usd: Mapping[str, float]

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetLimits:
        return cls(
            providers={
                "groq": ProviderLimits(settings.groq_daily_requests, settings.groq_monthly_cap_usd),
                "anthropic": ProviderLimits(
                    settings.anthropic_daily_requests, settings.anthropic_monthly_cap_usd
                ),
            },
            learner_monthly_cap_usd={
                "free": settings.llm_learner_monthly_cap_usd_free,
                "paid": settings.llm_learner_monthly_cap_usd_paid,
            },
        )

    def learner_cap(self, plan: str) -> float:
        """The plan's cap; an unknown plan gets the free one."""
        caps = self.learner_monthly_cap_usd
        return caps.get(plan, caps.get("free", 0.0))


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """One provider's line in ``tutor llm status``; ``source`` says where the numbers came from."""

    provider: str
    requests_today: int
    spend_month_usd: float
    daily_requests: int
    monthly_cap_usd: float
    source: Literal["redis", "ledger", "unknown"]


class UsageLedger(Protocol):
    """The authoritative store's reads the budget falls back on (``tutor.llm.ledger.Ledger``)."""

    def spend(
        self, *, provider: str | None = None, learner_key: str | None = None, since: datetime
    ) -> float: ...

    def requests(self, *, provider: str, since: datetime) -> int: ...


class Budget:
    """Decides whether a call fits the limits and counts what was spent."""

    def __init__(
        self,
        client: redis.Redis,
        limits: BudgetLimits,
        *,
        ledger: UsageLedger | None = None,
        clock: Callable[[], datetime] = utcnow,
        namespace: str = "tutor:llm:budget",
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._limits = limits
        self._ledger = ledger
        self._clock = clock
        self._ns = namespace
        self._on_error = on_error or (lambda operation: None)

    def check(self, provider: str, learner_key: str | None, plan: str) -> Refusal | None:
        """None when a call to ``provider`` is allowed, else why not."""
        limits = self._limits.providers.get(provider)
        if limits is None:
            return None
        now = self._clock()
        counts = self._read(provider, learner_key, now)
        if counts is None:
            return None
        requests, spend, learner_spend = counts
        if limits.daily_requests and requests >= limits.daily_requests:
            return "daily_quota"
        if spend >= limits.monthly_cap_usd:
            return "monthly_cap"
        if learner_key is not None and learner_spend >= self._limits.learner_cap(plan):
            return "learner_cap"
        return None

    def record(
        self, provider: str, learner_key: str | None, cost_usd: float, requests: int = 1
    ) -> None:
        """Count requests sent and dollars spent; call it once per ledger row actually stored."""
        now = self._clock()
        micro = round(cost_usd * _MICRO)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.incrby(self._requests_key(provider, now), requests)
            pipe.expire(self._requests_key(provider, now), _DAY_TTL)
            pipe.incrby(self._spend_key(provider, now), micro)
            pipe.expire(self._spend_key(provider, now), _MONTH_TTL)
            if learner_key is not None:
                pipe.incrby(self._learner_key(learner_key, now), micro)
                pipe.expire(self._learner_key(learner_key, now), _MONTH_TTL)
            pipe.execute()
        except Exception:
            self._failed("record")  # the ledger row is the record; only the fast copy is behind

    def usage(self) -> dict[str, ProviderUsage]:
        """Requests today and spend this month for every limited provider."""
        now = self._clock()
        lines: dict[str, ProviderUsage] = {}
        for provider, limits in self._limits.providers.items():
            source: Literal["redis", "ledger", "unknown"] = "redis"
            counts = self._from_redis(provider, None, now)
            if counts is None:
                counts = self._from_ledger(provider, None, now)
                source = "ledger" if counts is not None else "unknown"
            requests, spend, _ = counts or (0, 0.0, 0.0)
            lines[provider] = ProviderUsage(
                provider, requests, spend, limits.daily_requests, limits.monthly_cap_usd, source
            )
        return lines

    def _read(
        self, provider: str, learner_key: str | None, now: datetime
    ) -> tuple[int, float, float] | None:
        counts = self._from_redis(provider, learner_key, now)
        if counts is None:
            counts = self._from_ledger(provider, learner_key, now)
        return counts

    def _from_redis(
        self, provider: str, learner_key: str | None, now: datetime
    ) -> tuple[int, float, float] | None:
        keys = [self._requests_key(provider, now), self._spend_key(provider, now)]
        if learner_key is not None:
            keys.append(self._learner_key(learner_key, now))
        try:
            values = list(self._client.mget(keys))
        except Exception:
            self._failed("read")
            return None
        numbers = [int(value or 0) for value in values] + [0]
        return numbers[0], numbers[1] / _MICRO, numbers[2] / _MICRO

    def _from_ledger(
        self, provider: str, learner_key: str | None, now: datetime
    ) -> tuple[int, float, float] | None:
        if self._ledger is None:
            return None
        day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        try:
            requests = self._ledger.requests(provider=provider, since=day)
            spend = self._ledger.spend(provider=provider, since=month)
            learner = (
                self._ledger.spend(learner_key=learner_key, since=month)
                if learner_key is not None
                else 0.0
            )
        except Exception as exc:  # its message may carry a learner key: log the class only
            logger.warning(
                "budget ledger unavailable; allowing the call",
                extra={"error": type(exc).__name__},
            )
            return None
        return requests, spend, learner

    def _requests_key(self, provider: str, now: datetime) -> str:
        return f"{self._ns}:requests:{provider}:{now.astimezone(UTC):%Y-%m-%d}"

    def _spend_key(self, provider: str, now: datetime) -> str:
        return f"{self._ns}:spend:{provider}:{now.astimezone(UTC):%Y-%m}"

    def _learner_key(self, learner_key: str, now: datetime) -> str:
        return f"{self._ns}:learner:{learner_key}:{now.astimezone(UTC):%Y-%m}"

    def _failed(self, operation: str) -> None:
        logger.warning("budget counters unavailable; using the ledger", extra={"op": operation})
        self._on_error(operation)
