"""Telegram Stars at the edge: payment updates, the in-request pre-checkout answer, the
Stars client methods against the fake Bot API."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from payments import stars
from tests.conftest import TELEGRAM_SECRET
from tests.fakes.telegram import FakeTelegram
from tests.support.harness import TELEGRAM_SECRET_HEADER, Harness
from tutor import learners
from tutor.channels.telegram import (
    PreCheckout,
    TelegramClient,
    parse_pre_checkout,
    parse_update,
    render,
)
from tutor.errors import PayloadError, PermanentSendError, RetryableSendError
from tutor.i18n import t
from tutor.messages import Channel, Inbound, Invoice, Kind, PaymentUpdate, Reply
from tutor.models import inbox
from tutor.models import learners as learners_table

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "data" / "telegram"
EXPIRES = 1790000000  # a subscription_expiration_date, unix seconds
MONTHLY_STARS = 299  # payments/plans.yaml


def _load(name: str) -> dict[str, Any]:
    path = DATA / "updates" / name
    if not path.is_file():
        pytest.skip(f"recorded Telegram payloads not found at {DATA}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _stars_payment(payload: str = "monthly:7:1780000000") -> dict[str, Any]:
    """The recorded successful_payment as a Stars subscription's first payment."""
    body = _load("successful_payment.json")
    body["message"]["successful_payment"] = {
        "currency": "XTR",
        "total_amount": MONTHLY_STARS,
        "invoice_payload": payload,
        "telegram_payment_charge_id": "stxAbC123",
        "provider_payment_charge_id": "",
        "subscription_expiration_date": EXPIRES,
        "is_recurring": True,
        "is_first_recurring": True,
    }
    return body


def _pre_checkout(
    user_id: int, payload: str, *, amount: int = MONTHLY_STARS, currency: str = "XTR", **user: Any
) -> dict[str, Any]:
    """The recorded pre_checkout_query, from ``user_id``, for a Stars ``payload``."""
    body = _load("pre_checkout_query.json")
    query = body["pre_checkout_query"]
    query["from"] = {**query["from"], "id": user_id, **user}
    query.update(currency=currency, total_amount=amount, invoice_payload=payload)
    body["update_id"] = user_id % 100_000 + amount
    return body


# Parsing ---------------------------------------------------------------------------------


def test_recorded_successful_payment_becomes_a_payment_update() -> None:
    body = _load("successful_payment.json")
    inbound = parse_update(body)
    assert inbound is not None
    assert inbound.kind is Kind.PAYMENT
    assert inbound.provider_message_id == "1"  # the update_id, as for every update
    assert inbound.learner_key == "telegram:456"
    assert inbound.payment == PaymentUpdate(
        kind="successful",
        charge_id="thepaymentid",
        currency="USD",
        amount=100,
        payload="thedata",
        provider_charge_id="theproviderid",
    )
    assert Inbound.from_dict(inbound.to_dict()) == inbound


def test_stars_subscription_payment_keeps_renewal_fields() -> None:
    inbound = parse_update(_stars_payment())
    assert inbound is not None
    payment = inbound.payment
    assert payment is not None
    assert (payment.kind, payment.currency, payment.amount) == ("successful", "XTR", 299)
    assert payment.charge_id == "stxAbC123"
    assert payment.payload == "monthly:7:1780000000"
    assert payment.is_recurring and payment.is_first_recurring
    assert payment.expires_at == datetime.fromtimestamp(EXPIRES, UTC)
    assert payment.expires_at is not None and payment.expires_at.utcoffset() is not None
    assert payment.provider_charge_id == ""
    assert Inbound.from_dict(inbound.to_dict()) == inbound


def test_stars_renewal_is_recurring_but_not_first() -> None:
    body = _stars_payment()
    body["message"]["successful_payment"]["is_first_recurring"] = None
    inbound = parse_update(body)
    assert inbound is not None and inbound.payment is not None
    assert inbound.payment.is_recurring and not inbound.payment.is_first_recurring


def test_recorded_refund_becomes_a_refunded_payment_update() -> None:
    inbound = parse_update(_load("refunded_payment.json"))
    assert inbound is not None
    assert inbound.kind is Kind.PAYMENT
    assert inbound.payment == PaymentUpdate(
        kind="refunded",
        charge_id="thepaymentid",
        currency="USD",
        amount=100,
        payload="thedata",
        provider_charge_id="theproviderid",
    )

    body = _load("refunded_payment.json")
    body["message"]["refunded_payment"].update(currency="XTR", total_amount=49)
    del body["message"]["refunded_payment"]["provider_payment_charge_id"]
    inbound = parse_update(body)
    assert inbound is not None and inbound.payment is not None
    assert (inbound.payment.currency, inbound.payment.amount) == ("XTR", 49)
    assert inbound.payment.provider_charge_id == ""


