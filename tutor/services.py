"""The composition root: one typed bundle of every outside service, built once per process.

Nothing connects at import time. ``build_services(settings)`` picks each back
end from the settings (real or embedded); tests pass their own settings.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import redis
from sqlalchemy import Engine

from memory.embeddings import Embedder, embedder_for
from memory.hot import HotMemory
from payments import plans
from payments.plans import Catalog
from tutor import metrics
from tutor.channels.base import ChannelAdapter
from tutor.db import make_engine
from tutor.messages import Channel
from tutor.pacing import Pacer, build_pacer
from tutor.queue import DramatiqQueue, EmbeddedQueue, TaskQueue
from tutor.settings import Settings

if TYPE_CHECKING:
    from payments.stripe_rail import StripeRail
    from tutor.llm.router import Router

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: Engine
    redis: Any
    hot: HotMemory
    queue: TaskQueue
    http: httpx.Client
    channels: dict[Channel, ChannelAdapter] = field(default_factory=dict)
    catalog: Catalog = field(default_factory=plans.load)  # what learners can buy
    metrics_dir: str | None = None
    #: Outbound rate limits shared through ``redis``; None when pacing is off.
    pacer: Pacer | None = None
    _router: Router | None = None
    _embedder: Embedder | None = None
    _stripe: StripeRail | None = None

    @property
    def embedder(self) -> Embedder:
        """The memory notes' embedder, built on first use."""
        if self._embedder is None:
            self._embedder = embedder_for(self.settings)
        return self._embedder

    @property
    def router(self) -> Router:
        """The model router, built on first use (web processes never need it)."""
        if self._router is None:
            from tutor.llm.service import build_router

            self._router = build_router(self.settings, self.redis, self.engine)
        return self._router

    @property
    def stripe(self) -> StripeRail | None:
        """The Stripe rail when Stripe is configured, built on first use."""
        if self._stripe is None and self.settings.stripe_enabled:
            from payments.stripe_rail import StripeRail

            self._stripe = StripeRail(self.settings, self.catalog)
        return self._stripe

    def close(self) -> None:
        if self._router is not None:
            self._router.close()
        if self._stripe is not None:
            self._stripe.close()
        self.queue.close()
        self.http.close()
        self.engine.dispose()


def _redis_client(settings: Settings) -> Any:
    if settings.redis_is_embedded:
        import fakeredis

        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        health_check_interval=30,
    )


def _channels(settings: Settings, http: httpx.Client) -> dict[Channel, ChannelAdapter]:
    from tutor.channels.web import WebChannel

    channels: dict[Channel, ChannelAdapter] = {Channel.WEB: WebChannel()}
    if settings.telegram_bot_token is not None:
        from tutor.channels.telegram import TelegramClient

        channels[Channel.TELEGRAM] = TelegramClient(
            settings.telegram_api_url,
            settings.telegram_bot_token.get_secret_value(),
            http,
            settings.send_timeout_seconds,
        )
    if settings.whatsapp_enabled and settings.whatsapp_access_token is not None:
        from tutor.channels.whatsapp import WhatsAppClient

        channels[Channel.WHATSAPP] = WhatsAppClient(
            settings.whatsapp_api_url,
            settings.whatsapp_phone_number_id,
            settings.whatsapp_access_token.get_secret_value(),
            http,
            settings.send_timeout_seconds,
        )
    return channels


_embedded_lock = threading.Lock()


@contextmanager
def _migration_lock(var_dir: Path) -> Iterator[None]:
    """Serialise the embedded store's start-up migration across threads and processes."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with _embedded_lock, open(var_dir / "migrate.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_services(
    settings: Settings, *, migrate_embedded: bool = True, metrics_dir: str | None = None
) -> Services:
    """Connect (lazily) to every back end the settings name.

    The embedded SQLite store is migrated to head on start so ``make run``
    needs no extra step; real databases are migrated by ``tutor db upgrade``.
    """
    engine = make_engine(settings.resolved_database_url)
    if migrate_embedded and settings.database_is_embedded:
        from tutor import migrate  # Alembic only where the embedded store needs it

        with _migration_lock(Path(settings.var_dir)):
            migrate.upgrade(engine)
    client = _redis_client(settings)
    hot = HotMemory(
        client,
        max_turns=settings.hot_turns,
        ttl_seconds=settings.hot_ttl_seconds,
        on_error=lambda op: metrics.HOT_ERRORS.labels(op).inc(),
    )
    task_queue: TaskQueue
    if settings.resolved_queue == "dramatiq":
        task_queue = DramatiqQueue(
            settings.redis_url, sweep_interval=settings.sweep_interval_seconds
        )
    else:
        task_queue = EmbeddedQueue(poll_interval=settings.sweep_interval_seconds)
    http = httpx.Client(
        timeout=settings.send_timeout_seconds,
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
    )
    return Services(
        settings=settings,
        engine=engine,
        redis=client,
        hot=hot,
        queue=task_queue,
        http=http,
        channels=_channels(settings, http),
        catalog=plans.load(settings.plans_file),
        metrics_dir=metrics_dir,
        pacer=build_pacer(settings, client),
    )
