"""What ``tutor llm status`` and ``tutor llm report`` print."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from tutor.llm.ledger import ReportBy
from tutor.llm.router import Router
from tutor.llm.types import Tier
from tutor.models import llm_calls


def status_lines(router: Router) -> list[str]:
    """Breakers, budgets, cache hit rates and the last errors, one fact a line."""
    lines = ["Tiers:"]
    for tier in Tier:
        config = router.tiers.get(tier)
        if tier is Tier.OFFLINE:
            lines.append("  offline  always available (the curriculum-driven brain)")
            continue
        if config is None:
            lines.append(f"  {tier.value:<8} not configured")
            continue
        name = config.provider.name
        state = router.breaker.state(name)
        detail = f"breaker {state.state}"
        if state.consecutive_failures:
            detail += f", {state.consecutive_failures} failures in a row"
        if state.opened_until:
            until = datetime.fromtimestamp(state.opened_until, UTC)
            detail += f", open until {until:%H:%M:%S} UTC"
        if state.last_error:
            detail += f", last error {state.last_error}"
        lines.append(f"  {tier.value:<8} {name} · {config.model.model} · {detail}")
    lines.append("Budgets:")
    usage = router.budget.usage()
    if not usage:
        lines.append("  no provider budgets (no paid tier configured)")
    for provider, use in sorted(usage.items()):
        quota = f"/{use.daily_requests}" if use.daily_requests else " (no daily quota)"
        lines.append(
            f"  {provider:<10} today {use.requests_today}{quota} requests · month "
            f"${use.spend_month_usd:.4f} of ${use.monthly_cap_usd:.2f} ({use.source})"
        )
    exact = router.cache.stats()
    lines.append("Caches:")
    lines.append(
        f"  exact     {exact.hits} hits / {exact.hits + exact.misses} lookups "
        f"({exact.hit_rate:.0%})"
    )
    if router.semantic is not None:
        semantic = router.semantic.stats()
        lines.append(
            f"  semantic  {semantic.hits} hits / {semantic.hits + semantic.misses} "
            f"lookups ({semantic.hit_rate:.0%})"
        )
    lines.append("Last errors:")
    query = (
        select(llm_calls.c.created_at, llm_calls.c.provider, llm_calls.c.outcome)
        .where(llm_calls.c.outcome != "ok")
        .order_by(llm_calls.c.id.desc())
        .limit(5)
    )
    with router.ledger.engine.connect() as connection:
        errors = list(connection.execute(query))
    if not errors:
        lines.append("  none")
    for row in errors:
        lines.append(f"  {row.created_at:%Y-%m-%d %H:%M:%S}  {row.provider:<10} {row.outcome}")
    return lines


def report_lines(router: Router, since: datetime, until: datetime, by: ReportBy) -> list[str]:
    """Cost and usage grouped ``by`` learner, agent, provider, day or tier."""
    rows = router.ledger.report(since=since, until=until, by=by)
    header = (
        f"{by:<24} {'calls':>7} {'cached':>7} {'errors':>7} {'tokens in':>10} "
        f"{'tokens out':>10} {'cost $':>10} {'p50 ms':>8}"
    )
    lines = [header, "-" * len(header)]
    total = 0.0
    for row in rows:
        total += row.cost_usd
        lines.append(
            f"{(row.key or '(system)')[:24]:<24} {row.calls:>7} {row.cache_hits:>7} "
            f"{row.errors:>7} {row.input_tokens:>10} {row.output_tokens:>10} "
            f"{row.cost_usd:>10.4f} {row.p50_latency_ms:>8.0f}"
        )
    lines.append(f"total cost ${total:.4f} from {since:%Y-%m-%d} to {until:%Y-%m-%d}")
    return lines