def test_recorded_pre_checkout_query_is_parsed_apart_and_never_an_inbound() -> None:
    body = _load("pre_checkout_query.json")
    frozen = copy.deepcopy(body)
    assert parse_update(body) is None
    assert parse_pre_checkout(body) == PreCheckout(
        query_id="999728699048485871",
        user_id=222222222,
        currency="USD",
        amount=100,
        payload="thedata",
        language_hint="it",
    )
    assert parse_pre_checkout(_load("successful_payment.json")) is None
    assert body == frozen


@pytest.mark.parametrize(
    ("field", "value"),
    [("total_amount", "100"), ("telegram_payment_charge_id", ""), ("currency", None)],
)
def test_malformed_payment_fields_are_payload_errors(field: str, value: object) -> None:
    body = _stars_payment()
    body["message"]["successful_payment"][field] = value
    with pytest.raises(PayloadError):
        parse_update(body)


@pytest.mark.parametrize("change", ["no_from", "amount_text", "not_object"])
def test_malformed_pre_checkout_is_a_payload_error(change: str) -> None:
    body = _load("pre_checkout_query.json")
    if change == "no_from":
        del body["pre_checkout_query"]["from"]
    elif change == "amount_text":
        body["pre_checkout_query"]["total_amount"] = "100"
    else:
        body["pre_checkout_query"] = "x"
    with pytest.raises(PayloadError):
        parse_pre_checkout(body)


# Pre-checkout, answered inside the webhook request ----------------------------------------


def _post(client: FlaskClient, body: dict[str, Any]) -> TestResponse:
    headers = {TELEGRAM_SECRET_HEADER: TELEGRAM_SECRET}
    return client.post("/webhooks/telegram", json=body, headers=headers)


def _learner(harness: Harness, user_id: int, **profile: Any) -> int:
    inbound = Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(user_id),
        learner_key=f"telegram:{user_id}",
        provider_message_id="seed",
        kind=Kind.TEXT,
    )
    learner = learners.load_or_create(harness.services.engine, inbound)
    if profile:
        with harness.services.engine.begin() as connection:
            connection.execute(
                update(learners_table)
                .where(learners_table.c.id == learner.id)
                .values(profile={**learner.profile, **profile})
            )
    return learner.id


def _payload(plan: str, learner_id: int) -> str:
    return str(stars.Payload(plan, learner_id, int(time.time())))


def _inbox_rows(harness: Harness) -> int:
    with harness.services.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(inbox)).scalar_one())


def test_valid_pre_checkout_is_answered_ok_in_the_response(harness: Harness) -> None:
    learner_id = _learner(harness, 5001)
    body = _pre_checkout(5001, _payload("monthly", learner_id))
    started = time.perf_counter()
    response = _post(harness.client, body)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "method": "answerPreCheckoutQuery",
        "pre_checkout_query_id": "999728699048485871",
        "ok": True,
    }
    assert elapsed < 2.0  # Telegram gives up after 10 s; one SELECT takes milliseconds
    assert _inbox_rows(harness) == 0  # no queue: nothing was stored for a worker
    assert harness.telegram is not None
    assert harness.telegram.requests == []  # the answer rode on the response, no API call
    assert harness.worker.sweep() == 0
    assert harness.telegram.sent == []


def test_pack_pre_checkout_is_answered_ok(harness: Harness) -> None:
    learner_id = _learner(harness, 5002)
    response = _post(harness.client, _pre_checkout(5002, _payload("pack10", learner_id), amount=49))
    assert response.get_json()["ok"] is True


@pytest.mark.parametrize(
    ("reason", "payload", "amount", "currency"),
    [
        ("amount", "monthly:{me}:1780000000", 298, "XTR"),
        ("plan", "gold:{me}:1780000000", 299, "XTR"),
        ("learner", "monthly:{other}:1780000000", 299, "XTR"),
        ("currency", "monthly:{me}:1780000000", 299, "USD"),
        ("payload", "thedata", 299, "XTR"),
    ],
)
def test_bad_pre_checkout_is_refused_with_its_reason(
    harness: Harness, reason: str, payload: str, amount: int, currency: str
) -> None:
    me = _learner(harness, 5003)
    other = _learner(harness, 5004)
    body = _pre_checkout(5003, payload.format(me=me, other=other), amount=amount, currency=currency)
    answer = _post(harness.client, body).get_json()
    assert answer == {
        "method": "answerPreCheckoutQuery",
        "pre_checkout_query_id": "999728699048485871",
        "ok": False,
        "error_message": t(f"checkout_refused_{reason}", "en"),
    }
    assert _inbox_rows(harness) == 0


