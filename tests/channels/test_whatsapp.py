"""WhatsApp adapter: recorded webhooks, signatures, rendering, the client vs a fake Graph API."""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.whatsapp import FakeWhatsApp, sign
from tutor.channels.base import ChannelAdapter
from tutor.channels.whatsapp import (
    DeliveryStatus,
    WhatsAppBatch,
    WhatsAppClient,
    parse_webhook,
    render,
    verify_challenge,
    verify_signature,
)
from tutor.errors import (
    OutsideWindowError,
    PayloadError,
    PermanentSendError,
    RateLimited,
    RetryableSendError,
    SignatureError,
)
from tutor.messages import Channel, Inbound, Kind, Media, Option, Reply, Template

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "data" / "whatsapp"
NO_DATA = f"recorded WhatsApp payloads not found at {DATA} (the repo lives beside shared/)"
PHONE = "972987654321"
BSUID = "US.13491208655302741918"


def _index() -> list[str]:
    if not (DATA / "INDEX.tsv").is_file():
        return []
    with (DATA / "INDEX.tsv").open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return [f"{row['source_file']}__{row['example_key']}" for row in rows]


def _load(name: str) -> dict[str, Any]:
    path = DATA / "examples" / f"{name}.json"
    if not path.is_file():
        pytest.skip(NO_DATA)
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def _only(batch: WhatsAppBatch) -> Inbound:
    assert batch.statuses == ()
    [inbound] = batch.messages
    return inbound


EXAMPLES = _index()
# What each recorded body must become: a message Kind, "status", or None (nothing to act on).
EXPECTED: dict[str, Kind | str | None] = {
    "message__text": Kind.TEXT,
    "message__reply": Kind.TEXT,
    "message__forwarded": Kind.TEXT,
    "message__referral": Kind.TEXT,
    "message__voice": Kind.VOICE,
    "message__audio": Kind.AUDIO,
    "callback_button__button": Kind.BUTTON,
    "callback_button__quick_reply": Kind.BUTTON,
    "callback_button__quick_reply_without_context": Kind.BUTTON,
    "callback_selection__callback": Kind.BUTTON,
    "callback_selection__description": Kind.BUTTON,
    "message__order": Kind.PAYMENT,
    "message__image": Kind.UNSUPPORTED,
    "message__static_sticker": Kind.UNSUPPORTED,
    "message__animated_sticker": Kind.UNSUPPORTED,
    "message__current_location": Kind.UNSUPPORTED,
    "message__contacts": Kind.UNSUPPORTED,
    "message__video": Kind.UNSUPPORTED,
    "message__document": Kind.UNSUPPORTED,
    "message__unsupported": Kind.UNSUPPORTED,
    "message__interactive_message_with_err": Kind.UNSUPPORTED,
    "flow_completion__completion": Kind.UNSUPPORTED,
    "call_permission_update__accept": Kind.UNSUPPORTED,
    "message__reaction": None,  # reactions are not turns: ignored on purpose
    "message__unreaction_empty": None,
    "edited_message__image": None,
    "deleted_message__revoke": None,
    "system__phone_number_change": None,  # no contacts at all in this body
    "system__identity_change": None,
    "message_status__sent": "status",
    "message_status__delivered": "status",
    "message_status__read": "status",
    "message_status__failed": "status",
    "message_status__group": "status",
    "account_update__account_deleted": None,
    "template_status_update__approved": None,
    "call_connect__user_initiated": None,
    "outgoing_message__text": None,
    "user_marketing_preferences__signup": None,
}


def test_index_lists_every_recorded_example() -> None:
    if not EXAMPLES:
        pytest.skip(NO_DATA)
    on_disk = {path.stem for path in (DATA / "examples").glob("*.json")}
    assert on_disk == set(EXAMPLES)
    assert set(EXPECTED) <= on_disk


@pytest.mark.parametrize("name", EXAMPLES or [pytest.param("", marks=pytest.mark.skip(NO_DATA))])
def test_every_recorded_body_parses_or_is_ignored(name: str) -> None:
    body = _load(name)
    batch = parse_webhook(body)
    assert isinstance(batch, WhatsAppBatch)
    for inbound in batch.messages:
        assert inbound.channel is Channel.WHATSAPP
        assert inbound.learner_key.startswith("whatsapp:")
        assert inbound.sent_at.tzinfo is not None
        assert Inbound.from_dict(inbound.to_dict()) == inbound
    expected = EXPECTED.get(name, "any")
    if expected == "status":
        assert batch.messages == ()
        assert len(batch.statuses) == 1
    elif expected is None:
        assert batch == WhatsAppBatch()
    elif expected != "any":
        assert _only(batch).kind == expected


