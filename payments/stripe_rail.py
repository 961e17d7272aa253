"""Stripe as a payment rail: Payment Links to pay, signed webhooks to hear, a list to check.

Learners pay on a Stripe Payment Link whose URL carries their entitlement's opaque
``reference`` as ``client_reference_id`` (Payment Links have no create parameter for
it). A plan's link is the ``stripe_link`` of the plans file, else the one cached in
``payment_links`` for the price it sells, else created once through the API (with
idempotency keys, so two processes racing create one link) and cached.

Webhooks are verified with the SDK (``Stripe-Signature``, 300 s tolerance) and mapped
by :mod:`payments.stripe_events`; the ledger stores each event once. A refund of a
payment intent that no applied payment names is looked up once through the Invoice
Payments API: the invoice it paid is what a renewal was recorded under. Vendor errors
become :class:`~tutor.errors.PaymentProviderError`, refused webhooks
:class:`~tutor.errors.SignatureError` or :class:`~tutor.errors.PayloadError`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

import stripe
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from payments import stripe_events
from payments.ledger import Applied, EventKind, PaymentEvent, Provider, Status
from payments.plans import Catalog, Plan, PlanKind
from tutor.errors import ConfigurationError, PayloadError, PaymentProviderError, SignatureError
from tutor.models import payment_events, payment_links, utcnow
from tutor.settings import Settings
from tutor.text import json_without_surrogates

logger = logging.getLogger(__name__)

PROVIDER = Provider.STRIPE.value
TIMEOUT_SECONDS = 10.0
NETWORK_RETRIES = 2
TOLERANCE_SECONDS = 300
_REFERENCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class RemoteSubscription(NamedTuple):
    """A subscription as Stripe has it (for reconciliation)."""

    id: str
    status: str
    current_period_end: datetime | None
    customer: str | None


@dataclass(frozen=True, slots=True)
class Link:
    """A plan's Payment Link: the price it sells, its id and its URL."""

    price_ref: str
    link_ref: str
    url: str


def fingerprint(plan: Plan) -> str:
    """What a link sells: a new price, amount, currency or kind means a new link."""
    sold = f"{plan.kind.value}|{plan.stripe_price}|{plan.stripe_amount}|{plan.currency}"
    return hashlib.sha256(sold.encode()).hexdigest()


def with_reference(url: str, reference: str) -> str:
    """``url`` with ``client_reference_id`` (Stripe drops invalid values silently)."""
    if not 1 <= len(reference) <= 200 or not set(reference) <= _REFERENCE_CHARS:
        raise ValueError("a client_reference_id is 1-200 of A-Z a-z 0-9 - _")
    joiner = "&" if "?" in url else "?"
    return url + joiner + urlencode({"client_reference_id": reference})


def quiet_first_invoice(applied: Applied) -> Applied:
    """``applied`` without notices for a first invoice: its checkout already told them."""
    if applied.event.reason == stripe_events.FIRST_INVOICE:
        applied = replace(applied, new=False)  # confirmation() says nothing for replays
    also = tuple(quiet_first_invoice(item) for item in applied.also)
    return replace(applied, also=also)