def test_refusal_speaks_the_learners_explanation_language(harness: Harness) -> None:
    learner_id = _learner(harness, 5005, explanation_language="es")
    body = _pre_checkout(5005, _payload("monthly", learner_id), amount=1, language_code="en")
    answer = _post(harness.client, body).get_json()
    assert answer["ok"] is False
    assert answer["error_message"] == t("checkout_refused_amount", "es")
    assert answer["error_message"] != t("checkout_refused_amount", "en")


def test_stranger_is_refused_in_their_app_language_and_not_created(harness: Harness) -> None:
    body = _pre_checkout(5006, "monthly:1:1780000000", language_code="es-MX")
    answer = _post(harness.client, body).get_json()
    assert answer["ok"] is False
    assert answer["error_message"] == t("checkout_refused_learner", "es")
    with harness.services.engine.connect() as connection:
        keys = connection.execute(select(learners_table.c.key)).scalars().all()
    assert "telegram:5006" not in keys  # read only: a pre-checkout never creates a learner


def test_repeated_pre_checkout_is_answered_again(harness: Harness) -> None:
    learner_id = _learner(harness, 5007)
    body = _pre_checkout(5007, _payload("monthly", learner_id))
    first = _post(harness.client, body).get_json()
    assert _post(harness.client, body).get_json() == first  # no dedupe swallows a retry


def test_pre_checkout_needs_the_secret(harness: Harness) -> None:
    body = _pre_checkout(5008, "monthly:1:1780000000")
    response = harness.client.post("/webhooks/telegram", json=body)
    assert response.status_code == 401  # no secret header (a wrong one is 403)
    wrong = harness.client.post(
        "/webhooks/telegram", json=body, headers={TELEGRAM_SECRET_HEADER: "nope"}
    )
    assert wrong.status_code == 403
    assert "method" not in (response.get_json() or {})


def test_malformed_pre_checkout_is_refused_with_400(harness: Harness) -> None:
    body = _load("pre_checkout_query.json")
    body["pre_checkout_query"]["total_amount"] = "lots"
    assert _post(harness.client, body).status_code == 400


def test_payment_messages_still_go_through_the_inbox(harness: Harness) -> None:
    assert _post(harness.client, _stars_payment()).get_json() == {"ok": True}
    with harness.services.engine.connect() as connection:
        stored = connection.execute(select(inbox.c.message)).scalar_one()
    assert stored["kind"] == "payment"
    assert stored["payment"]["charge_id"] == "stxAbC123"
    assert stored["payment"]["expires_at"] == datetime.fromtimestamp(EXPIRES, UTC).isoformat()


# The Stars client methods against the fake Bot API ----------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def client(fake: FakeTelegram) -> Iterator[TelegramClient]:
    with httpx.Client() as http:
        yield TelegramClient(fake.url, fake.token, http, 5.0)


def _subscription(payload: str = "monthly:7:1780000000", **fields: Any) -> Invoice:
    values: dict[str, Any] = {
        "title": "Monthly",
        "description": "Unlimited lessons and voice notes, renewed every 30 days.",
        "payload": payload,
        "currency": "XTR",
        "amount": MONTHLY_STARS,
        "subscription_period": stars.SUBSCRIPTION_PERIOD,
    }
    values.update(fields)
    return Invoice(**values)