def test_text_is_keyed_on_the_business_scoped_user_id() -> None:
    inbound = _only(parse_webhook(_load("message__text")))
    assert inbound.kind is Kind.TEXT
    assert inbound.text == "Body Text"
    assert inbound.learner_key == f"whatsapp:{BSUID}"
    assert inbound.chat_id == PHONE
    assert inbound.provider_message_id == "wamid.xyzxyz"
    assert inbound.sent_at == datetime(2023, 10, 11, 16, 53, 43, tzinfo=UTC)
    assert inbound.raw["message"]["text"]["body"] == "Body Text"
    assert inbound.raw["contact"]["user_id"] == BSUID


def test_without_contacts_or_user_id_the_phone_is_the_key() -> None:
    body = _load("message__text")
    del body["entry"][0]["changes"][0]["value"]["contacts"]
    inbound = _only(parse_webhook(body))
    assert inbound.learner_key == f"whatsapp:{PHONE}"
    assert inbound.chat_id == PHONE

    body = _load("message__text")
    del body["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"]
    assert _only(parse_webhook(body)).learner_key == f"whatsapp:{PHONE}"


def test_username_users_without_a_phone_are_reached_by_bsuid() -> None:
    body = _load("message__text")
    value = body["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    del message["from"]
    message["from_user_id"] = BSUID
    del value["contacts"][0]["wa_id"]
    inbound = _only(parse_webhook(body))
    assert inbound.learner_key == f"whatsapp:{BSUID}"
    assert inbound.chat_id == BSUID
    assert render(Reply(text="hola"), inbound.chat_id)[0]["recipient"] == BSUID


def test_leading_slash_is_a_command() -> None:
    body = _load("message__text")
    body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "/start ahora"
    inbound = _only(parse_webhook(body))
    assert inbound.kind is Kind.COMMAND
    assert inbound.command == "start"


def test_voice_and_audio() -> None:
    voice = _only(parse_webhook(_load("message__voice")))
    assert voice.kind is Kind.VOICE
    assert voice.media == Media("1234567890987654321", "audio/ogg; codecs=opus", is_voice=True)
    audio = _only(parse_webhook(_load("message__audio")))
    assert audio.kind is Kind.AUDIO
    assert audio.media is not None
    assert audio.media.is_voice is False


def test_buttons_carry_the_key_and_title() -> None:
    pressed = _only(parse_webhook(_load("callback_button__button")))
    assert (pressed.kind, pressed.button, pressed.text) == (Kind.BUTTON, "callback_data", "title")
    listed = _only(parse_webhook(_load("callback_selection__description")))
    assert (listed.kind, listed.button, listed.text) == (Kind.BUTTON, "callback_data", "title")
    quick = _only(parse_webhook(_load("callback_button__quick_reply")))
    assert (quick.kind, quick.button) == (Kind.BUTTON, "callback_data")
    no_context = _only(parse_webhook(_load("callback_button__quick_reply_without_context")))
    assert no_context.learner_key == f"whatsapp:{BSUID}"


def test_sticker_is_unsupported() -> None:
    inbound = _only(parse_webhook(_load("message__static_sticker")))
    assert inbound.kind is Kind.UNSUPPORTED
    assert inbound.media is None


def test_statuses_including_the_failed_one() -> None:
    batch = parse_webhook(_load("message_status__failed"))
    assert batch.messages == ()
    assert batch.statuses == (
        DeliveryStatus(
            message_id="wamid.xyzxyz",
            status="failed",
            recipient_id=PHONE,
            timestamp=datetime.fromtimestamp(1689380458, UTC),
            error_code=130472,
            error_title="User's number is part of an experiment",
        ),
    )
    [read] = parse_webhook(_load("message_status__read")).statuses
    assert (read.status, read.error_code, read.error_title) == ("read", None, None)


def test_payment_status_goes_to_the_ledger_not_the_inbox() -> None:
    body = _load("message_status__sent")
    status = body["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(type="payment", status="captured", payment={"reference_id": "order-7"})
    batch = parse_webhook(body)
    assert (batch.messages, batch.statuses) == ((), ())
    [payment] = batch.payments
    assert payment["id"] == "wamid.xyzxyz"
    assert payment["payment"]["reference_id"] == "order-7"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(object="page"),
        lambda b: b.pop("object"),
        lambda b: b.update(entry={"id": "1"}),
        lambda b: b.pop("entry"),
        lambda b: b["entry"][0].update(changes="nope"),
        lambda b: b["entry"][0]["changes"][0].update(value=[]),
        lambda b: b["entry"][0]["changes"][0]["value"].update(messages={"id": "x"}),
        lambda b: b["entry"][0]["changes"][0]["value"].update(contacts="x"),
        lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].pop("id"),
        lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].pop("from"),
        lambda b: b["entry"][0]["changes"][0]["value"]["messages"][0].update(timestamp="soon"),
    ],
)
def test_wrong_shapes_are_payload_errors(mutate: Any) -> None:
    body = _load("message__text")
    # Without the contact's BSUID, a message missing `from` has no sender at all.
    body["entry"][0]["changes"][0]["value"]["contacts"][0].pop("user_id")
    mutate(body)
    with pytest.raises(PayloadError):
        parse_webhook(body)


