"""The call ledger on SQLite and PostgreSQL; its queries also compile for Oracle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.dialects import oracle

from tests.llm.backends import ENGINE_KINDS, engine_for
from tutor.llm.ledger import Ledger, LedgerEntry, price
from tutor.models import llm_calls

T0 = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)


@pytest.fixture(params=ENGINE_KINDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    yield from engine_for(request)


def entry(request_id: str, **values: Any) -> LedgerEntry:
    fields: dict[str, Any] = {
        "agent": "conversation", "task": "chat", "tier": "fast", "provider": "groq",
        "model": "llama", "input_tokens": 100, "output_tokens": 20, "cost_usd": 0.001,
        "latency_ms": 300, "learner_key": "telegram:1", "created_at": T0,
    }  # fmt: skip
    fields.update(values)
    return LedgerEntry(request_id=request_id, **fields)


def test_price_is_dollars_per_million_tokens() -> None:
    assert price(1_000_000, 0, 3.0, 15.0) == pytest.approx(3.0)
    assert price(1200, 300, 3.0, 15.0) == pytest.approx(0.0081)
    assert price(0, 0, 3.0, 15.0) == 0.0


def test_a_request_id_is_recorded_once(engine: Engine) -> None:
    ledger = Ledger(engine)
    assert ledger.record(entry("turn-1:0"))
    assert not ledger.record(entry("turn-1:0", cost_usd=5.0))  # a retried turn
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(llm_calls)) == 1
    assert ledger.spend(since=T0) == pytest.approx(0.001)


def test_spend_and_requests(engine: Engine) -> None:
    ledger = Ledger(engine)
    ledger.record(entry("a", cost_usd=0.0123456789))
    ledger.record(entry("b", provider="anthropic", tier="strong", cost_usd=0.02))
    ledger.record(entry("c", learner_key="telegram:2", cost_usd=0.5, outcome="BadModelOutput"))
    ledger.record(entry("d", cache="exact", cost_usd=0.0))
    ledger.record(entry("e", created_at=T0 - timedelta(days=1), cost_usd=1.0))

    assert ledger.spend(since=T0) == pytest.approx(0.012346 + 0.02 + 0.5)
    assert ledger.spend(provider="groq", since=T0) == pytest.approx(0.512346)
    assert ledger.spend(learner_key="telegram:1", since=T0) == pytest.approx(0.032346)
    assert ledger.spend(provider="groq", learner_key="telegram:1", since=T0) == pytest.approx(
        0.012346
    )
    assert ledger.spend(since=T0 - timedelta(days=1)) == pytest.approx(1.532346)
    assert ledger.spend(provider="local", since=T0) == 0.0
    # Failed calls count against the provider's quota; cache hits never reached it.
    assert ledger.requests(provider="groq", since=T0) == 2
    assert ledger.requests(provider="anthropic", since=T0) == 1


def test_report_groups_calls(engine: Engine) -> None:
    ledger = Ledger(engine)
    ledger.record(entry("a", latency_ms=100))
    ledger.record(entry("b", latency_ms=300, agent="grammar", task="correct"))
    ledger.record(entry("c", latency_ms=900, cache="semantic", cost_usd=0.0))
    ledger.record(
        entry("d", provider="anthropic", tier="strong", learner_key=None, agent="progress",
              cost_usd=0.05, latency_ms=2000, created_at=T0 + timedelta(hours=1))
    )  # fmt: skip
    ledger.record(entry("e", outcome="ProviderUnavailable", created_at=T0 + timedelta(days=2)))
    until = T0 + timedelta(days=1)

    by_learner = ledger.report(since=T0, until=until, by="learner")
    assert [(row.key, row.calls) for row in by_learner] == [(None, 1), ("telegram:1", 3)]
    learner = by_learner[1]
    assert (learner.cache_hits, learner.errors) == (1, 0)
    assert (learner.input_tokens, learner.output_tokens) == (300, 60)
    assert learner.cost_usd == pytest.approx(0.002)
    assert learner.avg_latency_ms == pytest.approx(433.333, rel=1e-3)
    assert learner.p50_latency_ms == 300

    by_day = ledger.report(since=T0, until=T0 + timedelta(days=3), by="day")
    assert [(row.key, row.calls, row.errors) for row in by_day] == [
        ("2026-04-01", 1, 0),  # 00:30 UTC the next day costs the most
        ("2026-03-31", 3, 0),
        ("2026-04-02", 1, 1),
    ]
    by_tier = {row.key: row.calls for row in ledger.report(since=T0, until=until, by="tier")}
    assert by_tier == {"fast": 3, "strong": 1}
    by_agent = {row.key: row.calls for row in ledger.report(since=T0, until=until, by="agent")}
    assert by_agent == {"conversation": 2, "grammar": 1, "progress": 1}
    by_provider = ledger.report(since=T0, until=until, by="provider")
    assert [row.key for row in by_provider] == ["anthropic", "groq"]
    assert ledger.report(since=until + timedelta(days=5), until=until + timedelta(days=6),
                         by="provider") == []  # fmt: skip


def test_naive_times_are_refused(engine: Engine) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        Ledger(engine).record(entry("x", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001


def test_ledger_statements_compile_for_oracle(sqlite_url: str) -> None:
    from tutor import migrate
    from tutor.db import make_engine

    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    seen: list[Any] = []
    event.listen(engine, "before_execute", lambda _c, statement, *_a: seen.append(statement))
    ledger = Ledger(engine)
    ledger.record(entry("a"))
    ledger.record(entry("a"))
    ledger.spend(provider="groq", learner_key="telegram:1", since=T0)
    ledger.requests(provider="groq", since=T0)
    ledger.report(since=T0, until=T0 + timedelta(days=1), by="day")
    engine.dispose()

    rendered = [str(s.compile(dialect=oracle.dialect())) for s in seen]  # type: ignore[no-untyped-call]
    assert rendered[0].startswith("INSERT INTO llm_calls (created_at, request_id")
    assert any("coalesce(sum(llm_calls.cost_usd)" in sql for sql in rendered)
    assert all("LIMIT" not in sql and "EXISTS" not in sql for sql in rendered)
    assert any("FETCH FIRST" in sql for sql in rendered)  # the duplicate check