def test_subscription_invoice_is_a_link_behind_a_url_button(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    invoice = _subscription()
    assert all(method != "sendInvoice" for method, _ in render(Reply(invoice=invoice)))
    ids = client.send("77", Reply(invoice=invoice))
    assert len(ids) == 1
    assert fake.invoice_links == [
        {
            "title": "Monthly",
            "description": invoice.description,
            "payload": "monthly:7:1780000000",
            "currency": "XTR",
            "prices": [{"label": "Monthly", "amount": 299}],
            "subscription_period": 2592000,
        }
    ]
    [sent] = fake.sent
    assert sent.method == "sendMessage"
    assert sent.chat_id == "77"
    assert sent.text is not None and "Monthly" in sent.text and "299" in sent.text
    [[button]] = sent.payload["reply_markup"]["inline_keyboard"]
    assert button["url"].startswith("https://t.me/$")
    assert "callback_data" not in button


def test_subscription_invoice_through_the_apps_adapter(harness: Harness) -> None:
    catalog = harness.services.catalog
    plan = catalog.get("monthly")
    assert plan is not None
    invoice = stars.invoice(plan, 12, "es", "Se renueva cada 30 días.", datetime.now(UTC))
    adapter = harness.services.channels[Channel.TELEGRAM]
    adapter.send("5010", Reply("Aquí tienes:", invoice=invoice))
    assert harness.telegram is not None
    [link] = harness.telegram.invoice_links
    assert link["subscription_period"] == 2592000
    assert link["title"] == "Mensual"
    texts = harness.telegram.sent_texts(5010)
    assert texts[0] == "Aquí tienes:"
    assert texts[1].startswith("Mensual")


def test_packs_keep_send_invoice(fake: FakeTelegram, client: TelegramClient) -> None:
    invoice = _subscription("pack10:7:1780000000", title="10 lessons", amount=49)
    pack = Invoice(**{**invoice.to_dict(), "subscription_period": 0})
    client.send("77", Reply(invoice=pack))
    assert [m.method for m in fake.sent] == ["sendInvoice"]
    assert fake.invoice_links == []
    assert "subscription_period" not in fake.sent[0].payload


def test_invoice_fields_respect_telegrams_limits(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    invoice = _subscription(title="A very long plan name that goes on and on", description="")
    client.send("77", Reply(invoice=invoice))
    [link] = fake.invoice_links
    assert len(link["title"]) == 32
    assert link["description"] == link["title"]  # Telegram needs 1-255 characters

    too_long = _subscription(payload="x" * 129)
    with pytest.raises(PermanentSendError):
        client.send("77", Reply(invoice=too_long))
    with pytest.raises(PermanentSendError):
        client.create_invoice_link(too_long)
    assert len(fake.invoice_links) == 1  # nothing more reached the API


def test_invoice_link_failure_sends_no_button(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.inject(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})
    with pytest.raises(RetryableSendError):
        client.send("77", Reply(invoice=_subscription()))
    assert fake.sent == []


def test_fake_refuses_periods_other_than_30_days(client: TelegramClient) -> None:
    with pytest.raises(PermanentSendError):
        client.create_invoice_link(_subscription(subscription_period=7 * 24 * 3600))


def test_answer_pre_checkout_query_through_the_client(
    fake: FakeTelegram, client: TelegramClient
) -> None:
    client.answer_pre_checkout_query("q1", True)
    client.answer_pre_checkout_query("q2", False, "The price has changed.")
    assert fake.pre_checkout_answers == [
        {"pre_checkout_query_id": "q1", "ok": True},
        {"pre_checkout_query_id": "q2", "ok": False, "error_message": "The price has changed."},
    ]
    with pytest.raises(ValueError, match="error message"):
        client.answer_pre_checkout_query("q3", False)


def test_refund_reaches_the_fake_once(fake: FakeTelegram, client: TelegramClient) -> None:
    client.refund_star_payment(456, "stxAbC123")
    assert fake.star_refunds == [{"user_id": 456, "telegram_payment_charge_id": "stxAbC123"}]
    with pytest.raises(PermanentSendError) as caught:
        client.refund_star_payment("telegram:456", "stxAbC123")
    assert "CHARGE_ALREADY_REFUNDED" in str(caught.value)


def test_edit_subscription_reaches_the_fake(fake: FakeTelegram, client: TelegramClient) -> None:
    client.edit_user_star_subscription("telegram:456", "stxAbC123", is_canceled=True)
    client.edit_user_star_subscription(456, "stxAbC123", is_canceled=False)
    assert fake.subscription_edits == [
        {"user_id": 456, "telegram_payment_charge_id": "stxAbC123", "is_canceled": True},
        {"user_id": 456, "telegram_payment_charge_id": "stxAbC123", "is_canceled": False},
    ]
    with pytest.raises(PermanentSendError):
        client.edit_user_star_subscription("web:abc", "stxAbC123", is_canceled=True)


def test_stars_calls_are_retryable_on_429(fake: FakeTelegram, client: TelegramClient) -> None:
    fake.inject(429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}})
    with pytest.raises(RetryableSendError):
        client.refund_star_payment(456, "stxZ")
    client.refund_star_payment(456, "stxZ")
    assert [r["telegram_payment_charge_id"] for r in fake.star_refunds] == ["stxZ"]
