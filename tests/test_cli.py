"""The installed ``tutor`` command, run as an operator runs it: a subprocess with TUTOR_* set."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from tests.conftest import TELEGRAM_SECRET, channel_env
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.support.harness import Harness
from tests.support.services import free_port
from tutor import migrate
from tutor.db import make_engine
from tutor.models import dead_letters, metadata
from tutor.settings import Settings

TUTOR = Path(sys.executable).parent / "tutor"
HEAD = migrate.head()
WEBHOOK_URL = "https://example.org/webhooks/telegram"


class Tutor:
    """Runs ``tutor ...`` in a scratch directory with only the TUTOR_* variables given."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("TUTOR_") and name != "PROMETHEUS_MULTIPROC_DIR"
        }
        self.env.update(
            TUTOR_VAR_DIR=str(workdir / "var"),
            TUTOR_SECRET_KEY="cli-test-secret-key",
            TUTOR_LOG_FORMAT="text",
            TUTOR_LOG_LEVEL="WARNING",
        )

    def __call__(
        self, *args: str, input: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(TUTOR), *args],
            cwd=self.workdir,
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


@pytest.fixture
def tutor(tmp_path: Path) -> Tutor:
    return Tutor(tmp_path)


def _part(output: str, name: str) -> str:
    """The doctor's line for one part, e.g. ``database``."""
    return next(line for line in output.splitlines() if line.split()[:1] == [name])


# doctor -------------------------------------------------------------------------------


def test_doctor_on_embedded_defaults(tutor: Tutor) -> None:
    result = tutor("doctor")
    assert result.returncode == 0, result.stderr
    database = _part(result.stdout, "database")
    assert "embedded (sqlite, " in database and str(tutor.workdir / "var") in database
    assert "reachable" in database
    assert "embedded (in-process store)" in _part(result.stdout, "redis")
    assert "embedded" in _part(result.stdout, "queue")
    assert "off" in _part(result.stdout, "telegram")
    assert "All configured parts are reachable." in result.stdout


def test_doctor_reaches_telegram_and_masks_its_secrets(
    tutor: Tutor, fake_telegram: FakeTelegram
) -> None:
    result = tutor("doctor", **channel_env(fake_telegram, None))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reachable as @tutor_test_bot; webhook secret set" in _part(result.stdout, "telegram")
    token_line = next(line for line in result.stdout.splitlines() if "TELEGRAM_BOT_TOKEN" in line)
    assert token_line.split() == ["TELEGRAM_BOT_TOKEN", "••••", f"({len(DEFAULT_TOKEN)}", "chars)"]
    for secret in (DEFAULT_TOKEN, TELEGRAM_SECRET, DEFAULT_TOKEN.split(":", 1)[1]):
        assert secret not in result.stdout and secret not in result.stderr
    assert any(request.path.endswith("/getMe") for request in fake_telegram.requests)


def test_doctor_says_when_telegram_refuses_the_token(
    tutor: Tutor, fake_telegram: FakeTelegram
) -> None:
    env = {**channel_env(fake_telegram, None), "TUTOR_TELEGRAM_BOT_TOKEN": "999:wrong-token"}
    result = tutor("doctor", **env)
    assert result.returncode == 1
    assert "UNREACHABLE" in _part(result.stdout, "telegram")
    assert "wrong-token" not in result.stdout + result.stderr


@pytest.mark.postgres
@pytest.mark.redis
def test_doctor_on_postgres_and_redis(tutor: Tutor, pg_url: str, redis_url: str) -> None:
    result = tutor("doctor", TUTOR_DATABASE_URL=pg_url, TUTOR_REDIS_URL=redis_url)
    assert result.returncode == 0, result.stdout + result.stderr
    database = _part(result.stdout, "database")
    assert "real (postgresql)" in database and f"reachable, schema at head ({HEAD})" in database
    redis_line = _part(result.stdout, "redis")
    assert "real" in redis_line and "reachable (Redis " in redis_line
    assert "dramatiq" in _part(result.stdout, "queue")


