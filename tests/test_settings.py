"""Settings: embedded defaults, back-end selection, validation that names the variable, ``.env``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tutor.errors import ConfigurationError
from tutor.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TUTOR_* variables from the caller, and a working directory without a ``.env``."""
    for name in list(os.environ):
        if name.startswith("TUTOR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return str(caught.value)


def test_defaults_are_embedded() -> None:
    settings = load_settings()
    assert settings.database_url == "" and settings.redis_url == ""
    assert settings.resolved_database_url == f"sqlite:///{Path('var') / 'tutor.sqlite3'}"
    assert settings.database_is_embedded and settings.redis_is_embedded
    assert settings.resolved_queue == "embedded"
    assert settings.resolved_sweep_stale_seconds == 0.0
    assert not settings.telegram_enabled and not settings.whatsapp_enabled


def test_var_dir_places_the_sqlite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUTOR_VAR_DIR", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'state' / 'tutor.sqlite3'}"


def test_a_redis_url_switches_the_queue_to_dramatiq(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_REDIS_URL", "  redis://127.0.0.1:6390/2 ")
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:6390/2"
    assert not settings.redis_is_embedded
    assert settings.resolved_queue == "dramatiq"
    assert settings.resolved_sweep_stale_seconds == settings.sweep_stale_seconds


def test_an_explicit_queue_wins_over_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_REDIS_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.setenv("TUTOR_QUEUE", "embedded")
    assert load_settings().resolved_queue == "embedded"


def test_a_postgres_url_is_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_DATABASE_URL", "postgresql+psycopg://u:p@db/tutor")
    settings = load_settings()
    assert settings.resolved_database_url == "postgresql+psycopg://u:p@db/tutor"
    assert not settings.database_is_embedded


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TUTOR_DATABASE_URL", "mysql://x", "must start with sqlite:///"),
        ("TUTOR_DATABASE_URL", "postgresql://u@db/tutor", "name the driver"),
        ("TUTOR_REDIS_URL", "http://127.0.0.1:6379", "must start with redis://"),
        ("TUTOR_WORKER_THREADS", "0", "greater than or equal to 1"),
        ("TUTOR_QUEUE", "celery", "'auto', 'embedded' or 'dramatiq'"),
        ("TUTOR_TELEGRAM_WEBHOOK_SECRET", "has spaces!", "1-256 characters"),
        ("TUTOR_TELEGRAM_WEBHOOK_SECRET", "a" * 257, "1-256 characters"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    message = _refused(monkeypatch, **{variable: value})
    assert message.startswith(f"invalid settings: {variable}: ")
    assert expected in message


def test_the_longest_webhook_secret_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "A-z_9" * 51 + "x"  # 256 characters from Telegram's alphabet
    monkeypatch.setenv("TUTOR_TELEGRAM_WEBHOOK_SECRET", secret)
    value = load_settings().telegram_webhook_secret
    assert value is not None and value.get_secret_value() == secret


def test_a_refused_secret_is_not_repeated_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refused(monkeypatch, TUTOR_TELEGRAM_WEBHOOK_SECRET="hunter2 is my secret")
    assert "hunter2" not in message


def test_whatsapp_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refused(monkeypatch, TUTOR_WHATSAPP_PHONE_NUMBER_ID="1065")
    assert "WhatsApp needs all four settings" in message
    for missing in (
        "TUTOR_WHATSAPP_ACCESS_TOKEN",
        "TUTOR_WHATSAPP_APP_SECRET",
        "TUTOR_WHATSAPP_VERIFY_TOKEN",
    ):
        assert missing in message
    assert "TUTOR_WHATSAPP_PHONE_NUMBER_ID" not in message


def test_whatsapp_with_all_four_settings_is_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "TUTOR_WHATSAPP_PHONE_NUMBER_ID": "1065",
        "TUTOR_WHATSAPP_ACCESS_TOKEN": "token",
        "TUTOR_WHATSAPP_APP_SECRET": "app-secret",
        "TUTOR_WHATSAPP_VERIFY_TOKEN": "verify",
        "TUTOR_WHATSAPP_API_URL": "http://127.0.0.1:9/v23.0/",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.whatsapp_enabled
    assert settings.whatsapp_api_url == "http://127.0.0.1:9/v23.0"


def test_dotenv_in_the_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    (clean_environment / ".env").write_text(
        "TUTOR_REDIS_URL=redis://127.0.0.1:6390/1\n"
        "TUTOR_WORKER_THREADS=7\n"
        "TUTOR_TELEGRAM_BOT_TOKEN=1:from-dotenv\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.redis_url == "redis://127.0.0.1:6390/1"
    assert settings.resolved_queue == "dramatiq"
    assert settings.worker_threads == 7
    assert settings.telegram_enabled

    monkeypatch.setenv("TUTOR_WORKER_THREADS", "3")  # the environment wins over .env
    assert load_settings().worker_threads == 3


def test_a_bad_dotenv_value_names_its_variable(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("TUTOR_DATABASE_URL=mysql://x\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="TUTOR_DATABASE_URL"):
        load_settings()


def test_overrides_are_validated_too() -> None:
    with pytest.raises(ConfigurationError, match="TUTOR_HOT_TURNS"):
        load_settings(hot_turns=0)
    assert isinstance(load_settings(hot_turns=3), Settings)
