"""``tutor doctor``: the resolved configuration, secrets masked, and a check of every part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from tutor import migrate
from tutor.db import make_engine
from tutor.errors import ChannelError
from tutor.settings import Settings

Echo = Callable[[str], Any]


def mask(value: object) -> str:
    """Secrets show their length only; URLs lose their passwords."""
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        return f"•••• ({len(raw)} chars)" if raw else "(empty)"
    if value is None or value == "":
        return "(not set)"
    text = str(value)
    if "://" in text and "@" in text:
        try:
            return make_url(text).render_as_string(hide_password=True)
        except Exception:
            return text.split("://", 1)[0] + "://****"
    return text


def _check(echo: Echo, name: str, mode: str, check: Callable[[], str]) -> bool:
    try:
        detail = check()
        ok = True
    except Exception as exc:
        first_line = str(exc).splitlines()[0][:120] if str(exc) else ""
        detail = f"UNREACHABLE: {type(exc).__name__}: {first_line}"
        ok = False
    echo(f"  {name:<10} {mode:<34} {detail}")
    return ok


def run_checks(settings: Settings, echo: Echo) -> bool:
    """Print configuration and reachability; False when a configured part is unreachable."""
    echo("Configuration (TUTOR_*):")
    for field in sorted(Settings.model_fields):
        echo(f"  {field.upper():<32} {mask(getattr(settings, field))}")
    echo("")
    echo("Parts:")
    results = [
        _check(echo, "database", _db_mode(settings), lambda: _database(settings)),
        _check(
            echo,
            "redis",
            "embedded (in-process store)" if settings.redis_is_embedded else "real",
            lambda: _redis(settings),
        ),
        _check(echo, "queue", f"{settings.resolved_queue}", lambda: _queue(settings)),
    ]
    if settings.telegram_bot_token is not None:
        results.append(_check(echo, "telegram", "real (Bot API)", lambda: _telegram(settings)))
    else:
        echo(f"  {'telegram':<10} {'off':<34} set TUTOR_TELEGRAM_BOT_TOKEN to enable")
    if settings.whatsapp_enabled:
        results.append(_check(echo, "whatsapp", "real (Cloud API)", lambda: _whatsapp(settings)))
    else:
        echo(f"  {'whatsapp':<10} {'off':<34} set the four TUTOR_WHATSAPP_* settings to enable")
    echo(f"  {'models':<10} {'offline brain':<34} model routing arrives with the model issue")
    echo("")
    echo("All configured parts are reachable." if all(results) else "Some parts need attention.")
    return all(results)


def _db_mode(settings: Settings) -> str:
    backend = make_url(settings.resolved_database_url).get_backend_name()
    return (
        f"embedded ({backend}, {settings.resolved_database_url.removeprefix('sqlite:///')})"
        if settings.database_is_embedded
        else f"real ({backend})"
    )


def _database(settings: Settings) -> str:
    engine = make_engine(settings.resolved_database_url)
    try:
        current = migrate.current(engine)
    finally:
        engine.dispose()
    head = migrate.head()
    if current == head:
        return f"reachable, schema at head ({head})"
    if settings.database_is_embedded:  # any SQLite store is migrated when the service starts
        return f"reachable, schema {current or 'empty'} (migrated on start)"
    return f"reachable, schema {current or 'empty'} but head is {head}: run tutor db upgrade"


def _redis(settings: Settings) -> str:
    if settings.redis_is_embedded:
        return "in this process (nothing to reach)"
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    finally:
        client.close()
    return f"reachable (Redis {version})"


def _queue(settings: Settings) -> str:
    if settings.resolved_queue == "embedded":
        return "in-process worker pool over the inbox"
    return "Dramatiq on the Redis above (run tutor worker)"


def _telegram(settings: Settings) -> str:
    from tutor.channels.telegram import TelegramClient

    assert settings.telegram_bot_token is not None
    with httpx.Client(timeout=5) as http:
        client = TelegramClient(
            settings.telegram_api_url, settings.telegram_bot_token.get_secret_value(), http, 5.0
        )
        try:
            me = client.get_me()
        except ChannelError as exc:
            raise RuntimeError(f"Bot API refused: {exc}") from exc
    secret = "set" if settings.telegram_webhook_secret else "NOT SET (webhooks refused)"
    return f"reachable as @{me.get('username', '?')}; webhook secret {secret}"


def _whatsapp(settings: Settings) -> str:
    assert settings.whatsapp_access_token is not None
    url = f"{settings.whatsapp_api_url}/{settings.whatsapp_phone_number_id}"
    token = settings.whatsapp_access_token.get_secret_value()
    with httpx.Client(timeout=5) as http:
        response = http.get(url, headers={"Authorization": f"Bearer {token}"})
    if response.status_code >= 400:
        raise RuntimeError(f"Graph API answered HTTP {response.status_code}")
    return "reachable (phone number id accepted)"
