"""WhatsApp Pay: where it is offered, the order_details a learner pays, payment statuses.

Status bodies follow the Cloud API's ``statuses[]`` item of ``type: payment`` (Meta's
"Receive payments via payment gateways on WhatsApp"; Kaleyra's recording of it, with
``transaction.refunds``), posted signed through the real app; the fake Graph API checks
the order messages the tutor sends back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from payments import entitlements, whatsapp_pay
from payments.ledger import EventKind
from payments.plans import Plan, PlanKind
from tests.conftest import channel_env, settings_from_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support import payloads
from tests.support.harness import Harness
from tutor.channels.whatsapp import parse_webhook, render
from tutor.messages import Channel, Invoice, Reply
from tutor.models import learners, payment_events
from tutor.settings import Settings

INDIA = "919812345678"
PACK = Plan(
    id="pack10",
    kind=PlanKind.PACK,
    title={"en": "10 lessons", "es": "10 lecciones"},
    stripe_amount=199,
    lessons=10,
    prices={"INR": 14900, "BRL": 990},
)
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def payment_status(
    wa_id: str,
    reference: str,
    state: str = "captured",
    *,
    value: int = 14900,
    refunds: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Cloud API webhook carrying one WhatsApp Pay status (Razorpay, INR)."""
    stamp = int(time.time())
    amount = {"value": value, "offset": 100}
    transaction = {
        "id": "order_SdrcSSqobZ7voR",
        "type": "razorpay",
        "status": {"captured": "success", "pending": "pending"}.get(state, "failed"),
        "created_timestamp": stamp,
        "updated_timestamp": stamp,
        "amount": amount,
        "currency": "INR",
        "refunds": refunds,
    }
    status = {
        "id": "wamid.HBgMOTE5ODEyMzQ1Njc4FQIAEhgUM0VCMDRBRDU0RTVEMjQ4QkM5MTAA",
        "status": state,
        "timestamp": str(stamp),
        "recipient_id": wa_id,
        "type": "payment",
        "payment": {
            "reference_id": reference,
            "amount": amount,
            "currency": "INR",
            "receipt": "",
            "transaction": transaction,
        },
    }
    value_object = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [status],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "102290129340398", "changes": [{"field": "messages", "value": value_object}]}
        ],
    }


def _onboard(harness: Harness, wa_id: str) -> int:
    """A WhatsApp learner who finished first contact; their learner id."""
    for answer in ("hi", "1", "1", "1", "skip", "skip"):
        harness.whatsapp_says(wa_id, answer)
    with harness.services.engine.connect() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.chat_id == wa_id)
        ).scalar_one()
    return int(learner_id)


def _lessons(harness: Harness, learner_id: int) -> int:
    with harness.services.engine.connect() as connection:
        record = entitlements.get(connection, learner_id)
    return record.lessons_remaining if record else 0


def _events(harness: Harness) -> list[tuple[str, str, str]]:
    with harness.services.engine.connect() as connection:
        rows = connection.execute(
            select(payment_events.c.event_id, payment_events.c.kind, payment_events.c.status)
            .where(payment_events.c.provider == "whatsapp")
            .order_by(payment_events.c.id)
        ).all()
    return [(row.event_id, row.kind, row.status) for row in rows]


def _sent_since(harness: Harness, before: int) -> list[dict[str, Any]]:
    assert harness.whatsapp is not None
    return [message.body for message in harness.whatsapp.sent[before:]]


# Where it is offered ---------------------------------------------------------------


def test_available_only_where_enabled_and_in_india_or_brazil(
    make_settings: Callable[..., Settings],
) -> None:
    on = make_settings(whatsapp_pay_enabled=True, whatsapp_pay_configuration="razorpay-prod")
    assert whatsapp_pay.available(on, INDIA) == "INR"
    assert whatsapp_pay.available(on, "+5511987654321") == "BRL"
    assert whatsapp_pay.available(on, "34600000001") is None  # Spain: a Stripe link
    assert whatsapp_pay.available(on, "15551234567") is None
    assert whatsapp_pay.available(on, "US.13491208655302741918") is None  # no number known
    off = make_settings(whatsapp_pay_configuration="razorpay-prod")
    assert whatsapp_pay.available(off, INDIA) is None
    unconfigured = make_settings(whatsapp_pay_enabled=True)
    assert whatsapp_pay.available(unconfigured, INDIA) is None
    india_only = make_settings(
        whatsapp_pay_enabled=True,
        whatsapp_pay_configuration="razorpay-prod",
        whatsapp_pay_countries="91:INR",
    )
    assert whatsapp_pay.available(india_only, "5511987654321") is None


