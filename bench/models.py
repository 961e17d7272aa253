"""``python -m bench.models``: model-routing numbers, written to docs/BENCHMARKS-MODELS.md.

1. Router overhead on real Redis and PostgreSQL (private servers): the tier
   decision alone, a whole routed call with a provider that answers instantly
   (so every millisecond is the router's: gates, ledger row, budget counters,
   remembered answer), and the cache-hit path.
2. The cost simulation (`tutor simulate costs`) for 1,000 learners over 30 days
   through the real router with priced simulated providers.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr

from tests.support.services import PostgresServer, RedisServer
from tutor import migrate
from tutor.db import make_engine
from tutor.llm import simulate
from tutor.llm.router import LLMRequest, build_messages, estimate_tokens
from tutor.llm.service import build_router
from tutor.llm.types import ProviderRequest, ProviderResponse, Task, Tier
from tutor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS-MODELS.md"


class InstantProvider:
    """Answers at once, so a routed call measures only the router."""

    def __init__(self, name: str) -> None:
        self.name = name

    def complete(self, request: ProviderRequest) -> ProviderResponse:
        return ProviderResponse("¿Y qué más hiciste?", 800, 40, request.model, self.name, "stop")


@dataclass(frozen=True)
class Timing:
    path: str
    calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    target_ms: float | None

    @property
    def verdict(self) -> str:
        if self.target_ms is None:
            return "(no target)"
        if self.p95_ms < self.target_ms:
            return f"**met** (p95 {self.p95_ms:.2f} ms against {self.target_ms:g} ms)"
        return f"**missed** by {self.p95_ms - self.target_ms:.2f} ms"


def _timing(path: str, samples: list[float], target: float | None) -> Timing:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return Timing(path, len(samples), pick(0.5), pick(0.95), pick(0.99), target)


def _request(n: int, **options: Any) -> LLMRequest:
    values: dict[str, Any] = {
        "task": Task.CHAT,
        "agent": "bench",
        "request_id": f"bench-{n}",
        "template": "chat",
        "variables": {"explanation_language": "English"},
        "learner_text": f"Ayer fui a la playa con mis amigos ({n})",
        "learner_key": f"bench:{n % 100}",
        "language": "Spanish",
        "plan": "paid",
    }
    values.update(options)
    return LLMRequest(**values)


def router_overhead(calls: int) -> list[Timing]:
    with PostgresServer() as pg, RedisServer() as redis_server:
        engine = make_engine(pg.url)
        migrate.upgrade(engine)
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=pg.url,
            redis_url=redis_server.url,
            groq_api_key=SecretStr("bench"),
            anthropic_api_key=SecretStr("bench"),
        )
        client = redis.Redis.from_url(redis_server.url)
        providers = {Tier.FAST: InstantProvider("groq"), Tier.STRONG: InstantProvider("anthropic")}
        router = build_router(settings, client, engine, providers)
        try:
            for n in range(50):  # warm connections and statement caches
                router.complete(_request(-n - 1))
            decision: list[float] = []
            for n in range(calls):
                request = _request(n)
                started = time.perf_counter()
                system, messages = build_messages(request)
                tokens = estimate_tokens(system) + sum(estimate_tokens(m.content) for m in messages)
                config = router.tiers[router.chain(request, tokens)[0]]
                router.breaker.allow(config.provider.name)
                router.budget.check(config.provider.name, request.learner_key, request.plan)
                decision.append(time.perf_counter() - started)
            routed: list[float] = []
            for n in range(calls):
                started = time.perf_counter()
                router.complete(_request(calls + n))
                routed.append(time.perf_counter() - started)
            faq = {
                "personal": False,
                "task": Task.EXPLAIN,
                "template": "explain",
                "learner_text": "When do I use ser and estar?",
            }
            router.complete(_request(2 * calls, **faq))
            hits: list[float] = []
            for n in range(calls):
                started = time.perf_counter()
                result = router.complete(_request(3 * calls + n, **faq))
                hits.append(time.perf_counter() - started)
                assert result.cache != "none"
        finally:
            router.close()
            client.close()
            engine.dispose()
    return [
        _timing("tier decision (chain, breaker, budget)", decision, 1.0),
        _timing("routed call, instant provider (all bookkeeping)", routed, None),
        _timing("cache hit (exact)", hits, 2.0),
    ]


#: A deployment on paid provider plans: no daily request quota, caps sized for the traffic.
PAID_PLAN_LIMITS: dict[str, Any] = {
    "groq_daily_requests": 0,
    "groq_monthly_cap_usd": 5000.0,
    "anthropic_monthly_cap_usd": 5000.0,
}


def cost_simulation(
    learners: int, days: int, limits: dict[str, Any]
) -> tuple[simulate.SimulationReport, float]:
    with RedisServer() as redis_server:
        started = time.monotonic()
        report = simulate.run(
            Settings(_env_file=None, **limits),  # type: ignore[call-arg]
            learners=learners,
            days=days,
            redis_url=redis_server.url,
        )
        return report, time.monotonic() - started


def _verdicts(report: simulate.SimulationReport) -> list[str]:
    share = report.fast_or_cache_share
    cost = report.cost_per_active_learner_month
    return [
        f"- At least 80 % of turns on the fast tier or the cache: "
        f"{'**met**' if share >= 0.8 else '**missed**'} ({share:.1%}).",
        f"- Under $0.50 per active text-only learner per month: "
        f"{'**met**' if cost < 0.5 else '**missed**'} (${cost:.3f}).",
    ]


def render(
    timings: list[Timing],
    paid: tuple[simulate.SimulationReport, float],
    defaults: tuple[simulate.SimulationReport, float],
    learners: int,
    days: int,
    calls: int,
) -> str:
    now = datetime.now(UTC)
    lines = [
        "# Model routing benchmarks",
        "",
        f"Generated by `.venv/bin/python -m bench.models` on {now:%Y-%m-%d %H:%M} UTC; do not "
        "edit by hand. Machine: the one described in docs/BENCHMARKS.md "
        f"(Python {platform.python_version()}, private PostgreSQL and Redis on loopback).",
        "",
        "## Router overhead",
        "",
        f"{calls} requests per path, real Redis and PostgreSQL, a provider that answers at "
        "once. *Tier decision* is choosing the chain and passing the first tier's breaker and "
        "budget gates; a *routed call* adds the ledger row, the budget counters and the "
        "remembered answer; a *cache hit* is an impersonal FAQ answered from the exact cache.",
        "",
        "| Path | p50 ms | p95 ms | p99 ms | Target | Verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for timing in timings:
        target = f"< {timing.target_ms:g} ms" if timing.target_ms else "-"
        lines.append(
            f"| {timing.path} | {timing.p50_ms:.2f} | {timing.p95_ms:.2f} | "
            f"{timing.p99_ms:.2f} | {target} | {timing.verdict} |"
        )
    limits = ", ".join(f"`TUTOR_{k.upper()}={v:g}`" for k, v in PAID_PLAN_LIMITS.items())
    lines += [
        "",
        "## Cost simulation",
        "",
        f"**Command:** `tutor simulate costs --learners {learners} --days {days} "
        "--redis-url redis://…` (here with a private Redis). Prices are the defaults in "
        "`tutor/settings.py` (Groq llama-3.3-70b $0.59/$0.79, llama-3.1-8b $0.05/$0.08, "
        "Claude Sonnet $3/$15 per million tokens in/out); the message mix is in "
        "`tutor/llm/simulate.py`.",
        "",
        f"### On paid provider plans ({limits}; {paid[1] / 60:.1f} minutes)",
        "",
        "```",
        *paid[0].lines(),
        "```",
        "",
        *_verdicts(paid[0]),
        "",
        f"### With the default limits ({defaults[1] / 60:.1f} minutes)",
        "",
        "The defaults are sized for a small deployment: Groq's free-tier quota of 14,400 "
        "requests a day and monthly caps of $50 (Groq) and $100 (Anthropic). At this size "
        "the budgets do their job: once a quota or cap is spent the router moves down a tier "
        "instead of spending more, ending at the offline brain. Set the limits to your "
        "provider plan before going live.",
        "",
        "```",
        *defaults[0].lines(),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.models", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    timings = router_overhead(args.calls)
    for timing in timings:
        print(f"{timing.path}: p50 {timing.p50_ms:.2f} p95 {timing.p95_ms:.2f} ms")
    paid = cost_simulation(args.learners, args.days, PAID_PLAN_LIMITS)
    print("\n".join(paid[0].lines()))
    defaults = cost_simulation(args.learners, args.days, {})
    print("\n".join(defaults[0].lines()))
    DOC.write_text(render(timings, paid, defaults, args.learners, args.days, args.calls))
    print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
