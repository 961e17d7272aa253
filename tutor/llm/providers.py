"""The network model providers, and the factory that picks them from settings.

    FAST    GroqProvider               when TUTOR_GROQ_API_KEY is set
    STRONG  AnthropicProvider          when TUTOR_ANTHROPIC_API_KEY is set
    LOCAL   OpenAICompatibleProvider   when TUTOR_LOCAL_LLM_BASE_URL is set

The OFFLINE tier (no network) is built elsewhere. Building a provider opens no
connection; the SDK clients connect on first use.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from tutor.llm.anthropic_provider import AnthropicProvider
from tutor.llm.groq_provider import GroqProvider
from tutor.llm.openai_compat import OpenAICompatibleProvider
from tutor.llm.types import Provider, Tier
from tutor.settings import Settings

logger = logging.getLogger(__name__)

__all__ = [
    "AnthropicProvider",
    "GroqProvider",
    "OpenAICompatibleProvider",
    "build_providers",
]


def build_providers(settings: Settings) -> dict[Tier, Provider]:
    """One provider per network tier the settings configure; unconfigured tiers are absent."""
    providers: dict[Tier, Provider] = {}
    groq_key = _secret(settings.groq_api_key)
    if groq_key:
        providers[Tier.FAST] = GroqProvider(
            groq_key, settings.groq_base_url, http_timeout=settings.llm_fast_timeout_seconds
        )
    anthropic_key = _secret(settings.anthropic_api_key)
    if anthropic_key:
        providers[Tier.STRONG] = AnthropicProvider(
            anthropic_key,
            settings.anthropic_base_url,
            http_timeout=settings.llm_strong_timeout_seconds,
        )
    if settings.local_llm_base_url:
        providers[Tier.LOCAL] = OpenAICompatibleProvider(
            settings.local_llm_base_url,
            _secret(settings.local_llm_api_key) or None,
            http_timeout=settings.llm_local_timeout_seconds,
        )
    logger.info("model tiers configured: %s", ", ".join(providers) or "none")
    return providers


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""
