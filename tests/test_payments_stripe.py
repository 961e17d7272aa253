"""Stripe through the real app: signed webhooks into the ledger, the learner told on
WhatsApp, Payment Links made once against a fake Stripe, and reconciliation's drift.

Event bodies start from recorded real Stripe events (shared/reference/data/stripe) with
their ids, metadata and the pinned API version's shape (``invoice.parent``) put in.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from sqlalchemy import func, select, update

from payments import entitlements as records
from payments import ledger, plans
from payments.ledger import EventKind, PaymentEvent, Provider
from payments.reconcile import DriftKind, reconcile_stripe
from payments.stripe_rail import StripeRail
from tests.conftest import REFERENCE_DATA, channel_env, settings_from_env
from tests.fakes.stripe import DEFAULT_API_KEY, FakeStripe, form
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support.harness import Harness
from tutor.errors import PaymentProviderError
from tutor.models import (
    entitlements,
    learners,
    payment_events,
    payment_links,
    payment_reconciliations,
    utcnow,
)
from tutor.settings import Settings

SECRET = "whsec_test_secret_0123456789"
RECORDED = REFERENCE_DATA / "stripe"
API_VERSION = "2026-10-28.endive"
_ids = iter(range(1, 1_000_000))


# Fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def stripe_settings(
    make_settings: Callable[..., Settings],
    telegram: FakeTelegram,
    whatsapp: FakeWhatsApp,
    fake: FakeStripe,
    **overrides: Any,
) -> Settings:
    env = channel_env(telegram, whatsapp)
    env.update(
        TUTOR_STRIPE_API_KEY=DEFAULT_API_KEY,
        TUTOR_STRIPE_WEBHOOK_SECRET=SECRET,
        TUTOR_STRIPE_API_URL=fake.url,
        TUTOR_STRIPE_SUCCESS_URL="https://tutor.example/paid",
    )
    return settings_from_env(lambda **values: make_settings(**values, **overrides), env)


@pytest.fixture
def shop(
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
    fake_stripe: FakeStripe,
) -> Iterator[Harness]:
    """The tutor with Stripe configured against the fake."""
    harness = Harness(
        stripe_settings(make_settings, fake_telegram, fake_whatsapp, fake_stripe),
        fake_telegram,
        fake_whatsapp,
    )
    yield harness
    harness.close()


def _recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return data


def envelope(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A full event around ``obj``, on the pinned API version."""
    return {
        "id": event_id or f"evt_test{next(_ids):06d}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": obj},
    }


def checkout(
    reference: str | None,
    plan: str | None,
    *,
    mode: str = "payment",
    intent: str | None = None,
    subscription: str | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """gitpay's recorded checkout.session.completed, for this learner and plan."""
    event = _recorded("gitpay_full_events/checkout.session.completed.json")
    session = event["data"]["object"]
    session.update(
        client_reference_id=reference,
        metadata={"plan": plan} if plan else {},
        mode=mode,
        currency="eur",
        amount_total=199 if mode == "payment" else 999,
        payment_intent=(intent or f"pi_test{next(_ids)}") if mode == "payment" else None,
        subscription=subscription,
        customer="cus_test1" if subscription else None,
        invoice=f"in_first_{subscription}" if subscription else None,
        payment_link=link or session["payment_link"],
    )
    return envelope(event["type"], session)


def invoice_paid(
    subscription: str,
    period_end: datetime,
    *,
    reason: str = "subscription_cycle",
    intent: str | None = None,
    invoice_id: str | None = None,
    expanded: bool = True,
) -> dict[str, Any]:
    """gitpay's recorded invoice.paid, reshaped to the pinned API (``parent``, ``payments``);
    not ``expanded``, it has no ``payments`` (as webhook bodies usually come)."""
    event = _recorded("gitpay_full_events/invoice.paid.json")
    invoice = event["data"]["object"]
    for legacy in ("subscription", "subscription_details", "payment_intent", "charge"):
        invoice.pop(legacy, None)
    end = int(period_end.timestamp())
    invoice.update(
        id=invoice_id or f"in_test{next(_ids)}",
        billing_reason=reason,
        currency="eur",
        amount_paid=999,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": subscription, "metadata": {"plan": "monthly"}},
        },
        payments={
            "object": "list",
            "data": [
                {
                    "object": "invoice_payment",
                    "payment": {
                        "type": "payment_intent",
                        "payment_intent": intent or f"pi_test{next(_ids)}",
                    },
                }
            ],
        },
    )
    if not expanded:
        del invoice["payments"]
    line = invoice["lines"]["data"][0]
    line.update(period={"start": end - 30 * 86400, "end": end}, metadata={})
    return envelope(event["type"], invoice)


