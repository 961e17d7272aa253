"""Quotas and caps per provider and learner; with Redis down the SQL ledger decides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.llm.backends import ENGINE_KINDS, REDIS_KINDS, engine_for, redis_pair, unreachable
from tutor.llm.budget import Budget, BudgetLimits, ProviderLimits
from tutor.llm.ledger import Ledger, LedgerEntry
from tutor.settings import Settings

LIMITS = BudgetLimits(
    providers={
        "groq": ProviderLimits(daily_requests=3, monthly_cap_usd=1.0),
        "anthropic": ProviderLimits(daily_requests=0, monthly_cap_usd=0.5),
    },
    learner_monthly_cap_usd={"free": 0.10, "paid": 2.0},
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=REDIS_KINDS)
def client(request: pytest.FixtureRequest) -> Iterator[Any]:
    for first, _ in redis_pair(request):
        yield first


@pytest.fixture(params=ENGINE_KINDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from engine_for(request)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_limits_come_from_settings() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        groq_daily_requests=100,
        anthropic_monthly_cap_usd=7.5,
        llm_learner_monthly_cap_usd_free=0.2,
    )
    limits = BudgetLimits.from_settings(settings)
    assert limits.providers["groq"].daily_requests == 100
    assert limits.providers["anthropic"] == ProviderLimits(0, 7.5)
    assert limits.learner_cap("free") == 0.2
    assert limits.learner_cap("paid") == settings.llm_learner_monthly_cap_usd_paid
    assert limits.learner_cap("trial") == 0.2  # an unknown plan is held to the free cap


def test_daily_quota_rolls_over_at_utc_midnight(client: Any, clock: Clock) -> None:
    budget = Budget(client, LIMITS, clock=clock)
    for _ in range(3):
        assert budget.check("groq", None, "free") is None
        budget.record("groq", None, 0.0)
    assert budget.check("groq", None, "free") == "daily_quota"
    assert budget.check("anthropic", None, "free") is None  # 0: no daily quota
    clock.now += timedelta(hours=1)
    assert budget.check("groq", None, "free") is None


def test_monthly_cap_rolls_over_with_the_month(client: Any, clock: Clock) -> None:
    budget = Budget(client, LIMITS, clock=clock)
    budget.record("anthropic", None, 0.3)
    assert budget.check("anthropic", None, "paid") is None
    budget.record("anthropic", None, 0.2)
    assert budget.check("anthropic", None, "paid") == "monthly_cap"
    assert budget.check("groq", None, "paid") is None
    clock.now += timedelta(hours=1)  # February
    assert budget.check("anthropic", None, "paid") is None


def test_learner_cap_depends_on_the_plan(client: Any, clock: Clock) -> None:
    budget = Budget(client, LIMITS, clock=clock)
    budget.record("groq", "telegram:1", 0.06)
    budget.record("anthropic", "telegram:1", 0.04)  # the cap spans providers
    assert budget.check("groq", "telegram:1", "free") == "learner_cap"
    assert budget.check("groq", "telegram:1", "paid") is None
    assert budget.check("groq", "telegram:2", "free") is None
    assert budget.check("groq", None, "free") is None  # system work has no learner cap
    assert budget.check("local", "telegram:1", "free") is None  # free providers never refuse


def test_counters_expire(client: Any, clock: Clock) -> None:
    budget = Budget(client, LIMITS, clock=clock)
    budget.record("groq", "web:a", 0.01)
    assert 0 < client.ttl("tutor:llm:budget:requests:groq:2026-01-31") <= 2 * 86400
    assert 2 * 86400 < client.ttl("tutor:llm:budget:spend:groq:2026-01") <= 35 * 86400
    assert 2 * 86400 < client.ttl("tutor:llm:budget:learner:web:a:2026-01") <= 35 * 86400


def test_usage_for_status(client: Any, clock: Clock) -> None:
    budget = Budget(client, LIMITS, clock=clock)
    for _ in range(2):
        budget.record("groq", "web:a", 0.125)
    usage = budget.usage()
    assert set(usage) == {"groq", "anthropic"}
    groq = usage["groq"]
    assert (groq.requests_today, groq.spend_month_usd, groq.source) == (2, 0.25, "redis")
    assert (groq.daily_requests, groq.monthly_cap_usd) == (3, 1.0)
    assert usage["anthropic"].requests_today == 0


def test_with_redis_down_the_ledger_holds_the_caps(engine: Engine, clock: Clock) -> None:
    ledger = Ledger(engine)
    errors: list[str] = []
    budget = Budget(unreachable(), LIMITS, ledger=ledger, clock=clock, on_error=errors.append)

    def call(request_id: str, provider: str, cost: float, **values: Any) -> None:
        values.setdefault("created_at", clock.now)
        ledger.record(
            LedgerEntry(request_id, "conversation", "chat", "fast", provider, "m", cost_usd=cost,
                        **values)
        )  # fmt: skip
        budget.record(provider, values.get("learner_key"), cost)  # skipped: Redis is down

    call("old", "groq", 5.0, created_at=clock.now - timedelta(days=31))
    for n in range(3):
        call(f"g{n}", "groq", 0.01)
    assert budget.check("groq", None, "free") == "daily_quota"
    call("a1", "anthropic", 0.5)
    assert budget.check("anthropic", None, "paid") == "monthly_cap"
    ledger.record(LedgerEntry("l1", "grammar", "explain", "fast", "groq", "m", cost_usd=0.2,
                              learner_key="web:y", created_at=clock.now))  # fmt: skip
    clock.now += timedelta(hours=1)  # a new day and month: only the learner cap is left
    ledger.record(LedgerEntry("l2", "grammar", "explain", "fast", "groq", "m", cost_usd=0.2,
                              learner_key="web:y", created_at=clock.now))  # fmt: skip
    assert budget.check("groq", "web:y", "free") == "learner_cap"
    assert budget.check("groq", "web:x", "free") is None

    usage = budget.usage()["groq"]
    assert (usage.requests_today, usage.source) == (1, "ledger")
    assert usage.spend_month_usd == pytest.approx(0.2)
    assert set(errors) == {"read", "record"}


def test_with_redis_and_no_ledger_it_allows() -> None:
    budget = Budget(unreachable(), LIMITS)
    assert budget.check("groq", "web:x", "free") is None
    assert budget.usage()["groq"].source == "unknown"
