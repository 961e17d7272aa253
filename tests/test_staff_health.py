"""The admin's health page: queue depth, dead letters retried or discarded (audited),
model provider breakers and budgets, and whether the stores answer. Real app and worker;
the platforms are the fakes."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import channel_env, settings_from_env
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.harness import Harness
from tests.support.staff import csrf_token, make_user, sign_in
from tutor import dead_letters, inbox
from tutor.models import audit_log, learners, outbox
from tutor.models import dead_letters as dead_letters_table
from tutor.settings import Settings


def _admin(harness: Harness) -> FlaskClient:
    client = harness.app.test_client()
    make_user(harness.services.engine, "admin", "admin@school.test")
    assert sign_in(client, "admin@school.test") == 302
    return client


def _post(client: FlaskClient, path: str) -> str:
    token = csrf_token(client, "/admin/health/")
    answer = client.post(path, data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/admin/health/")
    return client.get("/admin/health/").get_data(as_text=True)


def _letters(harness: Harness) -> list[dead_letters.DeadLetter]:
    return dead_letters.newest(harness.services.engine)


def _audited(harness: Harness) -> list[tuple[str, str]]:
    with harness.services.engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.action, audit_log.c.target).where(
                audit_log.c.action.like("dead letter%")
            )
        ).all()
    return [(row.action, row.target) for row in rows]


def _learner_id(harness: Harness, key: str) -> int:
    with harness.services.engine.connect() as connection:
        return int(
            connection.execute(select(learners.c.id).where(learners.c.key == key)).scalar_one()
        )


def test_the_page_shows_the_queue_the_stores_and_the_providers(harness: Harness) -> None:
    harness.telegram_says(7601, "hi")
    assert harness.post_telegram(payloads.telegram_text(7601, "still there?")) == 200
    client = _admin(harness)
    page = client.get("/admin/health/").get_data(as_text=True)
    assert page.count(">reachable<") == 2  # the database and Redis
    assert "messages waiting to be processed" in page
    assert '<td>Inbox (messages in)</td><td class="num">1</td>' in page
    assert "No dead letters." in page
    assert "not configured" in page and "always on" in page


def test_an_open_breaker_and_budgets_are_shown(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    env = {**channel_env(fake_telegram, None), "TUTOR_LOCAL_LLM_BASE_URL": "http://127.0.0.1:9/v1"}
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    try:
        router = harness.services.router
        name = next(config.provider.name for config in router.tiers.values())
        for _ in range(harness.settings.llm_breaker_failures):
            router.breaker.record_failure(name, error="ConnectError")
        page = _admin(harness).get("/admin/health/").get_data(as_text=True)
        assert '<span class="badge bad">open</span>' in page
        assert "failures in a row" in page and "Open until" in page
        assert "Last error: ConnectError" in page
    finally:
        harness.close()


def test_a_reply_that_could_not_be_sent_is_retried(
    stores: Harness, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.blocked_chats.add("7602")
    stores.telegram_says(7602, "hi")
    (letter,) = _letters(stores)
    assert letter.source == "outbox" and letter.channel == "telegram"
    learner_id = _learner_id(stores, "telegram:7602")
    assert letter.learner_id == learner_id
    client = _admin(stores)
    page = client.get("/admin/health/").get_data(as_text=True)
    assert "reply out #" in page and f'href="/admin/subscriptions/{learner_id}"' in page
    assert "telegram:7602" not in page  # learners by id, never by chat key
    assert "blocked" in page.lower()  # the error text

    fake_telegram.blocked_chats.discard("7602")
    before = len(fake_telegram.sent_texts(7602))
    page = _post(client, f"/admin/health/dead-letters/{letter.id}/retry")
    assert "Put back in the queue" in page and "No dead letters." in page
    stores.worker.sweep()
    assert len(fake_telegram.sent_texts(7602)) > before
    with stores.services.engine.connect() as connection:
        statuses = connection.execute(
            select(outbox.c.status).where(outbox.c.learner_key == "telegram:7602")
        ).scalars()
        assert set(statuses) == {"sent"}
    assert _audited(stores) == [("dead letter retry", f"dead_letter:{letter.id}")]
    with stores.services.engine.connect() as connection:
        detail = connection.execute(
            select(audit_log.c.detail).order_by(audit_log.c.id.desc()).limit(1)
        ).scalar_one()
    assert detail == {"source": "outbox", "ref_id": letter.ref_id, "learner_id": learner_id}

    gone = _post(client, f"/admin/health/dead-letters/{letter.id}/retry")
    assert "Not retried: that dead letter is no longer there." in gone


def test_a_message_the_worker_gave_up_on_is_processed_again(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    harness.telegram_says(7603, "hi")
    assert harness.post_telegram(payloads.telegram_text(7603, "hola")) == 200
    (row,) = inbox.pending(harness.services.engine, "telegram:7603")
    inbox.record_failure(harness.services.engine, row, "TimeoutError: the model", give_up=True)
    (letter,) = _letters(harness)
    assert letter.source == "inbox" and letter.error == "TimeoutError: the model"
    before = len(fake_telegram.sent_texts(7603))
    client = _admin(harness)
    assert "message in #" in client.get("/admin/health/").get_data(as_text=True)

    _post(client, f"/admin/health/dead-letters/{letter.id}/retry")
    assert inbox.has_pending(harness.services.engine, "telegram:7603")
    harness.worker.sweep()
    assert len(fake_telegram.sent_texts(7603)) > before
    assert inbox.counts(harness.services.engine)["failed"] == 0
    assert _letters(harness) == []


def test_a_dead_letter_is_discarded_and_its_row_kept(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.blocked_chats.add("7604")
    harness.telegram_says(7604, "hi")
    (letter,) = _letters(harness)
    page = _post(_admin(harness), f"/admin/health/dead-letters/{letter.id}/discard")
    assert "Dead letter discarded." in page and "No dead letters." in page
    with harness.services.engine.connect() as connection:
        assert connection.execute(select(dead_letters_table)).all() == []
        status = connection.execute(
            select(outbox.c.status).where(outbox.c.id == letter.ref_id)
        ).scalar_one()
    assert status == "dead"
    assert _audited(harness) == [("dead letter discard", f"dead_letter:{letter.id}")]


def test_an_erased_learners_reply_is_not_retried(harness: Harness) -> None:
    harness.telegram_says(7605, "hi")
    with harness.services.engine.begin() as connection:
        inbox.add_dead_letter(connection, "outbox", 999, "telegram", "erased", "x", "c")
    (letter,) = _letters(harness)
    page = _post(_admin(harness), f"/admin/health/dead-letters/{letter.id}/retry")
    assert "Not retried: the learner was erased" in page
    assert len(_letters(harness)) == 1  # nothing changed
    assert _audited(harness) == []
