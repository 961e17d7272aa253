"""Telegram adapter: recorded updates, secret check, rendering, and the client vs a fake Bot API."""

from __future__ import annotations

import copy
import csv
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.telegram import FakeTelegram
from tutor.channels.base import ChannelAdapter
from tutor.channels.telegram import TelegramClient, parse_update, render, verify_secret
from tutor.errors import (
    PayloadError,
    PermanentSendError,
    RateLimited,
    RetryableSendError,
    SignatureError,
)
from tutor.messages import Channel, Inbound, Kind, Media, Option, Reply, Template

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "data" / "telegram"
NO_DATA = f"recorded Telegram payloads not found at {DATA} (the repo lives beside shared/)"


def _index() -> list[str]:
    if not (DATA / "INDEX.tsv").is_file():
        return []
    with (DATA / "INDEX.tsv").open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [row["file"] for row in rows if row["file"].startswith("updates/")]


def _load(name: str) -> dict[str, Any]:
    path = DATA / name
    if not path.is_file():
        pytest.skip(NO_DATA)
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


UPDATES = _index()
# What each recorded update must become: a Kind, or None for "ignored on purpose".
EXPECTED: dict[str, Kind | None] = {
    "text.json": Kind.TEXT,
    "message.json": Kind.TEXT,
    "entities.json": Kind.TEXT,
    "not_command.json": Kind.TEXT,
    "command.json": Kind.COMMAND,
    "command_message.json": Kind.COMMAND,
    "command_tag_valid.json": Kind.COMMAND,
    "command_with_parameters.json": Kind.COMMAND,
    "voice.json": Kind.VOICE,
    "audio.json": Kind.AUDIO,
    "callback_query.json": Kind.BUTTON,
    "callback_query_complex.json": Kind.BUTTON,
    "callback_query_inaccessible_message.json": Kind.BUTTON,
    "callback_query_without_message.json": Kind.BUTTON,
    "pre_checkout_query.json": None,  # answered in the webhook request (test_telegram_payments)
    "successful_payment.json": Kind.PAYMENT,
    "refunded_payment.json": Kind.PAYMENT,
    "sticker.json": Kind.UNSUPPORTED,
    "photo.json": Kind.UNSUPPORTED,
    "video.json": Kind.UNSUPPORTED,
    "video_note.json": Kind.UNSUPPORTED,
    "animation.json": Kind.UNSUPPORTED,
    "document.json": Kind.UNSUPPORTED,
    "location.json": Kind.UNSUPPORTED,
    "contact.json": Kind.UNSUPPORTED,
    "message_poll.json": Kind.UNSUPPORTED,  # PTB 22.8 cannot read this older poll shape
    "edited_message.json": None,
    "channel_post.json": None,
    "edited_channel_post.json": None,
    "my_chat_member.json": None,
    "chat_member.json": None,
    "poll.json": None,
    "poll_answer.json": None,
    "message_reaction.json": None,
    "new_chat_members.json": None,
    "pinned_message.json": None,
    "message_auto_delete_timer_changed.json": None,  # PTB warns while parsing this one
    "business_message.json": None,
    "rich_message.json": None,  # sent by a bot
}


def test_index_lists_every_recorded_update() -> None:
    if not UPDATES:
        pytest.skip(NO_DATA)
    on_disk = {f"updates/{path.name}" for path in (DATA / "updates").glob("*.json")}
    assert on_disk == set(UPDATES)
    assert {f"updates/{name}" for name in EXPECTED} <= on_disk


@pytest.mark.parametrize("name", UPDATES or [pytest.param("", marks=pytest.mark.skip(NO_DATA))])
def test_every_recorded_update_parses_or_is_ignored(name: str) -> None:
    body = _load(name)
    inbound = parse_update(body)
    expected = EXPECTED.get(Path(name).name, "any")
    if expected != "any":
        assert (inbound.kind if inbound else None) == expected
    if inbound is not None:
        assert inbound.channel is Channel.TELEGRAM
        assert inbound.provider_message_id == str(body["update_id"])
        assert inbound.learner_key.startswith("telegram:")
        assert inbound.sent_at.tzinfo is not None
        assert inbound.raw is body
        assert Inbound.from_dict(inbound.to_dict()) == inbound


