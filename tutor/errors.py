"""The service's exception tree.

    TutorError
    ├── ConfigurationError          a setting is missing or invalid (start-up)
    ├── WebhookError                an inbound request is refused
    │   ├── SignatureError          missing or wrong signature / secret token  -> 401/403
    │   └── PayloadError            not JSON, wrong shape, too large          -> 400/413
    ├── StorageError                the SQL store failed (transient)
    ├── PaymentProviderError        Stripe or the Bot API's payment calls failed
    └── ChannelError                sending to Telegram / WhatsApp failed
        ├── RetryableSendError      429, 5xx, timeouts, connection errors (retry with backoff)
        │   └── RateLimited         429 with a retry-after the sender must honour; its scope
        │                           (the whole sender, or one recipient) names the bucket
        │                           of tutor.pacing to push back
        └── PermanentSendError      4xx other than 429: the message goes to dead letters;
            │                       ``recipient_gone`` (Telegram 403: bot blocked, user
            │                       deactivated) also marks the learner inactive
            └── OutsideWindowError  WhatsApp 131047: free-form text outside the 24 h window

Adapters translate vendor exceptions into this tree with ``raise ... from exc``;
retries decide by class, never by message text.
"""

from __future__ import annotations

from typing import Literal


class TutorError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigurationError(TutorError):
    """A setting is missing or invalid."""


class PaymentProviderError(TutorError):
    """A payment provider's API (Stripe, Telegram's payment methods) failed or refused."""


class WebhookError(TutorError):
    """An inbound webhook request is refused."""

    status = 400


class SignatureError(WebhookError):
    """The request is not signed by the platform it claims to come from."""

    status = 403

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.status = 401 if missing else 403


class PayloadError(WebhookError):
    """The body is not something the platform sends."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class StorageError(TutorError):
    """The SQL store failed in a way worth retrying later."""


class ChannelError(TutorError):
    """A send to a messaging platform failed."""

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryableSendError(ChannelError):
    """Worth trying again later."""

    retry_after: float | None = None


class RateLimited(RetryableSendError):
    """The platform asked us to slow down for ``retry_after`` seconds.

    ``scope`` says which limit was hit: ``"sender"`` (the bot, the business number) or
    ``"recipient"`` (one chat, one user). Without a ``retry_after``, ``growth`` (when the
    platform documents one) makes the wait ``growth ** attempt`` seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None,
        code: int | str | None = None,
        scope: Literal["sender", "recipient"] = "sender",
        growth: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.scope: Literal["sender", "recipient"] = scope
        self.growth = growth


class PermanentSendError(ChannelError):
    """Retrying will not help; the message becomes a dead letter.

    ``recipient_gone``: the recipient refused us for good (blocked the bot, deleted the
    account), so nothing more should be scheduled for them.
    """

    def __init__(
        self, message: str, *, code: int | str | None = None, recipient_gone: bool = False
    ) -> None:
        super().__init__(message, code=code)
        self.recipient_gone = recipient_gone


class OutsideWindowError(PermanentSendError):
    """WhatsApp refuses free-form messages 24 h after the learner's last message."""