def subscription_event(
    event_type: str, subscription: str, *, cancel_at_period_end: bool = False
) -> dict[str, Any]:
    """pay-rails' recorded subscription data, as this subscription."""
    obj = copy.deepcopy(_recorded("pay-rails_event_data/subscription.deleted.json")["object"])
    obj.update(
        id=subscription,
        customer="cus_test1",
        cancel_at_period_end=cancel_at_period_end,
        status="canceled" if event_type.endswith("deleted") else "active",
    )
    return envelope(event_type, obj)


def refunded(intent: str, *, amount: int = 199, refunded_amount: int = 199) -> dict[str, Any]:
    """pay-rails' recorded charge.refunded data, for this payment intent."""
    obj = _recorded("pay-rails_event_data/charge.refunded.json")["object"]
    obj.update(
        payment_intent=intent, amount=amount, amount_refunded=refunded_amount, currency="eur"
    )
    return envelope("charge.refunded", obj)


def signed(body: dict[str, Any] | bytes, *, secret: str = SECRET, age: int = 0) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        raw.decode(), secret, timestamp=int(time.time()) - age
    )
    return raw, {"Stripe-Signature": header, "Content-Type": "application/json"}


def post(harness: Harness, body: dict[str, Any] | bytes, **options: Any) -> int:
    raw, headers = signed(body, **options)
    return harness.client.post("/webhooks/stripe", data=raw, headers=headers).status_code


def deliver(harness: Harness, body: dict[str, Any]) -> None:
    """Post a signed event, then let the workers send what it queued."""
    assert post(harness, body) == 200
    harness.worker.sweep()


def learner(harness: Harness, wa_id: str) -> tuple[int, str]:
    """A learner who wrote on WhatsApp: (id, the reference their payment links carry)."""
    harness.whatsapp_says(wa_id, "hi")
    with harness.services.engine.begin() as connection:
        learner_id = connection.execute(
            select(learners.c.id).where(learners.c.chat_id == wa_id)
        ).scalar_one()
        reference = records.ensure(connection, int(learner_id), utcnow()).reference
    return int(learner_id), reference


def record_of(harness: Harness, learner_id: int) -> records.Entitlement:
    with harness.services.engine.connect() as connection:
        found = records.get(connection, learner_id)
    assert found is not None
    return found


def events(harness: Harness) -> list[tuple[str, str, str]]:
    with harness.services.engine.connect() as connection:
        rows = connection.execute(
            select(payment_events.c.kind, payment_events.c.status, payment_events.c.detail)
            .where(payment_events.c.provider == "stripe")
            .order_by(payment_events.c.id)
        ).all()
    return [(row.kind, row.status, row.detail) for row in rows]


PAYMENT_NOTICES = ("Thank you! 🎉", "Your refund", "Your Monthly", "I received your payment")


def told(harness: Harness, wa_id: str) -> list[str]:
    """The payment notices the learner received on WhatsApp."""
    assert harness.whatsapp is not None
    return [t for t in harness.whatsapp.sent_texts(wa_id) if t.startswith(PAYMENT_NOTICES)]


def counts(harness: Harness) -> tuple[int, int]:
    with harness.services.engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(payment_events)).scalar_one(),
            connection.execute(select(func.count()).select_from(entitlements)).scalar_one(),
        )


# Refused deliveries ---------------------------------------------------------------------


def test_forged_missing_and_expired_signatures_are_refused_and_change_nothing(
    shop: Harness,
) -> None:
    _, reference = learner(shop, "15550002001")
    body = checkout(reference, "pack10")
    before = counts(shop)
    raw = json.dumps(body).encode()

    assert post(shop, body, secret="whsec_someone_else") == 403
    assert shop.client.post("/webhooks/stripe", data=raw).status_code == 401
    assert post(shop, body, age=301) == 403  # outside the 300 s tolerance
    tampered, headers = signed(body)
    tampered = tampered.replace(b'"pack10"', b'"monthly"')
    assert shop.client.post("/webhooks/stripe", data=tampered, headers=headers).status_code == 403

    assert counts(shop) == before
    assert events(shop) == []