class StripeRail:
    """The Stripe API (through the official SDK) and Stripe's webhooks, for one catalog."""

    def __init__(
        self, settings: Settings, catalog: Catalog, http_client: stripe.HTTPClient | None = None
    ) -> None:
        if settings.stripe_api_key is None:
            raise ConfigurationError("TUTOR_STRIPE_API_KEY is not set")
        secret = settings.stripe_webhook_secret
        self._webhook_secret = secret.get_secret_value() if secret else None
        self._success_url = settings.stripe_success_url
        self.catalog = catalog
        # The SDK's own default transport (requests), with a short timeout. Its httpx
        # transport posts with ``data=<str>``, which httpx deprecates.
        self._http = http_client or stripe.RequestsClient(timeout=TIMEOUT_SECONDS)
        self._client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(),
            base_addresses={"api": settings.stripe_api_url},
            http_client=self._http,
            max_network_retries=NETWORK_RETRIES,
        )

    def close(self) -> None:
        self._http.close()  # type: ignore[no-untyped-call]  # untyped in the SDK

    @property
    def receives_webhooks(self) -> bool:
        return bool(self._webhook_secret)

    # Payment Links ---------------------------------------------------------------

    def link_url(self, engine: Engine, plan: Plan, reference: str) -> str:
        """The URL where the learner with ``reference`` pays for ``plan``."""
        if plan.stripe_link:
            return with_reference(plan.stripe_link, reference)
        return with_reference(self.link(engine, plan).url, reference)

    def link(self, engine: Engine, plan: Plan) -> Link:
        """The plan's cached Payment Link, created (and cached) on first need."""
        if not plan.on_stripe:
            raise ConfigurationError(f"plan {plan.id} has no Stripe price")
        sold = fingerprint(plan)
        with engine.connect() as connection:
            cached = _cached(connection, plan.id, sold)
        if cached is not None:
            return cached
        created = self._create_link(plan, sold)
        with engine.begin() as connection:
            try:
                with connection.begin_nested():
                    connection.execute(
                        insert(payment_links).values(
                            provider=PROVIDER,
                            plan=plan.id,
                            fingerprint=sold,
                            price_ref=created.price_ref,
                            link_ref=created.link_ref,
                            url=created.url,
                            created_at=utcnow(),
                        )
                    )
            except IntegrityError:  # another process cached its link first: use theirs
                theirs = _cached(connection, plan.id, sold)
                if theirs is not None:
                    return theirs
        logger.info("stripe payment link created", extra={"plan": plan.id})
        return created

    def _create_link(self, plan: Plan, sold: str) -> Link:
        key = f"tutor-{plan.id}-{sold[:32]}"
        try:
            price = plan.stripe_price or self._create_price(plan, key)
            params: dict[str, Any] = {
                "line_items": [{"price": price, "quantity": 1}],
                "metadata": {"plan": plan.id},
            }
            if plan.kind is PlanKind.SUBSCRIPTION:
                params["subscription_data"] = {"metadata": {"plan": plan.id}}
            else:
                params["payment_intent_data"] = {"metadata": {"plan": plan.id}}
            if self._success_url:
                redirect = {"url": self._success_url}
                params["after_completion"] = {"type": "redirect", "redirect": redirect}
            link = self._client.v1.payment_links.create(
                params,  # type: ignore[arg-type]  # TypedDict params built from a dict
                {"idempotency_key": f"{key}-link"},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(f"stripe: creating the link for {plan.id} failed") from exc
        return Link(price, link.id, link.url)

    def _create_price(self, plan: Plan, key: str) -> str:
        params: dict[str, Any] = {
            "unit_amount": plan.stripe_amount,
            "currency": plan.currency,
            "product_data": {"name": plan.name("en")},
            "metadata": {"plan": plan.id},
        }
        if plan.kind is PlanKind.SUBSCRIPTION:
            params["recurring"] = {"interval": "month"}
        price = self._client.v1.prices.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"{key}-price"},
        )
        return price.id

    def plan_of_link(self, engine: Engine, link_ref: str) -> str | None:
        """The plan a Payment Link we created sells (None for links made elsewhere)."""
        with engine.connect() as connection:
            found = connection.execute(
                select(payment_links.c.plan).where(
                    payment_links.c.provider == PROVIDER, payment_links.c.link_ref == link_ref
                )
            ).scalar()
        return str(found) if found is not None else None

    # Subscriptions -----------------------------------------------------------------

    def cancel(self, subscription_ref: str) -> datetime | None:
        """Stop renewing at the period end; returns that end (None if Stripe gave none)."""
        try:
            subscription = self._client.v1.subscriptions.update(
                subscription_ref, {"cancel_at_period_end": True}
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError("stripe: cancelling the subscription failed") from exc
        return stripe_events.period_end(subscription.to_dict())

    def subscriptions(self) -> Iterator[RemoteSubscription]:
        """Every subscription on the account, whatever its status, page by page."""
        try:
            pages = self._client.v1.subscriptions.list({"status": "all", "limit": 100})
            for subscription in pages.auto_paging_iter():
                data = subscription.to_dict()
                yield RemoteSubscription(
                    id=str(data["id"]),
                    status=str(data.get("status") or ""),
                    current_period_end=stripe_events.period_end(data),
                    customer=stripe_events.ref(data.get("customer")),
                )
        except stripe.StripeError as exc:
            raise PaymentProviderError("stripe: listing subscriptions failed") from exc

    # Webhooks ------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> stripe.Event:
        """The verified event; SignatureError (missing, forged, expired), PayloadError."""
        if not signature_header:
            raise SignatureError("missing Stripe-Signature", missing=True)
        if not self._webhook_secret:
            raise SignatureError("no webhook secret is configured")
        try:
            event = self._client.construct_event(
                payload, signature_header, self._webhook_secret, tolerance=TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise SignatureError("Stripe-Signature does not verify") from exc
        except (ValueError, TypeError, AttributeError) as exc:  # not JSON, not an object
            raise PayloadError("body is not a Stripe event") from exc
        data = event.to_dict()
        if data.get("object") != "event" or not data.get("id") or not data.get("type"):
            raise PayloadError("body is not a Stripe event")
        return event

    def events_from(self, event: stripe.Event, engine: Engine | None = None) -> list[PaymentEvent]:
        """The ledger events a verified Stripe event means; with ``engine``, a checkout
        without ``metadata.plan`` finds its plan through the link it was paid on, and a
        refund no applied payment matches the invoice its payment intent paid."""
        links = (lambda link: self.plan_of_link(engine, link)) if engine is not None else None
        # A lone surrogate ("\ud83d" in the JSON) would fail the ledger's INSERT with a 500.
        found = stripe_events.events_from(json_without_surrogates(event.to_dict()), links)
        if engine is None:
            return found
        return [self._refund_by_invoice(engine, payment) for payment in found]

    def _refund_by_invoice(self, engine: Engine, payment: PaymentEvent) -> PaymentEvent:
        """A refund of a payment intent no applied payment names, named by the invoice
        that payment intent paid (Stripe's Invoice Payments API); else ``payment``.

        On the pinned API version an ``invoice.paid`` body names no payment intent (the
        invoice's ``payments`` list is there only when expanded), so a renewal is recorded
        under the invoice id, and the checkout of a subscription under its first invoice;
        ``charge.refunded`` names the payment intent. The lookup is done here, for the
        rare refund, rather than expanding every ``invoice.paid`` (a call per renewal):
        it also matches renewals recorded before, under their invoice ids. When Stripe
        fails, the refund is recorded as it came (the ledger then decides, and an admin
        sees it) rather than lost: the webhook still answers 200.
        """
        intent = payment.object_ref
        if payment.kind is not EventKind.REFUND or not intent or not intent.startswith("pi_"):
            return payment
        with engine.connect() as connection:
            if _applied_payment(connection, intent):
                return payment
        try:  # no connection held while Stripe answers
            found = self._client.v1.invoice_payments.list(
                {"payment": {"type": "payment_intent", "payment_intent": intent}}
            )
        except stripe.StripeError as exc:
            logger.warning(
                "stripe: finding the invoice a refunded payment paid failed; "
                "recording the refund as it came",
                extra={"event_id": payment.event_id, "error": type(exc).__name__},
            )
            return payment
        invoices = [
            invoice
            for item in found.data
            if (invoice := stripe_events.ref(item.to_dict().get("invoice"))) is not None
        ]
        if len(invoices) > 1:  # a payment split over invoices: the one a payment names
            with engine.connect() as connection:
                invoices.sort(key=lambda invoice: not _applied_payment(connection, invoice))
        invoice = next(iter(invoices), None)
        return replace(payment, object_ref=invoice) if invoice else payment


def _applied_payment(connection: Connection, object_ref: str) -> bool:
    """Whether an applied purchase or renewal names ``object_ref`` (as a refund finds it)."""
    found = connection.execute(
        select(payment_events.c.id)
        .where(
            payment_events.c.object_ref == object_ref,
            payment_events.c.status == Status.APPLIED.value,
            payment_events.c.kind.in_((EventKind.PURCHASE.value, EventKind.RENEWAL.value)),
        )
        .limit(1)
    ).first()
    return found is not None


def _cached(connection: Connection, plan_id: str, sold: str) -> Link | None:
    row = connection.execute(
        select(payment_links.c.price_ref, payment_links.c.link_ref, payment_links.c.url).where(
            payment_links.c.provider == PROVIDER,
            payment_links.c.plan == plan_id,
            payment_links.c.fingerprint == sold,
        )
    ).first()
    return Link(row.price_ref, row.link_ref, row.url) if row is not None else None
