"""Outbound sends: retries honour retry-after, permanent failures become dead letters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import channel_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support.harness import Harness
from tutor import inbox as inbox_store
from tutor.models import outbox, utcnow
from tutor.outbox import backoff
from tutor.settings import Settings


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> Iterator[Harness]:
    env = channel_env(fake_telegram, fake_whatsapp)
    settings = make_settings(
        **{k.removeprefix("TUTOR_").lower(): v for k, v in env.items()},
        send_max_attempts=3,
        send_retry_window_seconds=0,
    )
    harness = Harness(settings, fake_telegram, fake_whatsapp)
    yield harness
    harness.close()


def _outbox(harness: Harness) -> list[dict[str, object]]:
    with harness.services.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(outbox).order_by(outbox.c.id))]


def test_429_is_retried_after_the_time_telegram_asks(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.inject(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    texts = harness.telegram_says(601, "hi")
    assert len(texts) == 1 and texts[0].startswith("Hi! I'm your")
    calls = [r for r in fake_telegram.requests if r.path.endswith("/sendMessage")]
    assert len(calls) == 2
    row = _outbox(harness)[0]
    assert row["status"] == "sent" and row["attempts"] == 2


def test_server_errors_back_off_and_then_succeed(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.inject(
        502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, times=2
    )
    assert len(harness.telegram_says(602, "hi")) == 1
    assert _outbox(harness)[0]["attempts"] == 3


def test_long_retry_after_is_left_to_the_sweeper_and_keeps_order(
    harness: Harness,
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.inject(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "slow down",
            "parameters": {"retry_after": 30},
        },
    )
    assert harness.telegram_says(603, "hi") == []
    assert harness.telegram_says(603, "help") == []  # waits behind the first reply
    rows = _outbox(harness)
    assert [r["status"] for r in rows] == ["pending", "pending"]
    with harness.services.engine.begin() as connection:
        connection.execute(outbox.update().values(next_attempt_at=rows[1]["created_at"]))
    harness.worker.sweep()
    texts = fake_telegram.sent_texts(603)
    assert texts[0].startswith("Hi! I'm your") and texts[1].startswith("I'm your")


def test_blocked_chat_is_a_dead_letter(harness: Harness, fake_telegram: FakeTelegram) -> None:
    fake_telegram.block(604)
    assert harness.telegram_says(604, "hi") == []
    assert _outbox(harness)[0]["status"] == "dead"
    letters = inbox_store.failed(harness.services.engine)
    assert [(d["source"], d["channel"]) for d in letters] == [("outbox", "telegram")]
    assert "PermanentSendError" in str(letters[0]["error"])


def test_retries_give_up_after_the_last_attempt(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.inject(500, {"ok": False, "error_code": 500, "description": "oops"}, times=3)
    assert harness.telegram_says(605, "hi") == []
    assert _outbox(harness)[0]["status"] == "dead"


def test_a_young_reply_keeps_retrying_past_its_attempts(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    """Within the retry window a reply out of attempts is retried, not dead; once it is
    older than the window, the next failure makes it a dead letter."""
    env = channel_env(fake_telegram, None)
    settings = make_settings(
        **{k.removeprefix("TUTOR_").lower(): v for k, v in env.items()},
        send_max_attempts=2,
        send_retry_window_seconds=600,
        send_backoff_seconds=60,  # each retry is left to the sweeper
    )
    harness = Harness(settings, fake_telegram, None)

    def fail_then_sweep() -> dict[str, object]:
        with harness.services.engine.begin() as connection:
            connection.execute(outbox.update().values(next_attempt_at=utcnow()))
        harness.worker.sweep()
        return _outbox(harness)[0]

    try:
        fake_telegram.inject(500, {"ok": False, "error_code": 500, "description": "oops"}, times=9)
        assert harness.telegram_says(607, "hi") == []
        row = fail_then_sweep()
        assert (row["status"], row["attempts"]) == ("pending", 2)  # out of attempts, young
        row = fail_then_sweep()
        assert (row["status"], row["attempts"]) == ("pending", 3)
        with harness.services.engine.begin() as connection:
            connection.execute(outbox.update().values(created_at=utcnow() - timedelta(minutes=11)))
        row = fail_then_sweep()
        assert (row["status"], row["attempts"]) == ("dead", 4)
    finally:
        harness.close()


def test_whatsapp_outside_the_window_is_a_dead_letter(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    fake_whatsapp.close_window("34611000111")
    assert harness.whatsapp_says("34611000111", "hola") == []
    letters = inbox_store.failed(harness.services.engine)
    assert "OutsideWindowError" in str(letters[0]["error"])


@pytest.mark.parametrize(
    ("attempt", "retry_after", "low", "high"),
    [
        (1, None, 0.25, 0.5),
        (3, None, 1.0, 2.0),
        (10, None, 15.0, 30.0),
        (2, 7.0, 7.0, 7.0),
        (2, 300.0, 30.0, 30.0),
    ],
)
def test_backoff(attempt: int, retry_after: float | None, low: float, high: float) -> None:
    assert low <= backoff(attempt, 0.5, 30.0, retry_after) <= high


def test_the_longest_waiting_learners_are_swept_first(harness: Harness) -> None:
    """A backlog of Telegram replies must not hold back a WhatsApp learner who waited longer."""
    from datetime import timedelta

    from sqlalchemy import update

    from tutor.messages import Channel, Reply
    from tutor.models import utcnow
    from tutor.outbox import add, due_learners

    engine = harness.services.engine
    now = utcnow()
    waiting = {"telegram:1": 5, "telegram:2": 30, "whatsapp:34600000001": 120, "telegram:3": 60}
    with engine.begin() as connection:
        for key, minutes in waiting.items():
            channel = Channel.WHATSAPP if key.startswith("whatsapp") else Channel.TELEGRAM
            add(
                connection,
                inbox_id=None,
                learner_key=key,
                channel=channel,
                chat_id=key.split(":")[1],
                replies=(Reply(f"hello {key}"),),
                correlation_id=f"c-{key}",
            )
            connection.execute(
                update(outbox)
                .where(outbox.c.learner_key == key)
                .values(next_attempt_at=now - timedelta(minutes=minutes))
            )
    assert due_learners(engine, limit=2) == ["whatsapp:34600000001", "telegram:3"]
    assert due_learners(engine) == [
        "whatsapp:34600000001",
        "telegram:3",
        "telegram:2",
        "telegram:1",
    ]
