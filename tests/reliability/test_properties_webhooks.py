"""Property-based tests of the webhook edge: hostile bodies parsed, and posted through the app.

The parsers (Telegram updates and pre-checkout queries, WhatsApp webhooks and their Pay
statuses, Stripe events) take arbitrary JSON and structure-aware mutations of the real
payload shapes in ``tests/support/payloads.py`` and the recorded Stripe events; they must
return what they parsed or refuse with the app's own :class:`~tutor.errors.PayloadError`.
Through the Flask app, correctly signed requests with any body get a 200 or a 4xx.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import example, given, settings
from hypothesis import strategies as st

from payments import stripe_events, whatsapp_pay
from tests.conftest import REFERENCE_DATA, TELEGRAM_SECRET, WHATSAPP_APP_SECRET
from tests.fakes.stripe import DEFAULT_API_KEY, FakeStripe
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, FakeWhatsApp
from tests.support import payloads
from tests.support.properties import examples
from tutor.app import create_app
from tutor.channels import telegram, whatsapp
from tutor.errors import PayloadError
from tutor.messages import Inbound
from tutor.services import Services, build_services
from tutor.settings import Settings

pytestmark = [pytest.mark.reliability]

STRIPE_SECRET = "whsec_properties_0123456789"
DEFAULT = examples(600)
LONG = settings(DEFAULT, max_examples=5000, deadline=5000)

# Strategies ----------------------------------------------------------------------------

#: Values that break naive parsers: wrong types, empties, huge and lone-surrogate text.
NASTY = st.sampled_from(
    [None, True, False, 0, -1, 2**63, -(2**64), 1e308, -0.0, "", "0", "\ud800", "x" * 5000,
     "9" * 5000, [], {}, [None], {"": None}, "\u202e\u0301", "\0", "/start\ud83d"]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | NASTY
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def _seeds() -> list[dict[str, Any]]:
    """Real payload shapes of every kind the parsers read."""
    return [
        payloads.telegram_text(11, "Hola, ¿qué tal?"),
        payloads.telegram_text(12, "/start ref"),
        payloads.telegram_callback(13, "menu:1"),
        payloads.telegram_voice(14, "file-1"),
        payloads.telegram_stars_payment(15, "plan:monthly", 250, "charge-1", expires=2_000_000_000),
        payloads.telegram_stars_payment(16, "plan:pack", 100, "charge-2", refunded=True),
        _pre_checkout(),
        payloads.whatsapp_text("34600000001", "hola"),
        payloads.whatsapp_voice("34600000002", "media-1"),
        _whatsapp_payment_status(),
    ]


def _pre_checkout() -> dict[str, Any]:
    return {
        "update_id": 900_001,
        "pre_checkout_query": {
            "id": "pcq-1",
            "from": {"id": 17, "is_bot": False, "first_name": "Ana", "language_code": "es"},
            "currency": "XTR",
            "total_amount": 250,
            "invoice_payload": "plan:monthly",
        },
    }


def _whatsapp_payment_status() -> dict[str, Any]:
    body = payloads.whatsapp_text("34600000003", "")
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"]
    value["statuses"] = [
        {
            "id": "wamid.PAY1",
            "status": "captured",
            "type": "payment",
            "timestamp": str(int(time.time())),
            "recipient_id": "34600000003",
            "payment": {
                "reference_id": "tutor-1-monthly-abc",
                "amount": {"value": 999, "offset": 100},
                "currency": "INR",
                "transaction": {"id": "tx-1", "type": "upi", "status": "success"},
            },
        }
    ]
    return body


def _stripe_seeds() -> list[dict[str, Any]]:
    stripe_dir = REFERENCE_DATA / "stripe"
    names = [
        "gitpay_full_events/checkout.session.completed.json",
        "gitpay_full_events/invoice.paid.json",
        "pay-rails_event_data/charge.refunded.json",
        "pay-rails_event_data/subscription.updated.json",
        "pay-rails_event_data/subscription.deleted.json",
    ]
    seeds = []
    for name in names:
        data = json.loads((stripe_dir / name).read_text(encoding="utf-8"))
        event_type = name.rsplit("/", 1)[1].removesuffix(".json")
        event_type = event_type.replace("subscription.", "customer.subscription.")
        if data.get("object") != "event":  # pay-rails records only the event's data
            data = {"id": "evt_seed", "object": "event", "type": event_type, "data": data}
        data.setdefault("created", int(time.time()))
        seeds.append(data)
    return seeds


SEEDS = _seeds()
STRIPE_SEEDS = _stripe_seeds()


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair inside a JSON value, the root's children first."""
    found: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            found.append((node, key))
            if isinstance(node[key], dict | list):
                stack.append(node[key])
    return found


@st.composite
def mutated(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> Any:
    """A real payload with one to four of its fields replaced, deleted or re-typed."""
    body = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(body)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "nasty", "delete", "wrap", "stringify"]))
        # Copies: a drawn value may be a shared object (NASTY's [] and {}) and later edits
        # must not change it for the next example.
        if action == "replace":
            container[key] = copy.deepcopy(draw(JSON))
        elif action == "nasty":
            container[key] = copy.deepcopy(draw(NASTY))
        elif action == "delete" and isinstance(container, dict):
            del container[key]
        elif action == "wrap":
            container[key] = [container[key]]
        else:
            container[key] = json.dumps(container[key])
    return body