# The order ------------------------------------------------------------------------


def test_reference_ids_fit_meta_limits_and_name_plan_and_learner() -> None:
    reference = whatsapp_pay.reference_id("pack10", 1234567, NOW)
    assert len(reference) <= 35
    assert whatsapp_pay.REFERENCE.fullmatch(reference)
    parsed = whatsapp_pay.parse_reference(reference)
    assert parsed is not None
    assert (parsed.plan, parsed.learner_id, parsed.issued) == (
        "pack10",
        1234567,
        int(NOW.timestamp()),
    )
    longest = whatsapp_pay.reference_id("a" * 20, 10**7 - 1, NOW)
    assert len(longest) <= 35
    with pytest.raises(ValueError, match="too long"):
        whatsapp_pay.reference_id("a" * 24, 10**9, NOW)
    assert whatsapp_pay.parse_reference("order-7") is None
    assert whatsapp_pay.parse_reference("SampleMSIL1102") is None


def test_order_details_payload() -> None:
    reference = whatsapp_pay.reference_id("pack10", 42, NOW)
    parameters = whatsapp_pay.order(PACK, reference, "INR", "es", "razorpay-prod")
    invoice = Invoice("10 lecciones", "", reference, "INR", 14900, order=parameters)
    [body] = render(Reply("Paga aquí tus 10 lecciones.", invoice=invoice), INDIA)
    assert body["type"] == "interactive"
    interactive = body["interactive"]
    assert interactive["type"] == "order_details"
    assert interactive["body"] == {"text": "Paga aquí tus 10 lecciones."}
    assert interactive["action"]["name"] == "review_and_pay"
    assert interactive["action"]["parameters"] == {
        "reference_id": reference,
        "type": "digital-goods",
        "payment_type": "upi",
        "payment_configuration": "razorpay-prod",
        "currency": "INR",
        "total_amount": {"value": 14900, "offset": 100},
        "order": {
            "status": "pending",
            "items": [
                {
                    "retailer_id": "pack10",
                    "name": "10 lecciones",
                    "amount": {"value": 14900, "offset": 100},
                    "quantity": 1,
                }
            ],
            "subtotal": {"value": 14900, "offset": 100},
        },
    }
    brazil = whatsapp_pay.order(PACK, reference, "brl", "en", "pix")
    assert (brazil["currency"], brazil["payment_type"]) == ("BRL", "br")
    assert brazil["total_amount"] == {"value": 990, "offset": 100}
    with pytest.raises(ValueError, match="no EUR price"):
        whatsapp_pay.order(PACK, reference, "EUR", "en", "razorpay-prod")
    with pytest.raises(ValueError, match="reference"):
        whatsapp_pay.order(PACK, "x" * 36, "INR", "en", "razorpay-prod")


def test_link_invoices_still_go_as_text() -> None:
    invoice = Invoice("Monthly", "", "plan:monthly", "EUR", 999, url="https://pay.example/x")
    bodies = render(Reply("Unlimited practice.", invoice=invoice), "34600000001")
    assert [b["type"] for b in bodies] == ["text", "text"]