def test_bodies_that_are_not_stripe_events_are_refused(shop: Harness) -> None:
    before = counts(shop)
    assert post(shop, b"{not json") == 400
    assert post(shop, b"[1, 2]") == 400
    assert post(shop, {"hello": "world"}) == 400
    big = b'{"pad": "' + b"x" * (shop.settings.max_webhook_bytes + 1) + b'"}'
    assert shop.client.post("/webhooks/stripe", data=big).status_code == 413
    assert counts(shop) == before


def test_without_stripe_the_endpoint_is_not_there(harness: Harness) -> None:
    assert post(harness, checkout("Lnobody", "pack10")) == 404


def test_event_types_we_do_not_use_are_acknowledged_and_ignored(shop: Harness) -> None:
    updated = _recorded("pay-rails_event_data/customer.updated.json")["object"]
    assert post(shop, envelope("customer.updated", updated)) == 200
    unpaid = checkout("Lsomeone", "pack10")
    unpaid["data"]["object"]["payment_status"] = "unpaid"
    assert post(shop, unpaid) == 200
    assert events(shop) == []


# Packs -------------------------------------------------------------------------------------


def test_a_pack_is_credited_once_under_replays_and_the_learner_is_told(shop: Harness) -> None:
    learner_id, reference = learner(shop, "15550002002")
    body = checkout(reference, "pack10")
    for _ in range(5):
        deliver(shop, body)

    assert record_of(shop, learner_id).lessons_remaining == 10
    assert events(shop) == [("purchase", "applied", "+10 lessons (10 left)")]
    assert told(shop, "15550002002") == ["Thank you! 🎉 10 lessons added; you have 10."]


@pytest.mark.postgres
def test_the_same_event_delivered_twice_at_once_on_postgres_credits_once(
    make_settings: Callable[..., Settings],
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
    fake_stripe: FakeStripe,
    pg_url: str,
) -> None:
    settings = stripe_settings(
        make_settings, fake_telegram, fake_whatsapp, fake_stripe, database_url=pg_url
    )
    shop = Harness(settings, fake_telegram, fake_whatsapp)
    try:
        learner_id, reference = learner(shop, "15550002003")
        raw, headers = signed(checkout(reference, "pack10"))
        start = threading.Barrier(4)
        statuses: list[int] = []

        def send() -> None:
            client = shop.app.test_client()
            start.wait()
            statuses.append(client.post("/webhooks/stripe", data=raw, headers=headers).status_code)

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert statuses == [200, 200, 200, 200]
        assert record_of(shop, learner_id).lessons_remaining == 10
        assert [kind for kind, _, _ in events(shop)] == ["purchase"]
    finally:
        shop.close()


def test_a_refund_after_some_lessons_were_used_takes_back_what_is_left(shop: Harness) -> None:
    learner_id, reference = learner(shop, "15550002004")
    deliver(shop, checkout(reference, "pack10", intent="pi_pack_refund"))
    with shop.services.engine.begin() as connection:
        connection.execute(
            update(entitlements)
            .where(entitlements.c.learner_id == learner_id)
            .values(lessons_remaining=7)  # 3 of the 10 used
        )
    deliver(shop, refunded("pi_pack_refund", refunded_amount=50))  # partial: nothing changes
    assert record_of(shop, learner_id).lessons_remaining == 7

    deliver(shop, refunded("pi_pack_refund"))

    assert record_of(shop, learner_id).lessons_remaining == 0
    assert events(shop)[-2:] == [
        ("refund", "applied", "partial refund; access unchanged"),
        ("refund", "applied", "-10 lessons (0 left); 3 of them already used"),
    ]
    assert told(shop, "15550002004")[-1] == (
        "Your refund went through. You have 0 lessons from packs."
    )


