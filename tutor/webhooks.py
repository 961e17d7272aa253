"""Webhook endpoints: verify, parse, store in the inbox, hand off, acknowledge.

No model call and no reply happens inside a request; a request is a few
milliseconds of signature checking and one INSERT. The one exception is Telegram's
pre-checkout query, answered in the response body (one SELECT, no INSERT).
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from payments import ledger, whatsapp_pay
from payments.stripe_rail import quiet_first_invoice
from tutor import billing, checkout, intake, metrics
from tutor.channels import telegram, whatsapp
from tutor.errors import PayloadError, SignatureError, WebhookError
from tutor.messages import Inbound
from tutor.models import utcnow
from tutor.services import Services

logger = logging.getLogger(__name__)

blueprint = Blueprint("webhooks", __name__)


def services() -> Services:
    return current_app.extensions["tutor"]  # type: ignore[no-any-return]


#: Deeper than any platform's payload (Telegram ~6, WhatsApp ~8, Stripe ~10 levels); the
#: bound keeps later recursive steps (JSON columns, logging) far from Python's stack limit.
MAX_JSON_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: no JSON column stores them


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):  # 1e999 parses to inf, which no JSON column stores either
        raise ValueError("number out of range")
    return number


def json_depth(value: Any) -> int:
    """How deeply ``value``'s lists and objects nest (0 for a scalar), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:
            pending.extend((child, depth) for child in item)
    return deepest