def test_text_maps_every_field() -> None:
    body = _load("updates/text.json")
    inbound = parse_update(body)
    assert inbound == Inbound(
        channel=Channel.TELEGRAM,
        chat_id="12345678",
        learner_key="telegram:12345678",
        provider_message_id="123456789",
        kind=Kind.TEXT,
        text="aaaaaaaaaa",
        language_hint="it",
        sent_at=datetime(2021, 9, 16, 19, 1, 44, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("command.json", "test"),
        ("command_tag_valid.json", "test"),
        ("command_with_parameters.json", "register"),
    ],
)
def test_commands(name: str, command: str) -> None:
    inbound = parse_update(_load(f"updates/{name}"))
    assert inbound is not None
    assert inbound.kind is Kind.COMMAND
    assert inbound.command == command


def test_bot_command_entity_at_offset_zero_is_a_command() -> None:
    body = _load("updates/text.json")
    body["message"]["text"] = "/help"
    body["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": 5}]
    inbound = parse_update(body)
    assert inbound is not None
    assert inbound.kind is Kind.COMMAND
    assert inbound.command == "help"


def test_voice_becomes_media_without_bytes() -> None:
    inbound = parse_update(_load("updates/voice.json"))
    assert inbound is not None
    assert inbound.kind is Kind.VOICE
    assert inbound.media == Media(
        media_id="dfghjjghdjhgd",
        mime_type="audio/ogg",
        duration_seconds=2.0,
        size_bytes=6448,
        is_voice=True,
    )


def test_audio_and_audio_documents() -> None:
    inbound = parse_update(_load("updates/audio.json"))
    assert inbound is not None
    assert inbound.kind is Kind.AUDIO
    assert inbound.media == Media("dfhhdfhgdfghdf", "audio/mpeg", 167.0, 6858008, False)

    body = _load("updates/document.json")
    body["message"]["document"]["mime_type"] = "audio/mp4"
    inbound = parse_update(body)
    assert inbound is not None
    assert inbound.kind is Kind.AUDIO
    assert inbound.media is not None
    assert inbound.media.media_id == "a1b2c34d5e6f7g8h9i"
    assert inbound.media.mime_type == "audio/mp4"


def test_callback_query_is_a_button_press() -> None:
    before = datetime.now(UTC)
    inbound = parse_update(_load("updates/callback_query.json"))
    assert inbound is not None
    assert inbound.kind is Kind.BUTTON
    assert inbound.button == "thedata"
    assert inbound.callback_id == "666728699048485871"
    assert inbound.chat_id == "222222222"
    assert inbound.learner_key == "telegram:222222222"
    assert inbound.language_hint == "it"
    assert before <= inbound.sent_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_callback_query_in_a_group_replies_to_the_group() -> None:
    body = _load("updates/callback_query.json")
    body["callback_query"]["message"]["chat"] = {"id": -100777, "type": "supergroup", "title": "A1"}
    inbound = parse_update(body)
    assert inbound is not None
    assert inbound.chat_id == "-100777"
    assert inbound.learner_key == "telegram:222222222"


def test_callback_query_without_message_replies_to_the_user() -> None:
    inbound = parse_update(_load("updates/callback_query_without_message.json"))
    assert inbound is not None
    assert inbound.chat_id == "222222222"


def test_payments_keep_the_raw_update() -> None:
    body = _load("updates/successful_payment.json")
    inbound = parse_update(body)
    assert inbound is not None
    assert inbound.kind is Kind.PAYMENT
    assert inbound.chat_id == "456"
    assert inbound.raw["message"]["successful_payment"]["telegram_payment_charge_id"]