def test_an_unknown_plan_is_kept_as_ignored_and_the_learner_hears_a_person_will_check(
    shop: Harness,
) -> None:
    learner_id, reference = learner(shop, "15550002005")
    deliver(shop, checkout(reference, "gold"))

    assert events(shop) == [("purchase", "ignored", "unknown plan 'gold'")]
    assert record_of(shop, learner_id).lessons_remaining == 0
    assert shop.whatsapp is not None
    assert shop.whatsapp.sent_texts("15550002005")[-1].startswith("I received your payment")


# Subscriptions ---------------------------------------------------------------------------


def test_renewals_out_of_order_leave_the_later_period_end(shop: Harness) -> None:
    learner_id, reference = learner(shop, "15550002006")
    now = datetime.now(UTC).replace(microsecond=0)
    deliver(shop, checkout(reference, "monthly", mode="subscription", subscription="sub_order"))
    deliver(shop, invoice_paid("sub_order", now + timedelta(days=90)))
    deliver(shop, invoice_paid("sub_order", now + timedelta(days=60)))

    record = record_of(shop, learner_id)
    assert record.plan == "monthly"
    assert record.subscription_active
    assert record.next_payment_date == now + timedelta(days=90)
    assert record.subscription_ref == "sub_order"
    assert record.customer_ref == "cus_test1"


def test_a_renewal_before_its_checkout_waits_then_applies(shop: Harness) -> None:
    learner_id, reference = learner(shop, "15550002007")
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=45)
    deliver(shop, invoice_paid("sub_early", end))
    assert events(shop) == [("renewal", "pending", "waiting for the learner's purchase")]

    body = checkout(reference, "monthly", mode="subscription", subscription="sub_early")
    deliver(shop, body)

    assert [status for _, status, _ in events(shop)] == ["applied", "applied"]
    assert record_of(shop, learner_id).next_payment_date == end


def test_cancel_then_deleted_ends_it_and_a_late_invoice_does_not_revive_it(
    shop: Harness,
) -> None:
    learner_id, reference = learner(shop, "15550002008")
    now = datetime.now(UTC).replace(microsecond=0)
    deliver(shop, checkout(reference, "monthly", mode="subscription", subscription="sub_end"))
    deliver(
        shop,
        subscription_event("customer.subscription.updated", "sub_end", cancel_at_period_end=True),
    )
    assert record_of(shop, learner_id).cancel_at_period_end

    deliver(shop, subscription_event("customer.subscription.deleted", "sub_end"))
    deliver(shop, invoice_paid("sub_end", now + timedelta(days=30)))

    record = record_of(shop, learner_id)
    assert (record.plan, record.subscription_active) == ("free", False)
    assert events(shop)[-1] == ("renewal", "ignored", "the subscription has already ended")
    assert told(shop, "15550002008")[-1].startswith("Your Monthly plan has ended")


def test_the_first_invoice_is_not_told_twice_and_its_refund_ends_the_subscription(
    shop: Harness,
) -> None:
    learner_id, reference = learner(shop, "15550002009")
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=31)
    deliver(shop, checkout(reference, "monthly", mode="subscription", subscription="sub_first"))
    deliver(shop, invoice_paid("sub_first", end, reason="subscription_create", intent="pi_first"))

    assert record_of(shop, learner_id).next_payment_date == end
    assert len(told(shop, "15550002009")) == 1
    assert told(shop, "15550002009")[0].startswith("Thank you! 🎉 Monthly is active until")

    deliver(shop, refunded("pi_first", amount=999, refunded_amount=999))
    assert not record_of(shop, learner_id).subscription_active
    assert events(shop)[-1] == ("refund", "applied", "refunded; subscription ended")