def parse_json(raw: bytes) -> Any:
    """``raw`` as strict JSON (no NaN, no Infinity, at most MAX_JSON_DEPTH deep); 400 else."""
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError as exc:  # the C decoder's own limit: ~1000 open brackets
        raise PayloadError("body is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("body is not JSON") from exc
    if json_depth(body) > MAX_JSON_DEPTH:
        raise PayloadError("body is nested too deeply")
    return body


def read_json() -> Any:
    """The request body as JSON; 413 past the size limit, 400 when it is not JSON."""
    limit = services().settings.max_webhook_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadError("body too large", status=413)
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise PayloadError("body too large", status=413)
    return parse_json(raw)


def accept(inbound: Inbound) -> bool:
    """Store the message once and hand it to the workers; True if it was new."""
    return intake.receive(services(), inbound)


def _ok() -> Response:
    return jsonify(ok=True)


@blueprint.post("/webhooks/telegram")
def telegram_update() -> Response | tuple[Response, int]:
    started = time.perf_counter()
    settings = services().settings
    if not settings.telegram_enabled:
        return jsonify(error="telegram is not configured"), 404
    secret = settings.telegram_webhook_secret
    telegram.verify_secret(
        request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
        secret.get_secret_value() if secret else None,
    )
    body = read_json()
    query = telegram.parse_pre_checkout(body)
    inbound = telegram.parse_update(body) if query is None else None
    if query is not None:
        # Telegram waits 10 s for this answer, so it is decided here, not in the queue, and
        # goes back in this response's body (Bot API "Making requests when getting
        # updates"): no outbound call that could hang or fail inside the request. Its
        # success is unknowable, but a lost answer only lets the query expire unpaid.
        verdict = checkout.decide(services().engine, services().catalog, query)
        metrics.WEBHOOK_SECONDS.labels("telegram").observe(time.perf_counter() - started)
        answer = telegram.webhook_answer(query.query_id, verdict.ok, verdict.error_message)
        return jsonify(answer)
    if inbound is None:
        logger.info("telegram update ignored", extra={"update_keys": sorted(body)[:5]})
    else:
        accept(inbound)
    metrics.WEBHOOK_SECONDS.labels("telegram").observe(time.perf_counter() - started)
    return _ok()


@blueprint.get("/webhooks/whatsapp")
def whatsapp_challenge() -> Response | tuple[str, int, dict[str, str]]:
    settings = services().settings
    token = settings.whatsapp_verify_token
    challenge = whatsapp.verify_challenge(
        request.args.get("hub.mode"),
        request.args.get("hub.verify_token"),
        request.args.get("hub.challenge"),
        token.get_secret_value() if token else None,
    )
    return challenge, 200, {"Content-Type": "text/plain; charset=utf-8"}


@blueprint.post("/webhooks/whatsapp")
def whatsapp_update() -> Response | tuple[Response, int]:
    started = time.perf_counter()
    settings = services().settings
    if not settings.whatsapp_enabled:
        return jsonify(error="whatsapp is not configured"), 404
    limit = settings.max_webhook_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadError("body too large", status=413)
    secret = settings.whatsapp_app_secret
    whatsapp.verify_signature(
        request.get_data(cache=True),
        request.headers.get("X-Hub-Signature-256"),
        secret.get_secret_value() if secret else None,
    )
    batch = whatsapp.parse_webhook(read_json())
    for inbound in batch.messages:
        accept(inbound)
    for payment_status in batch.payments:
        _whatsapp_payment(payment_status)
    for status in batch.statuses:
        level = logging.WARNING if status.status == "failed" else logging.DEBUG
        logger.log(
            level,
            "whatsapp delivery status",
            extra={"status": status.status, "error_code": status.error_code},
        )
    metrics.WEBHOOK_SECONDS.labels("whatsapp").observe(time.perf_counter() - started)
    return _ok()


def _whatsapp_payment(status: dict[str, Any]) -> None:
    """Record a WhatsApp Pay status's events once; queue the order's ``order_status`` and
    the learner's notice in the same transaction (sent by the workers, not this request)."""
    bundle = services()
    now = utcnow()
    for event in whatsapp_pay.events_from_status(status):
        with bundle.engine.begin() as connection:
            applied = whatsapp_pay.record_in(connection, event, bundle.catalog, now)
            closed = whatsapp_pay.queue_order_status(connection, applied)
            key = billing.queue_notice(connection, applied) or closed
        billing.notify(bundle, key)


@blueprint.post("/webhooks/stripe")
def stripe_event() -> Response | tuple[Response, int]:
    """Record each payment a signed Stripe event means, once; 200 for every verified event
    (replays and types we ignore too), so Stripe stops sending it. A refund no applied
    payment matches costs one Stripe call here (see ``StripeRail.events_from``)."""
    started = time.perf_counter()
    bundle = services()
    rail = bundle.stripe
    if rail is None or not rail.receives_webhooks:
        return jsonify(error="stripe is not configured"), 404
    limit = bundle.settings.max_webhook_bytes
    raw = request.get_data(cache=True)
    if (request.content_length or 0) > limit or len(raw) > limit:
        raise PayloadError("body too large", status=413)
    try:
        event = rail.parse_webhook(raw, request.headers.get("Stripe-Signature"))
    except RecursionError as exc:  # signed, but nested past what the SDK's parser survives
        raise PayloadError("body is nested too deeply") from exc
    parse_json(raw)  # the same strict JSON as the other webhooks, once the signature held
    now = utcnow()
    for payment in rail.events_from(event, bundle.engine):
        with bundle.engine.begin() as connection:
            applied = ledger.record_in(connection, payment, bundle.catalog, now)
            key = billing.queue_notice(connection, quiet_first_invoice(applied))
        billing.notify(bundle, key)
    metrics.WEBHOOK_SECONDS.labels("stripe").observe(time.perf_counter() - started)
    return _ok()


@blueprint.errorhandler(WebhookError)
def refused(error: WebhookError) -> tuple[Response, int]:
    channel = (request.path.rsplit("/", 1)[-1] or "unknown")[:16]
    reason = "signature" if isinstance(error, SignatureError) else f"payload_{error.status}"
    metrics.REJECTED.labels(channel, reason).inc()
    logger.info("webhook refused", extra={"status": error.status, "reason": reason})
    return jsonify(error=str(error)), error.status


@blueprint.errorhandler(SQLAlchemyError)
def store_unavailable(error: SQLAlchemyError) -> tuple[Response, int]:
    # Answering 503 makes the platform deliver again later: nothing is lost.
    logger.error("inbox unavailable", extra={"error": type(error).__name__})
    return jsonify(error="temporarily unavailable"), 503
