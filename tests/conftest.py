"""Shared fixtures: private PostgreSQL and Redis, fake platform servers, settings."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, FakeWhatsApp
from tests.support.harness import Harness
from tests.support.reliability import undescribed
from tests.support.services import PostgresServer, RedisServer
from tests.support.stores import KINDS, store_env
from tutor import migrate
from tutor.db import make_engine
from tutor.settings import Settings

TELEGRAM_SECRET = "test_webhook_secret-123"
WHATSAPP_APP_SECRET = "whatsapp-app-secret"
WHATSAPP_VERIFY_TOKEN = "verify-me-please"
REFERENCE_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "data"

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        template = _pg_url(server, "tutor_template")
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute("CREATE DATABASE tutor_template")
        engine = make_engine(template)
        migrate.upgrade(engine)
        engine.dispose()
        yield server


def _pg_url(server: PostgresServer, database: str) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{database}"


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """A fresh database, migrated to head, for one test."""
    name = f"t{next(_databases)}"
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name} TEMPLATE tutor_template")
    return _pg_url(postgres, name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tutor.sqlite3'}"


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_whatsapp() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as fake:
        yield fake


def channel_env(telegram: FakeTelegram | None, whatsapp: FakeWhatsApp | None) -> dict[str, str]:
    """TUTOR_* variables pointing both channels at the local fakes."""
    env: dict[str, str] = {}
    if telegram is not None:
        env.update(
            TUTOR_TELEGRAM_BOT_TOKEN=DEFAULT_TOKEN,
            TUTOR_TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
            TUTOR_TELEGRAM_API_URL=telegram.url,
        )
    if whatsapp is not None:
        env.update(
            TUTOR_WHATSAPP_PHONE_NUMBER_ID=DEFAULT_PHONE_NUMBER_ID,
            TUTOR_WHATSAPP_ACCESS_TOKEN=DEFAULT_ACCESS_TOKEN,
            TUTOR_WHATSAPP_APP_SECRET=WHATSAPP_APP_SECRET,
            TUTOR_WHATSAPP_VERIFY_TOKEN=WHATSAPP_VERIFY_TOKEN,
            TUTOR_WHATSAPP_API_URL=whatsapp.url + "/v23.0",
        )
    return env


@pytest.fixture
def make_settings(tmp_path: Path, sqlite_url: str) -> Callable[..., Settings]:
    """Settings for an in-process test: embedded store in tmp_path unless overridden."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "var_dir": tmp_path / "var",
            "database_url": sqlite_url,
            "secret_key": "test-secret-key",
            "send_backoff_seconds": 0.05,
            "sweep_interval_seconds": 0.2,
            # The fakes answer at once: pacing is tested on its own (test_pacing, e2e), and
            # elsewhere would only make dialogue tests wait out the platforms' real rates.
            "send_pacing": False,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


def settings_from_env(make_settings: Callable[..., Settings], env: dict[str, str]) -> Settings:
    """Settings from ``TUTOR_*`` variables, on top of the test defaults."""
    return make_settings(
        **{key.removeprefix("TUTOR_").lower(): value for key, value in env.items()}
    )


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> Iterator[Harness]:
    """The in-process tutor (SQLite, embedded queue) with both fake platforms."""
    settings = settings_from_env(make_settings, channel_env(fake_telegram, fake_whatsapp))
    harness = Harness(settings, fake_telegram, fake_whatsapp)
    yield harness
    harness.close()


@pytest.fixture(params=KINDS)
def stores(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
) -> Iterator[Harness]:
    """The tutor on its embedded stores (SQLite, in-process Redis) and on PostgreSQL with
    Redis, Telegram at the fake: for tests that must hold on both."""
    env = {**channel_env(fake_telegram, None), **store_env(request)}
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    yield harness
    harness.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A reliability test must say what it injects and what it checks (docs/RELIABILITY.md)."""
    missing = undescribed(items)
    if missing:
        raise pytest.UsageError(
            "reliability tests without an 'Injects:' and a 'Checks:' line in their docstring: "
            + ", ".join(missing)
        )