@pytest.mark.parametrize("reason", ["subscription_create", "subscription_cycle"])
def test_a_refund_of_an_invoice_paid_without_its_payment_intent_ends_the_subscription(
    shop: Harness, fake_stripe: FakeStripe, reason: str
) -> None:
    wa_id = "15550002013" if reason == "subscription_create" else "15550002014"
    learner_id, reference = learner(shop, wa_id)
    sub = f"sub_unexpanded_{reason}"
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=31)
    deliver(shop, checkout(reference, "monthly", mode="subscription", subscription=sub))
    invoice = f"in_first_{sub}" if reason == "subscription_create" else f"in_cycle_{sub}"
    deliver(shop, invoice_paid(sub, end, reason=reason, invoice_id=invoice, expanded=False))
    fake_stripe.pay_invoice(invoice, f"pi_{sub}")
    assert record_of(shop, learner_id).subscription_active
    assert fake_stripe.requests == []  # no lookup for the payments themselves

    deliver(shop, refunded(f"pi_{sub}", amount=999, refunded_amount=999))

    record = record_of(shop, learner_id)
    assert (record.plan, record.subscription_active) == ("free", False)
    assert events(shop)[-1] == ("refund", "applied", "refunded; subscription ended")
    with shop.services.engine.connect() as connection:
        ref = connection.execute(
            select(payment_events.c.object_ref).where(payment_events.c.kind == "refund")
        ).scalar_one()
    assert ref == invoice
    (lookup,) = fake_stripe.requests
    assert (lookup.method, lookup.path) == ("GET", "/v1/invoice_payments")
    assert lookup.query["payment[type]"] == ["payment_intent"]
    assert lookup.query["payment[payment_intent]"] == [f"pi_{sub}"]
    assert told(shop, wa_id)[-1] == "Your refund went through. You're back on the free plan."


def test_a_stripe_outage_while_finding_the_refunded_invoice_still_records_the_refund(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    learner_id, reference = learner(shop, "15550002015")
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=31)
    deliver(shop, checkout(reference, "monthly", mode="subscription", subscription="sub_out"))
    first = invoice_paid(
        "sub_out",
        end,
        reason="subscription_create",
        invoice_id="in_first_sub_out",
        expanded=False,
    )
    deliver(shop, first)
    fake_stripe.pay_invoice("in_first_sub_out", "pi_out")
    outage = {"error": {"type": "api_error", "message": "down"}}
    fake_stripe.inject(503, outage, times=3)  # the first try and both retries

    assert post(shop, refunded("pi_out", amount=999, refunded_amount=999)) == 200

    assert len(fake_stripe.requests) == 3
    # The ledger finds no learner by the payment intent: kept pending, for an admin.
    assert events(shop)[-1] == ("refund", "pending", "waiting for the learner's purchase")
    with shop.services.engine.connect() as connection:
        ref = connection.execute(
            select(payment_events.c.object_ref).where(payment_events.c.kind == "refund")
        ).scalar_one()
    assert ref == "pi_out"  # as it came, for an admin to see
    assert record_of(shop, learner_id).subscription_active


# Payment Links and the API ----------------------------------------------------------------


def test_payment_links_are_created_once_with_idempotency_keys_and_cached(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    rail = shop.services.stripe
    assert rail is not None
    monthly = shop.services.catalog.get("monthly")
    assert monthly is not None
    _, first = learner(shop, "15550002010")
    _, second = learner(shop, "15550002011")

    url = rail.link_url(shop.services.engine, monthly, first)
    assert url.startswith("https://buy.stripe.com/")
    assert url.endswith(f"?client_reference_id={first}")
    (price,) = fake_stripe.posts("/v1/prices")
    (link,) = fake_stripe.posts("/v1/payment_links")
    assert price.headers["idempotency-key"].startswith("tutor-monthly-")
    assert link.headers["idempotency-key"].startswith("tutor-monthly-")
    assert form(price)["recurring[interval]"] == "month"
    assert form(price)["unit_amount"] == "999"
    fields = form(link)
    assert fields["metadata[plan]"] == "monthly"
    assert fields["subscription_data[metadata][plan]"] == "monthly"
    assert fields["after_completion[redirect][url]"] == "https://tutor.example/paid"

    seen = len(fake_stripe.requests)
    again = rail.link_url(shop.services.engine, monthly, second)
    assert len(fake_stripe.requests) == seen  # from payment_links, no API call
    assert again == url.replace(first, second)
    with shop.services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payment_links)).scalar() == 1

    # A checkout without metadata finds its plan through the cached link.
    learner_id, _ = learner(shop, "15550002012")
    link_id = next(iter(fake_stripe.links))
    reference = record_of(shop, learner_id).reference
    deliver(
        shop, checkout(reference, None, mode="subscription", subscription="sub_l", link=link_id)
    )
    assert record_of(shop, learner_id).plan == "monthly"


