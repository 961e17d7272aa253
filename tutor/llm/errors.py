"""The model-call exception tree; adapters translate vendor SDK errors into it.

    LLMError
    ├── ProviderUnavailable        connection errors, timeouts, 5xx, 529 overloaded (retryable)
    │   └── ProviderRateLimited    429, with the retry-after the provider asked for
    ├── ProviderRejected           400/401/403/404/422: the request itself is wrong (not retried)
    ├── BadModelOutput             not JSON, fails its schema, truncated, wrong language
    └── TierUnavailable            the router skipped a tier: breaker open, budget spent, not set up

Retries and fallbacks decide by class, never by message text.
"""

from __future__ import annotations


class LLMError(Exception):
    """Base of every model-call failure."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class ProviderUnavailable(LLMError):
    """Worth retrying (with jitter) or falling back."""


class ProviderRateLimited(ProviderUnavailable):
    """The provider asked us to wait ``retry_after`` seconds."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class ProviderRejected(LLMError):
    """The request is wrong for this provider; retrying it will not help."""


class BadModelOutput(LLMError):
    """The model answered, but not with something we can use."""


class TierUnavailable(LLMError):
    """The router did not try this tier (breaker open, budget spent, not configured)."""