BODIES = JSON | mutated(SEEDS)


def _with(body: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the field at ``path`` set to ``value``."""
    changed = copy.deepcopy(body)
    node: Any = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


# The parsers, called as the app calls them ---------------------------------------------


def _parse_telegram(body: Any) -> Inbound | telegram.PreCheckout | None:
    """What /webhooks/telegram does with a body before storing it."""
    query = telegram.parse_pre_checkout(body)
    if query is not None:
        return query
    return telegram.parse_update(body)


def _parse_whatsapp(body: Any) -> whatsapp.WhatsAppBatch:
    """What /webhooks/whatsapp does with a body, WhatsApp Pay statuses included."""
    batch = whatsapp.parse_webhook(body)
    for status in batch.payments:
        whatsapp_pay.events_from_status(status)
    return batch


@DEFAULT
@given(body=BODIES)
@example(body={"update_id": 1, "message": {"text": "\ud800"}})
@example(body=_with(payloads.telegram_voice(1, "f"), ("message", "voice", "duration"), [1]))
@example(body=_with(payloads.telegram_text(1, "x"), ("message", "date"), 2**63))
@example(body=_with(_pre_checkout(), ("pre_checkout_query", "from", "language_code"), [1]))
@example(body=_with(payloads.telegram_voice(1, "f"), ("message", "voice", "file_id"), [1]))
@example(body=_with(payloads.telegram_voice(1, "f"), ("message", "caption"), {"a": 1}))
@example(body=_with(payloads.telegram_callback(1, "x"), ("callback_query", "data"), [1]))
@example(body={"object": "whatsapp_business_account", "entry": [{"changes": "x"}]})
def test_telegram_parser_returns_messages_or_payload_errors(body: Any) -> None:
    """Injects: arbitrary JSON values and real Telegram/WhatsApp payloads with fields replaced,
    deleted, re-typed or made huge, lone surrogates and NULs included.
    Checks: parse_pre_checkout + parse_update return an Inbound, a PreCheckout or None, or
    raise PayloadError; never another exception."""
    _expect_parsed_or_refused(_parse_telegram, body)


@DEFAULT
@given(body=BODIES)
@example(body={"object": "whatsapp_business_account", "entry": [{"changes": [{}]}]})
@example(body=_whatsapp_payment_status())
@example(
    body=_with(
        payloads.whatsapp_text("1", "x"),
        ("entry", 0, "changes", 0, "value", "messages", 0, "type"),
        [],
    )
)
def test_whatsapp_parser_returns_messages_or_payload_errors(body: Any) -> None:
    """Injects: arbitrary JSON values and real WhatsApp/Telegram payloads (messages, voice notes,
    Pay statuses) with fields replaced, deleted, re-typed or made huge.
    Checks: parse_webhook (and the Pay status reader) returns a WhatsAppBatch or raises
    PayloadError; never another exception."""
    _expect_parsed_or_refused(_parse_whatsapp, body)


@DEFAULT
@given(event=JSON | mutated(STRIPE_SEEDS))
@example(event=_with(STRIPE_SEEDS[0], ("created",), 253402300800.0))  # year 10000
@example(event=_with(STRIPE_SEEDS[0], ("created",), float("nan")))
def test_stripe_event_reader_never_raises(event: Any) -> None:
    """Injects: arbitrary JSON and recorded Stripe events (checkout, invoice, refund,
    subscription) with fields replaced, deleted or re-typed, as a verified event's body.
    Checks: stripe_events.events_from returns a list of ledger events; it never raises."""
    event = copy.deepcopy(event) if isinstance(event, dict) else {"data": event}
    assert isinstance(stripe_events.events_from(event, lambda link: None), list)


def _expect_parsed_or_refused(parse: Callable[[Any], Any], body: Any) -> None:
    try:
        parsed = parse(copy.deepcopy(body))  # the parsers clean strings in place
    except PayloadError:
        return
    if isinstance(parsed, telegram.PreCheckout):
        assert isinstance(parsed.query_id, str) and isinstance(parsed.payload, str)
        assert parsed.language_hint is None or isinstance(parsed.language_hint, str)
    for inbound in getattr(parsed, "messages", (parsed,)):
        if isinstance(inbound, Inbound):
            _assert_storable(inbound)


def _assert_storable(inbound: Inbound) -> None:
    """The fields the inbox and the agents read have their types, and encode as UTF-8."""
    texts = [inbound.text, inbound.provider_message_id, inbound.learner_key, inbound.chat_id]
    for value in texts:
        assert isinstance(value, str), inbound
        value.encode("utf-8")
    for value in (inbound.button, inbound.language_hint, inbound.callback_id):
        assert value is None or isinstance(value, str), inbound
    if inbound.media is not None:
        assert isinstance(inbound.media.media_id, str) and inbound.media.media_id
        assert isinstance(inbound.media.mime_type, str)
        size = inbound.media.size_bytes
        assert size is None or (isinstance(size, int) and not isinstance(size, bool))


@LONG
@pytest.mark.long
@given(body=BODIES)
def test_parsers_long(body: Any) -> None:
    """Injects: thousands of arbitrary and mutated webhook bodies into the Telegram and
    WhatsApp parsers.
    Checks: each returns what it parsed or raises PayloadError; never another exception."""
    _expect_parsed_or_refused(_parse_telegram, body)
    _expect_parsed_or_refused(_parse_whatsapp, body)


# Through the app -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    """The real app on SQLite with Telegram, WhatsApp and Stripe configured (fakes behind)."""
    root: Path = tmp_path_factory.mktemp("properties")
    with FakeTelegram() as tg, FakeWhatsApp() as wa, FakeStripe() as fake_stripe:
        app_settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            var_dir=root / "var",
            database_url=f"sqlite:///{root / 'tutor.sqlite3'}",
            secret_key="test-secret-key",
            send_pacing=False,
            telegram_bot_token=DEFAULT_TOKEN,
            telegram_webhook_secret=TELEGRAM_SECRET,
            telegram_api_url=tg.url,
            whatsapp_phone_number_id=DEFAULT_PHONE_NUMBER_ID,
            whatsapp_access_token=DEFAULT_ACCESS_TOKEN,
            whatsapp_app_secret=WHATSAPP_APP_SECRET,
            whatsapp_verify_token="verify-me",  # noqa: S106 - a test value
            whatsapp_api_url=wa.url + "/v23.0",
            stripe_api_key=DEFAULT_API_KEY,
            stripe_webhook_secret=STRIPE_SECRET,
            stripe_api_url=fake_stripe.url,
            stripe_success_url="https://tutor.example/paid",
        )
        services: Services = build_services(app_settings)
        try:
            yield create_app(app_settings, services).test_client()
        finally:
            services.close()


def _stripe_signature(raw: bytes) -> str:
    stamp = int(time.time())
    digest = hmac.new(STRIPE_SECRET.encode(), f"{stamp}.".encode() + raw, hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def _post_everywhere(client: FlaskClient, raw: bytes) -> list[tuple[str, int]]:
    """POST ``raw``, correctly authenticated, to each webhook; the status codes."""
    wa_signature = (
        "sha256=" + hmac.new(WHATSAPP_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    )
    requests = [
        ("/webhooks/telegram", {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}),
        ("/webhooks/whatsapp", {"X-Hub-Signature-256": wa_signature}),
        ("/webhooks/stripe", {"Stripe-Signature": _stripe_signature(raw)}),
    ]
    return [
        (path, client.post(path, data=raw, headers={**headers, "Content-Type": "application/json"})
         .status_code)
        for path, headers in requests
    ]  # fmt: skip


def _encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


RAW_BODIES = (
    st.binary(max_size=300)
    | JSON.map(_encoded)
    | mutated(SEEDS).map(_encoded)
    | mutated(STRIPE_SEEDS).map(_encoded)
    | mutated(SEEDS).map(lambda body: _encoded(body)[: len(_encoded(body)) // 2])
)


@settings(DEFAULT, max_examples=300)
@given(raw=RAW_BODIES)
@example(raw=b"\xff\xfe\x00not utf-8")
@example(raw=b"[" * 100_000)
@example(raw=_encoded(payloads.telegram_text(5, "x")).replace(b'"x"', b'"\\ud800"'))
@example(raw=_encoded(payloads.whatsapp_text("1", "x")).replace(b'"x"', b'"\\udfff"'))
@example(raw=_encoded(STRIPE_SEEDS[0]).replace(b'"evt_', b'"\\ud83devt_'))
@example(raw=re.sub(rb'"amount_total": \d+', b'"amount_total": 1180591620717411303424',
                    _encoded(STRIPE_SEEDS[0])))  # fmt: skip
@example(raw=re.sub(rb'"amount_paid": \d+', b'"amount_paid": -1', _encoded(STRIPE_SEEDS[1])))
def test_signed_requests_never_get_a_5xx(client: FlaskClient, raw: bytes) -> None:
    """Injects: correctly signed/secret-bearing POSTs to the Telegram, WhatsApp and Stripe
    webhooks with arbitrary bytes (not UTF-8, not JSON, cut short, 100k brackets), arbitrary
    JSON and mutated real payloads (lone surrogates in texts and ids).
    Checks: every answer is a 200 or a 4xx, never a 5xx."""
    for path, status in _post_everywhere(client, raw):
        assert status == 200 or 400 <= status < 500, (path, status)


@settings(LONG, max_examples=3000)
@pytest.mark.long
@given(raw=RAW_BODIES)
def test_signed_requests_never_get_a_5xx_long(client: FlaskClient, raw: bytes) -> None:
    """Injects: thousands of correctly signed POSTs with arbitrary and mutated bodies to every
    webhook.
    Checks: every answer is a 200 or a 4xx, never a 5xx."""
    for path, status in _post_everywhere(client, raw):
        assert status == 200 or 400 <= status < 500, (path, status)