def test_doctor_fails_when_redis_is_unreachable(tutor: Tutor) -> None:
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"  # nothing listens there
    result = tutor("doctor", TUTOR_REDIS_URL=url)
    assert result.returncode == 1
    assert "UNREACHABLE" in _part(result.stdout, "redis")
    assert "Some parts need attention." in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_doctor_calls_an_explicit_sqlite_file_embedded(tutor: Tutor, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'tutor.sqlite3'}"
    result = tutor("doctor", TUTOR_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    database = _part(result.stdout, "database")
    assert "embedded (sqlite, " in database and "migrated on start" in database


# settings ---------------------------------------------------------------------------------


BAD_DATABASE = {"TUTOR_DATABASE_URL": "mysql://x"}
NO_THREADS = {"TUTOR_WORKER_THREADS": "0"}
HALF_WHATSAPP = {"TUTOR_WHATSAPP_PHONE_NUMBER_ID": "1065"}


@pytest.mark.parametrize(
    ("env", "variable", "command"),
    [
        (BAD_DATABASE, "TUTOR_DATABASE_URL", ("doctor",)),
        (BAD_DATABASE, "TUTOR_DATABASE_URL", ("db", "upgrade")),
        (NO_THREADS, "TUTOR_WORKER_THREADS", ("doctor",)),
        (NO_THREADS, "TUTOR_WORKER_THREADS", ("serve", "--port", "9")),
        (HALF_WHATSAPP, "TUTOR_WHATSAPP_ACCESS_TOKEN", ("doctor",)),
        (HALF_WHATSAPP, "TUTOR_WHATSAPP_APP_SECRET", ("chat",)),
        (HALF_WHATSAPP, "TUTOR_WHATSAPP_VERIFY_TOKEN", ("inbox", "failed")),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, tuple) else None,
)
def test_a_bad_setting_stops_any_command(
    tutor: Tutor, env: dict[str, str], variable: str, command: tuple[str, ...]
) -> None:
    result = tutor(*command, input="", **env)
    assert result.returncode != 0
    assert "Error: invalid settings: " in result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tutor.workdir / "var").exists()  # refused before touching anything