@pytest.mark.parametrize("body", [[], "x", None, {"object": "whatsapp_business_account"}])
def test_non_objects_are_payload_errors(body: Any) -> None:
    with pytest.raises(PayloadError):
        parse_webhook(body)


def test_parsing_never_mutates_the_body() -> None:
    body = _load("message__voice")
    frozen = copy.deepcopy(body)
    parse_webhook(body)
    assert body == frozen


# signatures and the subscription challenge ------------------------------------------


def test_signature() -> None:
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    verify_signature(body, sign(body, "app-secret"), "app-secret")
    verify_signature(
        body, sign(body, "app-secret").upper().replace("SHA256", "sha256"), "app-secret"
    )
    with pytest.raises(SignatureError) as missing:
        verify_signature(body, None, "app-secret")
    assert missing.value.status == 401
    for header in [
        sign(body, "other-secret"),
        sign(body + b" ", "app-secret"),
        "sha256=",
        "sha256=zz",
        "md5=" + sign(body, "app-secret").removeprefix("sha256="),
        sign(body, "app-secret").removeprefix("sha256="),
        "",
    ]:
        with pytest.raises(SignatureError) as wrong:
            verify_signature(body, header, "app-secret")
        assert wrong.value.status == 403
    with pytest.raises(SignatureError):
        verify_signature(body, sign(body, ""), None)


def test_challenge() -> None:
    assert verify_challenge("subscribe", "vt", "1158201444", "vt") == "1158201444"
    for mode, token, verify_token in [
        ("unsubscribe", "vt", "vt"),
        (None, "vt", "vt"),
        ("subscribe", "wrong", "vt"),
        ("subscribe", None, "vt"),
        ("subscribe", "", ""),
        ("subscribe", "vt", None),
    ]:
        with pytest.raises(SignatureError):
            verify_challenge(mode, token, "1158201444", verify_token)


# rendering ----------------------------------------------------------------------------


def _options(*labels: str) -> tuple[Option, ...]:
    return tuple(Option(f"k{i}", label) for i, label in enumerate(labels, 1))


def test_render_plain_text_to_a_phone() -> None:
    assert render(Reply(text="Hola"), PHONE) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": PHONE,
            "type": "text",
            "text": {"body": "Hola", "preview_url": False},
        }
    ]


def test_render_addresses_bsuids_as_recipient() -> None:
    [body] = render(Reply(text="Hola"), BSUID)
    assert body["recipient"] == BSUID
    assert "to" not in body


def test_render_splits_long_text() -> None:
    text = " ".join(f"palabra{i}" for i in range(1500))
    bodies = render(Reply(text=text), PHONE)
    assert len(bodies) >= 4
    assert all(len(b["text"]["body"]) <= 4096 for b in bodies)
    assert " ".join(b["text"]["body"] for b in bodies).split() == text.split()


def test_up_to_three_short_options_are_reply_buttons() -> None:
    [body] = render(Reply(text="¿Seguimos?", options=_options("Sí", "No", "Más tarde")), PHONE)
    assert body["type"] == "interactive"
    interactive = body["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"]["text"] == "¿Seguimos?\n1. Sí\n2. No\n3. Más tarde"
    assert interactive["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "k1", "title": "Sí"}},
        {"type": "reply", "reply": {"id": "k2", "title": "No"}},
        {"type": "reply", "reply": {"id": "k3", "title": "Más tarde"}},
    ]