def test_the_fake_graph_api_accepts_the_order_and_its_status(harness: Harness) -> None:
    assert harness.whatsapp is not None
    client = harness.services.channels[Channel.WHATSAPP]
    reference = whatsapp_pay.reference_id("pack10", 42, NOW)
    parameters = whatsapp_pay.order(PACK, reference, "INR", "en", "razorpay-prod")
    invoice = Invoice("10 lessons", "UPI, cards", reference, "INR", 14900, order=parameters)
    client.send(INDIA, Reply("Your 10 lessons", invoice=invoice))
    done = Invoice(
        "10 lessons", "", reference, "INR", 14900, order=whatsapp_pay.order_status(reference)
    )
    client.send(INDIA, Reply("✅ 10 lessons", invoice=done))
    [details, status] = [m.body["interactive"] for m in harness.whatsapp.sent]
    assert details["footer"] == {"text": "UPI, cards"}
    assert status == {
        "type": "order_status",
        "body": {"text": "✅ 10 lessons"},
        "action": {
            "name": "review_order",
            "parameters": {"reference_id": reference, "order": {"status": "completed"}},
        },
    }


# Statuses as ledger events ---------------------------------------------------------------


def _status(body: dict[str, Any]) -> dict[str, Any]:
    [status] = parse_webhook(body).payments
    return status


def test_payment_statuses_are_not_inbox_messages() -> None:
    batch = parse_webhook(payment_status(INDIA, "pack10-7-abc"))
    assert (batch.messages, batch.statuses) == ((), ())
    assert batch.payments[0]["payment"]["reference_id"] == "pack10-7-abc"


def test_a_captured_payment_is_one_purchase() -> None:
    reference = whatsapp_pay.reference_id("pack10", 7, NOW)
    [event] = whatsapp_pay.events_from_status(_status(payment_status(INDIA, reference)))
    assert event.kind is EventKind.PURCHASE
    assert event.event_id == f"{reference}:captured"
    assert (event.learner_id, event.plan, event.amount, event.currency) == (
        7,
        "pack10",
        14900,
        "INR",
    )
    assert event.object_ref == reference


@pytest.mark.parametrize("state", ["pending", "failed"])
def test_pending_and_failed_payments_are_no_events(state: str) -> None:
    body = payment_status(INDIA, whatsapp_pay.reference_id("pack10", 7, NOW), state)
    assert whatsapp_pay.events_from_status(_status(body)) == []


def test_completed_refunds_are_refund_events() -> None:
    reference = whatsapp_pay.reference_id("pack10", 7, NOW)
    refund = {
        "id": "rfnd_SdreFXXXXXXXXR",
        "amount": {"value": 14900, "offset": 100},
        "speed_processed": "normal",
        "status": "completed",
        "created_timestamp": 1746500000,
        "updated_timestamp": 1746500005,
    }
    pending = {**refund, "id": "rfnd_later", "status": "pending"}
    events = whatsapp_pay.events_from_status(
        _status(payment_status(INDIA, reference, refunds=[refund, pending]))
    )
    assert [e.kind for e in events] == [EventKind.PURCHASE, EventKind.REFUND]
    assert events[1].event_id == f"{reference}:refund:rfnd_SdreFXXXXXXXXR"
    assert events[1].full_refund and events[1].object_ref == reference


# Through the webhook ------------------------------------------------------------------


def test_a_captured_payment_credits_the_pack_once_and_closes_the_order(
    harness: Harness,
) -> None:
    assert harness.whatsapp is not None
    learner_id = _onboard(harness, INDIA)
    before_lessons = _lessons(harness, learner_id)
    reference = whatsapp_pay.reference_id("pack10", learner_id, NOW)
    before = len(harness.whatsapp.sent)
    for _ in range(3):  # Meta delivers at least once
        assert harness.post_whatsapp(payment_status(INDIA, reference)) == 200
    harness.worker.sweep()
    assert _lessons(harness, learner_id) == before_lessons + 10
    assert _events(harness) == [(f"{reference}:captured", "purchase", "applied")]
    sent = _sent_since(harness, before)
    assert len(sent) == 2
    order_status, thanks = sent
    assert order_status["interactive"]["type"] == "order_status"
    assert order_status["interactive"]["action"]["parameters"] == {
        "reference_id": reference,
        "order": {"status": "completed"},
    }
    assert thanks["text"]["body"].startswith("Thank you! 🎉 10 lessons added")
    assert {body["to"] for body in sent} == {INDIA}