def test_group_messages_reply_to_the_group() -> None:
    inbound = parse_update(_load("updates/message_topic.json"))
    assert inbound is not None
    assert inbound.chat_id == "-1001234567489"
    assert inbound.learner_key == "telegram:123456"


def test_unknown_update_types_are_ignored() -> None:
    assert parse_update({"update_id": 7, "some_future_update": {"x": 1}}) is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"message": {}},
        {"update_id": "12"},
        {"update_id": True, "message": {}},
        {"update_id": 1, "message": "hello"},
        {"update_id": 1, "message": {"message_id": 1}},
        {"update_id": 1, "callback_query": {"id": "1"}},
    ],
)
def test_non_updates_are_payload_errors(body: Any) -> None:
    with pytest.raises(PayloadError):
        parse_update(body)


def test_wrongly_typed_fields_are_payload_errors() -> None:
    body = _load("updates/text.json")
    body["message"]["text"] = 5
    with pytest.raises(PayloadError):
        parse_update(body)
    body = _load("updates/text.json")
    body["message"]["chat"]["id"] = "12345678"
    with pytest.raises(PayloadError):
        parse_update(body)


# secret token ------------------------------------------------------------------------


def test_secret_token() -> None:
    verify_secret("s3cret_token-1", "s3cret_token-1")
    with pytest.raises(SignatureError) as missing:
        verify_secret(None, "s3cret_token-1")
    assert missing.value.status == 401
    for header, secret in [("wrong", "s3cret_token-1"), ("s3cret_token-", "s3cret_token-1")]:
        with pytest.raises(SignatureError) as wrong:
            verify_secret(header, secret)
        assert wrong.value.status == 403
    with pytest.raises(SignatureError):
        verify_secret("anything", None)
    with pytest.raises(SignatureError):
        verify_secret("", "")


# rendering --------------------------------------------------------------------------------


def test_render_plain_text() -> None:
    assert render(Reply(text="Hola")) == [("sendMessage", {"text": "Hola"})]


def test_render_splits_at_4096_with_the_keyboard_on_the_last_chunk() -> None:
    text = " ".join(f"palabra{i}" for i in range(1500))  # ~14,000 characters
    options = (Option("yes", "Sí"), Option("no", "No"))
    calls = render(Reply(text=text, options=options))
    assert len(calls) >= 4
    assert all(method == "sendMessage" for method, _ in calls)
    assert all(len(payload["text"]) <= 4096 for _, payload in calls)
    assert " ".join(payload["text"] for _, payload in calls).split() == (
        Reply(text=text, options=options).numbered_text().split()
    )
    assert all("reply_markup" not in payload for _, payload in calls[:-1])
    assert calls[-1][1]["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "1. Sí", "callback_data": "yes"}],
            [{"text": "2. No", "callback_data": "no"}],
        ]
    }
    assert calls[-1][1]["text"].endswith("1. Sí\n2. No")


def test_render_drops_buttons_whose_key_exceeds_64_bytes() -> None:
    reply = Reply(text="Pick", options=(Option("é" * 33, "Long"), Option("ok", "Ok")))
    [(_, payload)] = render(reply)
    assert payload["reply_markup"]["inline_keyboard"] == [
        [{"text": "2. Ok", "callback_data": "ok"}]
    ]
    assert "1. Long" in payload["text"]


def test_render_media_and_template_fallback() -> None:
    reply = Reply(text="Escucha", voice_url="https://x/v.ogg", image_url="https://x/i.png")
    assert [method for method, _ in render(reply)] == ["sendMessage", "sendVoice", "sendPhoto"]
    assert render(reply)[1][1] == {"voice": "https://x/v.ogg"}
    assert render(reply)[2][1] == {"photo": "https://x/i.png"}
    template = Template("practice_reminder", "es", ("Ana", "5"))
    assert render(Reply(template=template)) == [
        ("sendMessage", {"text": "practice_reminder: Ana, 5"})
    ]
    assert render(Reply()) == []