# db ---------------------------------------------------------------------------------------


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _upgrade_twice_and_check(tutor: Tutor, url: str) -> None:
    for _ in range(2):
        result = tutor("db", "upgrade", TUTOR_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"database at revision {HEAD}"
    current = tutor("db", "current", TUTOR_DATABASE_URL=url)
    assert current.stdout.strip() == f"current: {HEAD}  head: {HEAD}"
    assert {table.name for table in metadata.sorted_tables} <= _tables(url)


def test_db_upgrade_on_a_fresh_sqlite_file(tutor: Tutor, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'tutor.sqlite3'}"
    before = tutor("db", "current", TUTOR_DATABASE_URL=url)
    assert before.returncode == 0 and before.stdout.strip() == f"current: None  head: {HEAD}"
    _upgrade_twice_and_check(tutor, url)


@pytest.mark.postgres
def test_db_downgrade_and_upgrade_on_postgres(tutor: Tutor, pg_url: str) -> None:
    down = tutor("db", "downgrade", "base", TUTOR_DATABASE_URL=pg_url)
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "database at revision None"
    assert _tables(pg_url) <= {"alembic_version"}
    doctor = tutor("doctor", TUTOR_DATABASE_URL=pg_url)
    assert f"head is {HEAD}: run tutor db upgrade" in _part(doctor.stdout, "database")
    _upgrade_twice_and_check(tutor, pg_url)


# telegram ---------------------------------------------------------------------------------


def test_set_webhook_registers_the_url_with_the_secret(
    tutor: Tutor, fake_telegram: FakeTelegram
) -> None:
    env = channel_env(fake_telegram, None)
    result = tutor("telegram", "set-webhook", WEBHOOK_URL, "--drop-pending", **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"webhook set: {WEBHOOK_URL}"
    assert fake_telegram.webhook["url"] == WEBHOOK_URL
    assert fake_telegram.webhook["secret_token"] == TELEGRAM_SECRET
    assert fake_telegram.webhook["drop_pending_updates"] is True
    assert "message" in fake_telegram.webhook["allowed_updates"]
    assert "callback_query" in fake_telegram.webhook["allowed_updates"]
    assert TELEGRAM_SECRET not in result.stdout + result.stderr

    info = tutor("telegram", "info", **env)
    assert info.returncode == 0, info.stderr
    assert f"url: {WEBHOOK_URL}" in info.stdout.splitlines()


def test_set_webhook_refuses_plain_http(tutor: Tutor, fake_telegram: FakeTelegram) -> None:
    env = channel_env(fake_telegram, None)
    result = tutor("telegram", "set-webhook", "http://example.org/webhooks/telegram", **env)
    assert result.returncode != 0
    assert "Telegram only delivers webhooks to https:// URLs" in result.stderr
    assert fake_telegram.requests == [] and fake_telegram.webhook == {}


def test_set_webhook_needs_the_secret(tutor: Tutor, fake_telegram: FakeTelegram) -> None:
    env = channel_env(fake_telegram, None)
    del env["TUTOR_TELEGRAM_WEBHOOK_SECRET"]
    result = tutor("telegram", "set-webhook", WEBHOOK_URL, **env)
    assert result.returncode != 0
    assert "set TUTOR_TELEGRAM_WEBHOOK_SECRET first" in result.stderr
    assert fake_telegram.requests == []


def test_set_webhook_reports_a_refusal(tutor: Tutor, fake_telegram: FakeTelegram) -> None:
    fake_telegram.inject(400, {"ok": False, "error_code": 400, "description": "Bad Request: x"})
    result = tutor("telegram", "set-webhook", WEBHOOK_URL, **channel_env(fake_telegram, None))
    assert result.returncode != 0
    assert "Telegram refused" in result.stderr and "Traceback" not in result.stderr
    assert fake_telegram.webhook == {}


# chat -------------------------------------------------------------------------------------


def test_chat_through_stdin(tutor: Tutor) -> None:
    result = tutor("chat", input="hi\n1\n1\n2\nMadrid\n8am\nmenu\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tutor> Hi! I'm your Spanish and English tutor 👋" in out
    assert "tutor> Which language do you want to practise?" in out
    assert "tutor> 1. Español\ntutor> 2. English" in out
    assert "tutor> Great! And which language should I explain things in?" in out
    assert "tutor> How much Spanish do you know?" in out
    assert "tutor> Got it: Europe/Madrid." in out
    assert "tutor> Done: I'll nudge you at 08:00 when reviews are waiting." in out
    menu = [
        "tutor> What would you like to do?",
        "tutor> 1. Conversation",
        "tutor> 2. Grammar",
        "tutor> 3. Pronunciation",
        "tutor> 4. Vocabulary",
        "tutor> 5. Progress",
        "tutor> 6. Subscription",
    ]
    assert out.count("\n".join(menu)) == 2  # after onboarding, and for "menu"
    assert "(no answer yet" not in out
    assert out.rstrip().endswith("Bye! 👋")


# inbox ------------------------------------------------------------------------------------


def test_inbox_failed_before_any_schema_gives_advice(tutor: Tutor) -> None:
    result = tutor("inbox", "failed")
    assert result.returncode != 0
    assert "run `tutor db upgrade`" in result.stderr and "Traceback" not in result.stderr


def test_inbox_failed_lists_a_dead_letter(
    tutor: Tutor,
    make_settings: Callable[..., Settings],
    sqlite_url: str,
    fake_telegram: FakeTelegram,
) -> None:
    assert tutor("db", "upgrade", TUTOR_DATABASE_URL=sqlite_url).returncode == 0
    empty = tutor("inbox", "failed", TUTOR_DATABASE_URL=sqlite_url)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.strip() == "no dead letters"

    env = channel_env(fake_telegram, None)
    settings = make_settings(
        **{name.removeprefix("TUTOR_").lower(): value for name, value in env.items()}
    )
    fake_telegram.block(7301)
    harness = Harness(settings, fake_telegram)
    try:
        assert harness.telegram_says(7301, "hi") == []  # blocked: 403, nothing delivered
        with harness.services.engine.connect() as connection:
            letter = connection.execute(select(dead_letters)).one()
    finally:
        harness.close()

    result = tutor("inbox", "failed", TUTOR_DATABASE_URL=sqlite_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    fields = lines[0].split()
    assert fields[2:6] == ["outbox", f"#{letter.ref_id}", "telegram", letter.correlation_id]
    assert "blocked" in lines[0]

    stats = tutor("inbox", "stats", TUTOR_DATABASE_URL=sqlite_url)
    assert stats.stdout.strip() == "pending: 0  done: 1  failed: 0"


def test_serve_stops_cleanly_on_sigterm(tutor: Tutor) -> None:
    import signal
    import time

    import httpx

    port = free_port()
    process = subprocess.Popen(
        [str(TUTOR), "serve", "--port", str(port)],
        cwd=tutor.workdir,
        env=tutor.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output


def test_set_webhook_defaults_to_the_public_url(tutor: Tutor, fake_telegram: FakeTelegram) -> None:
    env = channel_env(fake_telegram, None)
    result = tutor("telegram", "set-webhook", TUTOR_PUBLIC_URL="https://tutor.example.org/", **env)
    assert result.returncode == 0, result.stderr
    assert fake_telegram.webhook["url"] == "https://tutor.example.org/webhooks/telegram"
    missing = tutor("telegram", "set-webhook", **env)
    assert missing.returncode != 0
    assert "TUTOR_PUBLIC_URL" in missing.stderr


def test_curriculum_assign_moves_a_learner(tutor: Tutor, harness: Harness) -> None:
    harness.onboard(7401)
    harness.telegram_says(7401, "1")  # the role-play pins the learner to es-for-en@1
    url = harness.settings.resolved_database_url
    moved = tutor("curriculum", "assign", "telegram:7401", "es-for-en@1", TUTOR_DATABASE_URL=url)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() == "telegram:7401: now on es-for-en@1"
    wrong = tutor("curriculum", "assign", "telegram:7401", "en-for-es@1", TUTOR_DATABASE_URL=url)
    assert wrong.returncode != 0 and "the learner practises es" in wrong.stderr
    missing = tutor("curriculum", "assign", "telegram:7401", "es-for-en@9", TUTOR_DATABASE_URL=url)
    assert missing.returncode != 0 and "no curriculum" in missing.stderr
    nobody = tutor("curriculum", "assign", "telegram:1", "es-for-en@1", TUTOR_DATABASE_URL=url)
    assert nobody.returncode != 0 and "no learner" in nobody.stderr