def test_a_refund_takes_the_pack_back(harness: Harness) -> None:
    learner_id = _onboard(harness, INDIA)
    reference = whatsapp_pay.reference_id("pack10", learner_id, NOW)
    assert harness.post_whatsapp(payment_status(INDIA, reference)) == 200
    refund = {
        "id": "rfnd_1",
        "amount": {"value": 14900, "offset": 100},
        "status": "completed",
        "updated_timestamp": int(time.time()),
    }
    assert harness.post_whatsapp(payment_status(INDIA, reference, refunds=[refund])) == 200
    assert _lessons(harness, learner_id) == 0
    assert [kind for _, kind, _ in _events(harness)] == ["purchase", "refund"]


@pytest.mark.parametrize("state", ["pending", "failed"])
def test_pending_or_failed_payments_change_nothing(harness: Harness, state: str) -> None:
    assert harness.whatsapp is not None
    learner_id = _onboard(harness, INDIA)
    reference = whatsapp_pay.reference_id("pack10", learner_id, NOW)
    before = len(harness.whatsapp.sent)
    assert harness.post_whatsapp(payment_status(INDIA, reference, state)) == 200
    harness.worker.sweep()
    assert _lessons(harness, learner_id) == 0
    assert _events(harness) == []
    assert _sent_since(harness, before) == []


def test_a_forged_signature_changes_nothing(harness: Harness) -> None:
    assert harness.whatsapp is not None
    learner_id = _onboard(harness, INDIA)
    reference = whatsapp_pay.reference_id("pack10", learner_id, NOW)
    raw = payloads.encode(payment_status(INDIA, reference))
    for headers in (
        payloads.whatsapp_headers(raw, "not-the-app-secret"),
        {"Content-Type": "application/json"},
    ):
        response = harness.client.post("/webhooks/whatsapp", data=raw, headers=headers)
        assert response.status_code in (401, 403)
    assert _lessons(harness, learner_id) == 0
    assert _events(harness) == []


@pytest.mark.parametrize(
    "reference",
    [
        "SampleMSIL1102",  # not one of ours
        "pack10-999999-abc",  # no such learner
        "gold-{learner}-abc",  # no such plan
    ],
)
def test_a_status_for_an_unknown_reference_is_kept_ignored(
    harness: Harness, reference: str
) -> None:
    learner_id = _onboard(harness, INDIA)
    reference = reference.format(learner=learner_id)
    assert harness.post_whatsapp(payment_status(INDIA, reference)) == 200
    assert harness.post_whatsapp(payment_status(INDIA, reference)) == 200
    assert _events(harness) == [(f"{reference}:captured", "purchase", "ignored")]
    assert _lessons(harness, learner_id) == 0
    with harness.services.engine.connect() as connection:
        data = connection.execute(select(payment_events.c.data)).scalar_one()
    assert json.dumps(data)  # the normalised event is kept for an admin to see


def test_the_paywall_offers_whatsapp_pay_in_india(
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
) -> None:
    env = {
        **channel_env(fake_telegram, fake_whatsapp),
        "TUTOR_WHATSAPP_PAY_ENABLED": "true",
        "TUTOR_WHATSAPP_PAY_CONFIGURATION": "razorpay-prod",
    }
    harness = Harness(settings_from_env(make_settings, env), fake_telegram, fake_whatsapp)
    try:
        learner_id = _onboard(harness, INDIA)
        offers = harness.whatsapp_says(INDIA, "upgrade")
        assert offers[0].startswith(
            "Unlimited practice is ₹799.00 a month or ₹149.00 for 10 lessons."
        )
        before = len(fake_whatsapp.sent)
        harness.whatsapp_says(INDIA, "2")
        (order,) = [
            body["interactive"]
            for body in _sent_since(harness, before)
            if body.get("type") == "interactive"
            and body["interactive"].get("type") == "order_details"
        ]
        parameters = order["action"]["parameters"]
        assert parameters["currency"] == "INR"
        assert parameters["total_amount"] == {"value": 14900, "offset": 100}
        assert parameters["reference_id"].startswith(f"pack10-{learner_id}-")
        assert parameters["payment_configuration"] == "razorpay-prod"
    finally:
        harness.close()
