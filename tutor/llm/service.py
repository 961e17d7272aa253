"""Builds the router from settings: tiers, prices, breaker, budgets, caches, ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from memory.embeddings import HashingEmbedder
from tutor import metrics
from tutor.llm.breaker import CircuitBreaker
from tutor.llm.budget import Budget, BudgetLimits
from tutor.llm.cache import ResponseCache, SemanticCache
from tutor.llm.ledger import Ledger
from tutor.llm.providers import build_providers
from tutor.llm.router import ModelChoice, Router, TierConfig
from tutor.llm.types import Provider, Task, Tier
from tutor.settings import Settings


def tier_configs(settings: Settings, providers: Mapping[Tier, Provider]) -> dict[Tier, TierConfig]:
    """Model, prices and timeout for each configured tier."""
    configs: dict[Tier, TierConfig] = {}
    if Tier.FAST in providers:
        small = ModelChoice(
            settings.groq_small_model,
            settings.groq_small_price_input,
            settings.groq_small_price_output,
        )
        configs[Tier.FAST] = TierConfig(
            Tier.FAST,
            providers[Tier.FAST],
            ModelChoice(settings.groq_model, settings.groq_price_input, settings.groq_price_output),
            settings.llm_fast_timeout_seconds,
            {Task.CLASSIFY: small},
        )
    if Tier.STRONG in providers:
        configs[Tier.STRONG] = TierConfig(
            Tier.STRONG,
            providers[Tier.STRONG],
            ModelChoice(
                settings.anthropic_model,
                settings.anthropic_price_input,
                settings.anthropic_price_output,
            ),
            settings.llm_strong_timeout_seconds,
        )
    if Tier.LOCAL in providers:
        configs[Tier.LOCAL] = TierConfig(
            Tier.LOCAL,
            providers[Tier.LOCAL],
            ModelChoice(settings.local_llm_model, 0.0, 0.0),
            settings.llm_local_timeout_seconds,
        )
    return configs


def _count(component: str) -> Any:
    return lambda operation: metrics.LLM_STORE_ERRORS.labels(component, operation).inc()


def build_router(
    settings: Settings,
    client: Any,
    engine: Engine,
    providers: Mapping[Tier, Provider] | None = None,
) -> Router:
    """The router for this process; opens no connection until the first request."""
    ledger = Ledger(engine)
    chosen = build_providers(settings) if providers is None else providers
    return Router(
        tier_configs(settings, chosen),
        breaker=CircuitBreaker(
            client,
            failure_threshold=settings.llm_breaker_failures,
            cooldown_seconds=settings.llm_breaker_cooldown_seconds,
            on_error=_count("breaker"),
        ),
        budget=Budget(
            client, BudgetLimits.from_settings(settings), ledger=ledger, on_error=_count("budget")
        ),
        cache=ResponseCache(client, settings.llm_cache_ttl_seconds, on_error=_count("cache")),
        ledger=ledger,
        semantic=SemanticCache(
            client,
            HashingEmbedder(),
            ttl_seconds=settings.llm_cache_ttl_seconds,
            on_error=_count("semantic_cache"),
        ),
    )