# client against the fake Bot API --------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def client(fake: FakeTelegram, http: httpx.Client) -> TelegramClient:
    return TelegramClient(fake.url, fake.token, http, timeout=0.5)


def _no_token(exc: BaseException, token: str) -> None:
    chain: BaseException | None = exc
    while chain is not None:
        assert token not in str(chain)
        assert token not in repr(chain)
        chain = chain.__cause__


def test_send_arrives_with_keyboard(fake: FakeTelegram, client: TelegramClient) -> None:
    adapter: ChannelAdapter = client
    reply = Reply(text="¿Listo?", options=(Option("start", "Empezar"),))
    ids = adapter.send("42", reply)
    assert ids == ["1"]
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == f"/bot{fake.token}/sendMessage"
    assert request.json == {
        "chat_id": "42",
        "text": "¿Listo?\n1. Empezar",
        "reply_markup": {"inline_keyboard": [[{"text": "1. Empezar", "callback_data": "start"}]]},
    }
    assert fake.sent_texts(42) == ["¿Listo?\n1. Empezar"]


def test_long_replies_are_accepted_in_chunks(fake: FakeTelegram, client: TelegramClient) -> None:
    text = "\n\n".join("Una frase larga para practicar. " * 20 for _ in range(20))
    ids = client.send("42", Reply(text=text, voice_url="https://x/v.ogg"))
    assert len(ids) == len(set(ids)) == len(fake.sent) >= 4
    assert fake.sent[-1].method == "sendVoice"
    texts = fake.sent_texts("42")
    assert all(len(chunk) <= 4096 for chunk in texts)
    assert " ".join(texts).split() == text.split()


def test_429_is_rate_limited_with_retry_after(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.inject(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 14",
            "parameters": {"retry_after": 14},
        },
    )
    with pytest.raises(RateLimited) as caught:
        client.send("42", Reply(text="hola"))
    assert caught.value.retry_after == 14.0
    assert caught.value.code == 429
    assert client.send("42", Reply(text="hola")) == ["1"]  # the fault was used once