def test_processes_racing_for_a_new_link_end_with_one(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    rail = shop.services.stripe
    pack = shop.services.catalog.get("pack10")
    assert rail is not None and pack is not None
    start = threading.Barrier(4)
    urls: list[str] = []

    def buy(n: int) -> None:
        start.wait()
        urls.append(rail.link_url(shop.services.engine, pack, f"Lrace{n}"))

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len({url.split("?")[0] for url in urls}) == 1 and len(urls) == 4
    assert (len(fake_stripe.prices), len(fake_stripe.links)) == (1, 1)  # idempotency keys
    with shop.services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(payment_links)).scalar() == 1


def test_link_creation_retries_5xx_with_the_same_key_and_translates_refusals(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    rail = shop.services.stripe
    pack = shop.services.catalog.get("pack10")
    assert rail is not None and pack is not None
    fake_stripe.inject(500, {"error": {"type": "api_error", "message": "boom"}})
    url = rail.link_url(shop.services.engine, pack, "Lretry")
    assert "client_reference_id=Lretry" in url
    keys = [r.headers["idempotency-key"] for r in fake_stripe.posts("/v1/prices")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(fake_stripe.prices) == 1
    assert "payment_intent_data[metadata][plan]" in form(fake_stripe.posts("/v1/payment_links")[0])

    monthly = shop.services.catalog.get("monthly")
    assert monthly is not None
    fake_stripe.inject(429, {"error": {"type": "rate_limit_error", "message": "slow down"}})
    with pytest.raises(PaymentProviderError):
        rail.link_url(shop.services.engine, monthly, "Lretry")


def test_a_stalled_stripe_times_out_as_a_provider_error(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    fast = StripeRail(
        shop.settings,
        shop.services.catalog,
        stripe.RequestsClient(timeout=0.3),
    )
    pack = shop.services.catalog.get("pack10")
    assert pack is not None
    fake_stripe.inject(200, {}, delay=2.0, times=3)  # the first try and both retries
    try:
        with pytest.raises(PaymentProviderError):
            fast.link_url(shop.services.engine, pack, "Lslow")
    finally:
        fast.close()
    assert len(fake_stripe.posts("/v1/prices")) == 3


def test_a_plan_with_its_own_link_makes_no_api_call(fake_stripe: FakeStripe, shop: Harness) -> None:
    rail = shop.services.stripe
    assert rail is not None
    plan = plans.Plan(
        "vip",
        plans.PlanKind.PACK,
        {"en": "VIP"},
        stripe_link="https://buy.stripe.com/test_vip?locale=es",
        lessons=5,
    )
    url = rail.link_url(shop.services.engine, plan, "Lvip")
    assert url == "https://buy.stripe.com/test_vip?locale=es&client_reference_id=Lvip"
    assert fake_stripe.requests == []
    with pytest.raises(ValueError, match="client_reference_id"):
        rail.link_url(shop.services.engine, plan, "not allowed!")


def test_cancel_sets_cancel_at_period_end_and_returns_the_items_period_end(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    end = int(time.time()) + 12 * 86400
    fake_stripe.add_subscription("sub_cancel", period_end=end)
    rail = shop.services.stripe
    assert rail is not None

    assert rail.cancel("sub_cancel") == datetime.fromtimestamp(end, UTC)
    assert fake_stripe.subscriptions["sub_cancel"]["cancel_at_period_end"] is True
    (sent,) = fake_stripe.posts("/v1/subscriptions/sub_cancel")
    assert form(sent) == {"cancel_at_period_end": "true"}
    with pytest.raises(PaymentProviderError):
        rail.cancel("sub_missing")


# Reconciliation -----------------------------------------------------------------------------


def _subscribe(harness: Harness, learner_id: int, sub: str, end: datetime) -> None:
    event = PaymentEvent(
        Provider.STRIPE,
        f"evt_setup_{sub}",
        EventKind.PURCHASE,
        utcnow(),
        learner_id=learner_id,
        plan="monthly",
        subscription_ref=sub,
        period_end=end,
    )
    ledger.record(harness.services.engine, event, harness.services.catalog)


def test_reconciliation_reports_each_kind_of_drift_and_changes_nothing(
    shop: Harness, fake_stripe: FakeStripe
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    end = now + timedelta(days=20)
    ids = [learner(shop, f"1555000300{n}")[0] for n in range(5)]
    for learner_id, sub in zip(
        ids, ("sub_r1", "sub_r2", "sub_r3", "sub_r4", "sub_r6"), strict=True
    ):
        _subscribe(shop, learner_id, sub, end)
    ended = PaymentEvent(
        Provider.STRIPE, "evt_setup_end", EventKind.ENDED, utcnow(), subscription_ref="sub_r4"
    )
    ledger.record(shop.services.engine, ended, shop.services.catalog)

    stamp = int(end.timestamp())
    fake_stripe.add_subscription("sub_r1", period_end=stamp + 3 * 86400)  # period end differs
    fake_stripe.add_subscription("sub_r2", status="canceled", period_end=stamp)
    # sub_r3: Stripe has no such subscription
    fake_stripe.add_subscription("sub_r4", period_end=stamp)  # active, the record has ended
    fake_stripe.add_subscription("sub_r5", period_end=stamp)  # nobody's
    fake_stripe.add_subscription("sub_r6", period_end=stamp + 3600)  # agrees
    for n in range(101):  # old history: pages of canceled subscriptions
        fake_stripe.add_subscription(f"sub_old{n:03d}", status="canceled")
    with shop.services.engine.connect() as connection:
        before = connection.execute(select(entitlements).order_by(entitlements.c.id)).all()

    assert shop.services.stripe is not None
    report = reconcile_stripe(shop.services.engine, shop.services.stripe, now)

    found = {(item.what, item.subscription) for item in report.drift}
    assert found == {
        (DriftKind.PERIOD_END, "sub_r1"),
        (DriftKind.NOT_ACTIVE_AT_STRIPE, "sub_r2"),
        (DriftKind.NOT_ACTIVE_AT_STRIPE, "sub_r3"),
        (DriftKind.NOT_ON_RECORD, "sub_r4"),
        (DriftKind.UNKNOWN, "sub_r5"),
    }
    assert (report.checked, report.records) == (106, 5)
    assert len([r for r in fake_stripe.requests if r.path == "/v1/subscriptions"]) == 2
    lines = report.lines()
    assert "106 subscriptions at Stripe, 5 records, 5 drift" in lines[0]
    assert any("not_active_at_stripe: sub_r3 [missing]" in line for line in lines)
    with shop.services.engine.connect() as connection:
        (row,) = connection.execute(select(payment_reconciliations)).all()
        after = connection.execute(select(entitlements).order_by(entitlements.c.id)).all()
    assert (row.provider, row.checked, len(row.drift)) == ("stripe", 106, 5)
    assert {item["what"] for item in row.drift} == {kind.value for kind in DriftKind}
    assert after == before


def test_the_recorded_fixtures_are_where_the_tests_expect_them() -> None:
    assert Path(RECORDED / "gitpay_full_events" / "invoice.paid.json").is_file()


# The learner's side on WhatsApp ---------------------------------------------------------


def test_a_whatsapp_learner_pays_through_the_link_the_paywall_offers(
    shop: Harness, fake_stripe: FakeStripe, fake_whatsapp: FakeWhatsApp
) -> None:
    wa_id = "15550009001"
    for answer in ("hi", "1", "1", "1", "skip", "skip"):  # Spanish, explained in English
        shop.whatsapp_says(wa_id, answer)
    offers = shop.whatsapp_says(wa_id, "upgrade")
    assert offers[0].startswith(
        "Unlimited practice is €9.99 a month or €1.99 for 10 lessons.\nPick one:"
    )
    link = shop.whatsapp_says(wa_id, "2")
    assert len(link) == 1 and link[0].startswith("10 lessons: http")
    learner_id, reference = learner(shop, wa_id)
    assert link[0].endswith(f"?client_reference_id={reference}")
    (created,) = [r for r in fake_stripe.requests if r.path == "/v1/payment_links"]
    assert created.headers.get("idempotency-key")
    deliver(shop, checkout(reference, "pack10"))
    assert told(shop, wa_id)[-1] == "Thank you! 🎉 10 lessons added; you have 10."
    status = shop.whatsapp_says(wa_id, "subscription status")[0]
    assert "Lessons from packs: 10 left." in status
    assert record_of(shop, learner_id).lessons_remaining == 10
