"""The real processes end to end: signed webhooks into gunicorn, replies from ``tutor worker``
arriving at local fake Bot API / Graph API servers; on SQLite with the embedded store and on
PostgreSQL with real Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import TELEGRAM_SECRET, WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, channel_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support import payloads
from tests.support.stack import Stack
from tutor.db import make_engine
from tutor.models import inbox

pytestmark = pytest.mark.slow

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture(params=["sqlite-embedded", "postgres-redis"])
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> Iterator[Stack]:
    env = {
        **channel_env(fake_telegram, fake_whatsapp),
        "TUTOR_SECRET_KEY": "e2e-secret",
        "TUTOR_SWEEP_STALE_SECONDS": "1",
        "TUTOR_SWEEP_INTERVAL_SECONDS": "0.5",
        "TUTOR_SEND_BACKOFF_SECONDS": "0.1",
    }
    if request.param == "postgres-redis":
        env["TUTOR_DATABASE_URL"] = request.getfixturevalue("pg_url")
        env["TUTOR_REDIS_URL"] = request.getfixturevalue("redis_url")
    else:
        env["TUTOR_DATABASE_URL"] = f"sqlite:///{tmp_path / 'var' / 'tutor.sqlite3'}"
    with Stack(env, tmp_path) as running:
        running.start_web()
        running.start_worker()
        yield running


def _post_telegram(
    stack: Stack,
    body: dict[str, object],
    secret: str = TELEGRAM_SECRET,
) -> httpx.Response:
    return httpx.post(
        f"{stack.url}/webhooks/telegram", json=body, headers={SECRET_HEADER: secret}, timeout=10
    )


def _inbox_rows(stack: Stack) -> int:
    engine = make_engine(stack.env["TUTOR_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(inbox)).scalar_one())
    finally:
        engine.dispose()


def test_telegram_and_whatsapp_learners_get_answers(
    stack: Stack,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> None:
    assert _post_telegram(stack, payloads.telegram_text(7001, "/start")).status_code == 200
    fake_telegram.wait_for(lambda _: len(fake_telegram.sent_texts(7001)) >= 1, timeout=20)
    assert fake_telegram.sent_texts(7001)[0].startswith("Hi! I'm your Spanish and English tutor")

    raw = payloads.encode(payloads.whatsapp_text("5491122334455", "hola"))
    response = httpx.post(
        f"{stack.url}/webhooks/whatsapp",
        content=raw,
        headers=payloads.whatsapp_headers(raw, WHATSAPP_APP_SECRET),
        timeout=10,
    )
    assert response.status_code == 200
    fake_whatsapp.wait_for(
        lambda _: len(fake_whatsapp.sent_texts("5491122334455")) >= 1, timeout=20
    )
    assert fake_whatsapp.sent_texts("5491122334455")[0].startswith("Hi! I'm your")


def test_redelivery_three_times_gets_one_reply(stack: Stack, fake_telegram: FakeTelegram) -> None:
    body = payloads.telegram_text(7002, "hi")
    for _ in range(3):
        assert _post_telegram(stack, body).status_code == 200
    fake_telegram.wait_for(lambda _: len(fake_telegram.sent_texts(7002)) >= 1, timeout=20)
    # Give a wrongly repeated reply time to show up before checking there is none.
    follow_up = payloads.telegram_text(7002, "1")
    assert _post_telegram(stack, follow_up).status_code == 200
    fake_telegram.wait_for(lambda _: len(fake_telegram.sent_texts(7002)) >= 2, timeout=20)
    texts = fake_telegram.sent_texts(7002)
    assert len(texts) == 2 and texts[1].startswith("Great! And which language")


def test_bad_input_is_refused_and_stores_nothing(stack: Stack) -> None:
    body = payloads.telegram_text(7003, "hi")
    assert _post_telegram(stack, body, secret="wrong").status_code == 403
    missing = httpx.post(f"{stack.url}/webhooks/telegram", json=body, timeout=10)
    assert missing.status_code == 401
    raw = payloads.encode(payloads.whatsapp_text("34999", "hola"))
    forged = httpx.post(
        f"{stack.url}/webhooks/whatsapp",
        content=raw,
        timeout=10,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    assert forged.status_code == 403
    assert _inbox_rows(stack) == 0

    not_json = httpx.post(
        f"{stack.url}/webhooks/telegram",
        content=b"{nope",
        headers={SECRET_HEADER: TELEGRAM_SECRET},
        timeout=10,
    )
    assert not_json.status_code == 400
    huge = json.dumps({"update_id": 1, "padding": "x" * 1_100_000}).encode()
    too_big = httpx.post(
        f"{stack.url}/webhooks/telegram",
        content=huge,
        headers={SECRET_HEADER: TELEGRAM_SECRET},
        timeout=10,
    )
    assert too_big.status_code == 413
    unknown = _post_telegram(stack, {"update_id": 424242, "some_future_update": {"x": 1}})
    assert unknown.status_code == 200
    assert _inbox_rows(stack) == 0
    assert stack.web is not None and stack.web.poll() is None  # still serving

    challenge = httpx.get(
        f"{stack.url}/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": WHATSAPP_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
        timeout=10,
    )
    assert challenge.status_code == 200 and challenge.text == "1158201444"
    wrong = httpx.get(
        f"{stack.url}/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
        timeout=10,
    )
    assert wrong.status_code == 403


def test_health_readiness_and_metrics(stack: Stack, fake_telegram: FakeTelegram) -> None:
    assert httpx.get(f"{stack.url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{stack.url}/readyz", timeout=5).json()
    assert ready["ready"] is True and ready["checks"]["database"] == "ok"
    assert _post_telegram(stack, payloads.telegram_text(7004, "hi")).status_code == 200
    fake_telegram.wait_for(lambda _: len(fake_telegram.sent_texts(7004)) >= 1, timeout=20)
    text = httpx.get(f"{stack.url}/metrics", timeout=5).text
    assert 'tutor_messages_in_total{channel="telegram"} 1.0' in text
    assert 'tutor_queue_depth{status="done"} 1.0' in text
    assert "tutor_webhook_seconds_bucket" in text


def test_logs_follow_a_message_and_keep_its_contents_out(
    stack: Stack, fake_telegram: FakeTelegram
) -> None:
    secret_word = "zanahoria-7788"
    phone = "34655443322"
    assert (
        _post_telegram(stack, payloads.telegram_text(7005, f"hi {secret_word}")).status_code == 200
    )
    fake_telegram.wait_for(lambda _: len(fake_telegram.sent_texts(7005)) >= 1, timeout=20)
    raw = payloads.encode(payloads.whatsapp_text(phone, secret_word))
    headers = payloads.whatsapp_headers(raw, WHATSAPP_APP_SECRET)
    assert (
        httpx.post(
            f"{stack.url}/webhooks/whatsapp", content=raw, headers=headers, timeout=10
        ).status_code
        == 200
    )
    time.sleep(1.5)
    stack.stop()  # flush
    records = []
    for line in stack.logs().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    accepted = [
        r
        for r in records
        if r.get("message") == "message accepted" and r.get("channel") == "telegram"
    ]
    assert len(accepted) == 1
    correlation = accepted[0]["correlation_id"]
    trail = {r["message"] for r in records if r.get("correlation_id") == correlation}
    assert {"message accepted", "message processed", "reply sent"} <= trail
    text = stack.logs()
    assert secret_word not in text
    assert phone not in text
    assert fake_telegram.token not in text