def test_a_label_over_20_characters_makes_a_list() -> None:
    [body] = render(Reply(text="Elige", options=_options("Corto", "x" * 21)), PHONE)
    interactive = body["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Choose"
    assert interactive["action"]["sections"] == [
        {"rows": [{"id": "k1", "title": "Corto"}, {"id": "k2", "title": "x" * 21}]}
    ]
    [body] = render(Reply(text="Elige", options=_options(*"abcde")), PHONE, list_button="Elegir")
    assert body["interactive"]["type"] == "list"
    assert body["interactive"]["action"]["button"] == "Elegir"
    assert len(body["interactive"]["action"]["sections"][0]["rows"]) == 5


@pytest.mark.parametrize("options", [_options(*"abcdefghijk"), _options("Corto", "y" * 25), ()])
def test_otherwise_plain_numbered_text(options: tuple[Option, ...]) -> None:
    reply = Reply(text="Elige", options=options)
    [body] = render(reply, PHONE)
    assert body["type"] == "text"
    assert body["text"]["body"] == reply.numbered_text()


def test_long_text_with_buttons_puts_the_buttons_on_a_short_last_body() -> None:
    text = " ".join(f"palabra{i}" for i in range(700))  # ~7,000 characters
    bodies = render(Reply(text=text, options=_options("Sí", "No")), PHONE)
    assert [b["type"] for b in bodies[:-1]] == ["text"] * (len(bodies) - 1)
    assert bodies[-1]["type"] == "interactive"
    assert len(bodies[-1]["interactive"]["body"]["text"]) <= 1024
    pieces = [b["text"]["body"] for b in bodies[:-1]] + [bodies[-1]["interactive"]["body"]["text"]]
    assert all(len(piece) <= 4096 for piece in pieces)
    assert " ".join(pieces).split() == f"{text} 1. Sí 2. No".split()


def test_render_template_voice_and_image() -> None:
    template = Template("practice_reminder", "es", ("Ana", "5"))
    assert render(Reply(text="ignored here", template=template), PHONE) == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": PHONE,
            "type": "template",
            "template": {
                "name": "practice_reminder",
                "language": {"code": "es"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ana"},
                            {"type": "text", "text": "5"},
                        ],
                    }
                ],
            },
        }
    ]
    bodies = render(
        Reply(text="Escucha", voice_url="https://x/v.ogg", image_url="https://x/i.png"), PHONE
    )
    assert [b["type"] for b in bodies] == ["text", "audio", "image"]
    assert bodies[1]["audio"] == {"link": "https://x/v.ogg"}
    assert bodies[2]["image"] == {"link": "https://x/i.png"}
    assert render(Reply(), PHONE) == []


# client against the fake Graph API -------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    with FakeWhatsApp() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def client(fake: FakeWhatsApp, http: httpx.Client) -> WhatsAppClient:
    return WhatsAppClient(fake.url, fake.phone_number_id, fake.access_token, http, timeout=0.5)


def _no_token(exc: BaseException, token: str) -> None:
    chain: BaseException | None = exc
    while chain is not None:
        assert token not in str(chain)
        assert token not in repr(chain)
        chain = chain.__cause__


def test_send_arrives_with_the_right_body(fake: FakeWhatsApp, client: WhatsAppClient) -> None:
    adapter: ChannelAdapter = client
    ids = adapter.send(PHONE, Reply(text="¿Seguimos?", options=_options("Sí", "No")))
    assert ids == ["wamid.fake000001"]
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == f"/{fake.phone_number_id}/messages"
    assert request.headers["authorization"] == f"Bearer {fake.access_token}"
    assert request.json == render(Reply(text="¿Seguimos?", options=_options("Sí", "No")), PHONE)[0]
    assert fake.sent_texts(PHONE) == ["¿Seguimos?\n1. Sí\n2. No"]


def test_every_render_shape_is_accepted(fake: FakeWhatsApp, client: WhatsAppClient) -> None:
    long_text = " ".join(f"palabra{i}" for i in range(1500))
    replies = [
        Reply(text=long_text, options=_options("Sí", "No")),
        Reply(text="Elige", options=_options(*"abcdefghij")),
        Reply(text="Elige", options=_options(*"abcdefghijk")),
        Reply(text="Escucha", voice_url="https://x/v.ogg", image_url="https://x/i.png"),
    ]
    for reply in replies:
        assert len(client.send(BSUID, reply)) == len(render(reply, BSUID))
    assert all(request.json.get("recipient") == BSUID for request in fake.requests)


def test_429_uses_retry_after(fake: FakeWhatsApp, client: WhatsAppClient) -> None:
    fake.inject(
        429,
        {"error": {"message": "(#130429) Rate limit hit", "code": 130429}},
        headers={"Retry-After": "7"},
    )
    with pytest.raises(RateLimited) as caught:
        client.send(PHONE, Reply(text="hola"))
    assert caught.value.retry_after == 7.0
    assert caught.value.code == 130429