def test_5xx_is_retryable(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.inject(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
    with pytest.raises(RetryableSendError) as caught:
        client.send("42", Reply(text="hola"))
    assert not isinstance(caught.value, RateLimited)
    assert caught.value.code == 500


def test_blocked_bot_is_permanent(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.block(42)
    with pytest.raises(PermanentSendError) as caught:
        client.send("42", Reply(text="hola"))
    assert caught.value.code == 403
    fake.inject(
        403, {"ok": False, "error_code": 403, "description": "Forbidden: user is deactivated"}
    )
    with pytest.raises(PermanentSendError):
        client.send("43", Reply(text="hola"))
    fake.inject(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    with pytest.raises(PermanentSendError) as caught:
        client.send("44", Reply(text="hola"))
    assert caught.value.code == 400


def test_timeout_is_retryable(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.inject(200, {"ok": True, "result": {"message_id": 9}}, delay=2.0)
    with pytest.raises(RetryableSendError) as caught:
        client.send("42", Reply(text="hola"))
    _no_token(caught.value, fake.token)


@pytest.mark.parametrize(
    ("status", "body"), [(200, "<html>oops</html>"), (502, "Bad Gateway"), (200, [1, 2])]
)
def test_garbage_is_retryable(
    fake: FakeTelegram, client: TelegramClient, status: int, body: Any
) -> None:
    fake.inject(status, body)
    with pytest.raises(RetryableSendError):
        client.send("42", Reply(text="hola"))


def test_connection_refused_is_retryable(http: httpx.Client) -> None:
    with FakeTelegram() as gone:
        url, token = gone.url, gone.token
    client = TelegramClient(url, token, http, timeout=0.5)
    with pytest.raises(RetryableSendError) as caught:
        client.send("42", Reply(text="hola"))
    _no_token(caught.value, token)


def test_wrong_token_is_permanent_and_never_leaks(fake: FakeTelegram, http: httpx.Client) -> None:
    token = "999:WRONG-token-value"
    client = TelegramClient(fake.url, token, http, timeout=0.5)
    with pytest.raises(PermanentSendError) as caught:
        client.get_me()
    assert caught.value.code == 401
    _no_token(caught.value, token)
    assert token not in repr(client)


def test_token_is_redacted_from_httpx_logs(
    fake: FakeTelegram, client: TelegramClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
        client.send("42", Reply(text="hola"))
    assert any("sendMessage" in record.getMessage() for record in caplog.records)
    assert all(fake.token not in record.getMessage() for record in caplog.records)


def test_acknowledge_answers_the_callback(fake: FakeTelegram, client: TelegramClient) -> None:
    client.acknowledge("42", "cbq-1")
    assert fake.answered_callbacks == ["cbq-1"]


def test_webhook_and_get_me(fake: FakeTelegram, client: TelegramClient) -> None:
    assert client.get_me()["username"] == "tutor_test_bot"
    assert client.set_webhook("https://tutor.example/webhooks/telegram", "s3cret") is True
    assert fake.webhook["secret_token"] == "s3cret"
    info = client.get_webhook_info()
    assert info["url"] == "https://tutor.example/webhooks/telegram"
    assert info["allowed_updates"] == ["message", "callback_query", "pre_checkout_query"]


def test_voice_file_can_be_fetched(fake: FakeTelegram, client: TelegramClient) -> None:
    path = fake.add_file("voice-1", b"OggS-bytes")
    assert client.call("getFile", {"file_id": "voice-1"})["file_path"] == path
    with httpx.Client() as http:
        response = http.get(f"{fake.url}/file/bot{fake.token}/{path}")
    assert response.content == b"OggS-bytes"
    with pytest.raises(PermanentSendError):
        client.call("getFile", {"file_id": "nope"})


def test_recorded_update_copies_are_independent() -> None:
    body = _load("updates/text.json")
    frozen = copy.deepcopy(body)
    parse_update(body)
    assert body == frozen  # parsing never mutates the webhook body


def test_wait_for_sees_sends_from_another_thread(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    sender = threading.Timer(0.1, client.send, args=("42", Reply(text="tarde")))
    sender.start()
    try:
        fake.wait_for(lambda _: fake.sent_texts(42) == ["tarde"], timeout=5)
    finally:
        sender.join()
    with pytest.raises(TimeoutError):
        fake.wait_for(lambda requests: len(requests) > 1, timeout=0.2)


def test_stars_invoice_is_sent_with_send_invoice(fake_telegram: FakeTelegram) -> None:
    from tutor.messages import Invoice

    invoice = Invoice("10 lessons", "Ten tutor lessons", "pack:10", "XTR", 49)
    calls = render(Reply("Unlimited practice is 299 ⭐ a month.", invoice=invoice))
    assert [method for method, _ in calls] == ["sendMessage", "sendInvoice"]
    assert calls[1][1]["prices"] == [{"label": "10 lessons", "amount": 49}]
    with httpx.Client() as http:
        client = TelegramClient(fake_telegram.url, fake_telegram.token, http, 5.0)
        assert len(client.send("77", Reply(invoice=invoice))) == 1
    sent = fake_telegram.sent[-1]
    assert sent.method == "sendInvoice"
    assert sent.payload["currency"] == "XTR"
    assert sent.payload["payload"] == "pack:10"


def test_payment_link_invoice_is_a_text_link() -> None:
    from tutor.messages import Invoice

    invoice = Invoice("Monthly", "", "plan:monthly", "EUR", 999, url="https://pay.example/x")
    assert render(Reply(invoice=invoice)) == [
        ("sendMessage", {"text": "Monthly: https://pay.example/x"})
    ]
