"""A fake Stripe API: prices, Payment Links, subscriptions and invoice payments, form-encoded
like the real one.

    POST /v1/prices                  create (unit_amount, currency, product_data or product)
    POST /v1/payment_links           create (line_items[0][price] must be a known price)
    GET  /v1/subscriptions           list (status, limit, starting_after; has_more)
    GET  /v1/subscriptions/{id}      retrieve
    POST /v1/subscriptions/{id}      update (cancel_at_period_end)
    GET  /v1/invoice_payments        list (invoice, payment[type], payment[payment_intent],
                                     status, limit): which invoices a payment intent paid

It checks the Bearer key, replays a POST answered before under the same
``Idempotency-Key`` (as Stripe does for 24 h) and keeps what it created, so tests can
count real creations apart from retries. Faults come from :meth:`FakeServer.inject`.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

from .server import FakeResponse, FakeServer, RecordedRequest

DEFAULT_API_KEY = "sk_test_fake_0123456789"


def form(request: RecordedRequest) -> dict[str, str]:
    """A form-encoded body (``metadata[plan]=x``) as flat keys."""
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


def stripe_error(status: int, message: str, kind: str = "invalid_request_error") -> FakeResponse:
    return FakeResponse(status, {"error": {"type": kind, "message": message}})


def _nested(fields: dict[str, str], prefix: str) -> dict[str, str]:
    """``prefix[key]=value`` fields as ``{key: value}``."""
    start = prefix + "["
    return {key[len(start) : -1]: value for key, value in fields.items() if key.startswith(start)}


class FakeStripe(FakeServer):
    """Speaks enough of the Stripe API for Payment Links, cancelling and reconciling."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.prices: dict[str, dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoice_payments: dict[str, dict[str, Any]] = {}
        self._replays: dict[str, FakeResponse] = {}
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    # test helpers ------------------------------------------------------------------

    def add_subscription(
        self,
        sub_id: str,
        status: str = "active",
        period_end: int | None = None,
        customer: str = "cus_test",
        plan: str = "monthly",
    ) -> dict[str, Any]:
        """A subscription Stripe knows about; its period end is on its item."""
        end = period_end or int(time.time()) + 30 * 86400
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "status": status,
            "customer": customer,
            "cancel_at_period_end": False,
            "metadata": {"plan": plan},
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": f"si_{sub_id}",
                        "object": "subscription_item",
                        "current_period_start": end - 30 * 86400,
                        "current_period_end": end,
                    }
                ],
                "has_more": False,
            },
        }
        with self._state:
            self.subscriptions[sub_id] = subscription
        return subscription

    def pay_invoice(
        self, invoice: str, payment_intent: str, amount: int = 999, currency: str = "eur"
    ) -> dict[str, Any]:
        """``payment_intent`` paid ``invoice``: the invoice payment Stripe then lists."""
        now = int(time.time())
        with self._state:
            payment_id = f"inpay_fake{next(self._ids)}"
            payment = {
                "id": payment_id,
                "object": "invoice_payment",
                "amount_paid": amount,
                "amount_requested": amount,
                "created": now,
                "currency": currency,
                "invoice": invoice,
                "is_default": True,
                "livemode": False,
                "payment": {"type": "payment_intent", "payment_intent": payment_intent},
                "status": "paid",
                "status_transitions": {"canceled_at": None, "paid_at": now},
            }
            self.invoice_payments[payment_id] = payment
        return payment

    def posts(self, path: str) -> list[RecordedRequest]:
        """Recorded POSTs to ``path`` (retries included)."""
        return [r for r in self.requests if r.method == "POST" and r.path == path]

    # the API ---------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return stripe_error(401, "Invalid API Key provided", "authentication_error")
        key = request.headers.get("idempotency-key")
        replay_key = f"{request.path}|{key}" if request.method == "POST" and key else None
        with self._state:
            if replay_key and replay_key in self._replays:
                return self._replays[replay_key]
            response = self._route(request)
            if replay_key and response.status < 500:
                self._replays[replay_key] = response
        return response

    def _route(self, request: RecordedRequest) -> FakeResponse:
        parts = request.path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            return stripe_error(404, "Unrecognized request URL")
        if parts[1:] == ["prices"] and request.method == "POST":
            return self._create_price(form(request))
        if parts[1:] == ["payment_links"] and request.method == "POST":
            return self._create_link(form(request))
        if parts[1:] == ["subscriptions"] and request.method == "GET":
            return self._list_subscriptions(request.query)
        if parts[1:] == ["invoice_payments"] and request.method == "GET":
            return self._list_invoice_payments(request.query)
        if len(parts) == 3 and parts[1] == "subscriptions":
            found = self.subscriptions.get(parts[2])
            if found is None:
                return stripe_error(404, f"No such subscription: '{parts[2]}'")
            if request.method == "POST":
                fields = form(request)
                if "cancel_at_period_end" in fields:
                    found["cancel_at_period_end"] = fields["cancel_at_period_end"] == "true"
            return FakeResponse(200, found)
        return stripe_error(404, "Unrecognized request URL")

    def _create_price(self, fields: dict[str, str]) -> FakeResponse:
        if not fields.get("unit_amount", "").isdigit() or len(fields.get("currency", "")) != 3:
            return stripe_error(400, "Missing required param: unit_amount or currency.")
        if "product_data[name]" not in fields and "product" not in fields:
            return stripe_error(400, "You must specify either product or product_data.")
        price_id = f"price_fake{next(self._ids)}"
        price = {
            "id": price_id,
            "object": "price",
            "unit_amount": int(fields["unit_amount"]),
            "currency": fields["currency"],
            "recurring": _nested(fields, "recurring") or None,
            "metadata": _nested(fields, "metadata"),
        }
        self.prices[price_id] = price
        return FakeResponse(200, price)

    def _create_link(self, fields: dict[str, str]) -> FakeResponse:
        price = fields.get("line_items[0][price]", "")
        if price not in self.prices:
            return stripe_error(400, f"No such price: '{price}'")
        if fields.get("line_items[0][quantity]") != "1":
            return stripe_error(400, "line_items[0][quantity] must be 1")
        if "client_reference_id" in fields:
            return stripe_error(400, "Received unknown parameter: client_reference_id")
        number = next(self._ids)
        link_id = f"plink_fake{number}"
        link: dict[str, Any] = {
            "id": link_id,
            "object": "payment_link",
            "active": True,
            "url": f"https://buy.stripe.com/test_fake{number}",
            "metadata": _nested(fields, "metadata"),
            "fields": fields,
        }
        self.links[link_id] = link
        return FakeResponse(200, link)

    def _list_subscriptions(self, query: dict[str, list[str]]) -> FakeResponse:
        status = query.get("status", [""])[-1]
        limit = int(query.get("limit", ["10"])[-1])
        after = query.get("starting_after", [None])[-1]
        ordered = list(self.subscriptions.values())
        if status == "":  # Stripe's default: everything but canceled
            ordered = [s for s in ordered if s["status"] != "canceled"]
        elif status != "all":
            ordered = [s for s in ordered if s["status"] == status]
        if after is not None:
            ids = [s["id"] for s in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        page = ordered[:limit]
        return FakeResponse(
            200,
            {
                "object": "list",
                "url": "/v1/subscriptions",
                "has_more": len(ordered) > limit,
                "data": page,
            },
        )

    def _list_invoice_payments(self, query: dict[str, list[str]]) -> FakeResponse:
        def last(key: str) -> str | None:
            return query.get(key, [None])[-1]

        kind, intent = last("payment[type]"), last("payment[payment_intent]")
        if intent is not None and kind is None:
            return stripe_error(400, "Missing required param: payment[type].")
        if kind not in (None, "payment_intent", "payment_record"):
            return stripe_error(400, "Invalid payment[type]")
        found = list(self.invoice_payments.values())
        filters = {"invoice": last("invoice"), "status": last("status")}
        for key, wanted in filters.items():
            if wanted is not None:
                found = [p for p in found if p[key] == wanted]
        if kind is not None:
            found = [p for p in found if p["payment"]["type"] == kind]
        if intent is not None:
            found = [p for p in found if p["payment"].get("payment_intent") == intent]
        limit = int(last("limit") or "10")
        return FakeResponse(
            200,
            {
                "object": "list",
                "url": "/v1/invoice_payments",
                "has_more": len(found) > limit,
                "data": found[:limit],
            },
        )