@pytest.mark.parametrize("code", [4, 80007, 130429, 131056])
def test_throttling_codes_are_rate_limits(
    fake: FakeWhatsApp, client: WhatsAppClient, code: int
) -> None:
    fake.inject(400, {"error": {"message": "slow down", "code": code}})
    with pytest.raises(RateLimited) as caught:
        client.send(PHONE, Reply(text="hola"))
    assert caught.value.code == code
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": {"message": "Something went wrong", "code": 131000}}),
        (503, {"error": {"message": "Service unavailable", "code": 131016}}),
        (500, "<html>oops</html>"),
        (200, "not json"),
        (200, {"messaging_product": "whatsapp", "messages": []}),
    ],
)
def test_server_errors_and_garbage_are_retryable(
    fake: FakeWhatsApp, client: WhatsAppClient, status: int, body: Any
) -> None:
    fake.inject(status, body)
    with pytest.raises(RetryableSendError) as caught:
        client.send(PHONE, Reply(text="hola"))
    assert not isinstance(caught.value, RateLimited)


@pytest.mark.parametrize(("status", "code"), [(403, 10), (400, 131000), (400, 131026), (400, 100)])
def test_client_errors_are_permanent(
    fake: FakeWhatsApp, client: WhatsAppClient, status: int, code: int
) -> None:
    fake.inject(status, {"error": {"message": "nope", "code": code}})
    with pytest.raises(PermanentSendError) as caught:
        client.send(PHONE, Reply(text="hola"))
    assert not isinstance(caught.value, OutsideWindowError)
    assert caught.value.code == code


def test_outside_the_window_only_templates_go_through(
    fake: FakeWhatsApp, client: WhatsAppClient
) -> None:
    fake.close_window(PHONE)
    with pytest.raises(OutsideWindowError) as caught:
        client.send(PHONE, Reply(text="hola"))
    assert caught.value.code == 131047
    wamid = client.send_template(PHONE, Template("practice_reminder", "es", ("Ana",)))
    assert wamid.startswith("wamid.")
    assert fake.sent[-1].body["type"] == "template"


def test_timeout_is_retryable(fake: FakeWhatsApp, client: WhatsAppClient) -> None:
    fake.inject(200, {"messages": [{"id": "wamid.late"}]}, delay=2.0)
    with pytest.raises(RetryableSendError) as caught:
        client.send(PHONE, Reply(text="hola"))
    _no_token(caught.value, fake.access_token)


def test_connection_refused_is_retryable(http: httpx.Client) -> None:
    with FakeWhatsApp() as gone:
        url = gone.url
    client = WhatsAppClient(url, "1", "EAAG-secret", http, timeout=0.5)
    with pytest.raises(RetryableSendError) as caught:
        client.send(PHONE, Reply(text="hola"))
    _no_token(caught.value, "EAAG-secret")


def test_wrong_token_is_permanent_and_never_leaks(fake: FakeWhatsApp, http: httpx.Client) -> None:
    client = WhatsAppClient(fake.url, fake.phone_number_id, "EAAG-wrong", http, timeout=0.5)
    with pytest.raises(PermanentSendError) as caught:
        client.send(PHONE, Reply(text="hola"))
    assert caught.value.code == 190
    _no_token(caught.value, "EAAG-wrong")
    assert "EAAG-wrong" not in repr(client)


def test_media_url_and_download(fake: FakeWhatsApp, client: WhatsAppClient) -> None:
    fake.add_media("1234567890987654321", b"OggS-voice")
    url = client.get_media_url("1234567890987654321")
    with httpx.Client() as http:
        response = http.get(url, headers={"Authorization": f"Bearer {fake.access_token}"})
    assert response.content == b"OggS-voice"
    with pytest.raises(PermanentSendError):
        client.get_media_url("missing")


def test_acknowledge_is_a_no_op(fake: FakeWhatsApp, client: WhatsAppClient) -> None:
    client.acknowledge(PHONE, "anything")
    assert fake.requests == []


def test_versioned_base_url_works(fake: FakeWhatsApp, http: httpx.Client) -> None:
    client = WhatsAppClient(
        f"{fake.url}/v23.0", fake.phone_number_id, fake.access_token, http, timeout=0.5
    )
    assert client.send(PHONE, Reply(text="hola")) == ["wamid.fake000001"]
    assert fake.requests[0].path == f"/v23.0/{fake.phone_number_id}/messages"


def test_invoice_goes_to_whatsapp_as_a_payment_link() -> None:
    from tutor.messages import Invoice

    invoice = Invoice("Monthly", "", "plan:monthly", "EUR", 999, url="https://pay.example/x")
    bodies = render(Reply("Unlimited practice, monthly.", invoice=invoice), "34600000001")
    assert [b["text"]["body"] for b in bodies] == [
        "Unlimited practice, monthly.",
        "Monthly: https://pay.example/x",
    ]
