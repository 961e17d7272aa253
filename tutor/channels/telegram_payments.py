"""Telegram Stars at the edge: payment messages, pre-checkout queries and their answer.

A ``successful_payment`` or ``refunded_payment`` message becomes a :class:`PaymentUpdate`
on the Inbound. A ``pre_checkout_query`` is never an Inbound: Telegram waits at most 10 s
for its answer, so it is parsed into a :class:`PreCheckout` and answered inside the
webhook request (see :mod:`tutor.checkout`). :class:`StarsMethods` are the client's Stars
calls: invoice links, pre-checkout answers, refunds and subscription edits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from telegram import Message, PreCheckoutQuery, RefundedPayment, SuccessfulPayment

from tutor.channels.telegram_render import invoice_link_params
from tutor.errors import PayloadError, PermanentSendError, RetryableSendError
from tutor.messages import Invoice, PaymentUpdate
from tutor.text import json_without_surrogates

ANSWER_METHOD = "answerPreCheckoutQuery"
# OverflowError, OSError: a date past what datetime.fromtimestamp takes
_PARSE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, OverflowError, OSError)


@dataclass(frozen=True, slots=True)
class PreCheckout:
    """A pre-checkout query: the last step before Telegram charges the user."""

    query_id: str
    user_id: int
    currency: str
    amount: int
    payload: str
    language_hint: str | None = None

    @property
    def learner_key(self) -> str:
        return f"telegram:{self.user_id}"


def parse_pre_checkout(body: dict[str, Any]) -> PreCheckout | None:
    """The update's pre-checkout query; None when the update is something else."""
    data = body.get("pre_checkout_query") if isinstance(body, dict) else None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise PayloadError("update field pre_checkout_query is not an object")
    json_without_surrogates(data)
    try:
        query = PreCheckoutQuery.de_json(data, None)
    except _PARSE_ERRORS as exc:
        raise PayloadError("malformed pre_checkout_query") from exc
    user = query.from_user
    _require(user is not None, "from")
    user_id = user.id
    _require(isinstance(user_id, int) and not isinstance(user_id, bool), "from.id")
    _require(isinstance(query.id, str) and bool(query.id), "id")
    _check_money(query.currency, query.total_amount, query.invoice_payload)
    return PreCheckout(
        query_id=query.id,
        user_id=user_id,
        currency=query.currency,
        amount=query.total_amount,
        payload=query.invoice_payload,
        language_hint=user.language_code if isinstance(user.language_code, str) else None,
    )


def payment_update(message: Message) -> PaymentUpdate | None:
    """The payment or refund a service message reports; None for any other message."""
    paid: SuccessfulPayment | None = message.successful_payment
    if paid is not None:
        _check_charge(paid)
        expires = paid.subscription_expiration_date
        return PaymentUpdate(
            kind="successful",
            charge_id=paid.telegram_payment_charge_id,
            currency=paid.currency,
            amount=paid.total_amount,
            payload=paid.invoice_payload,
            is_recurring=bool(paid.is_recurring),
            is_first_recurring=bool(paid.is_first_recurring),
            expires_at=_utc(expires) if expires is not None else None,
            provider_charge_id=paid.provider_payment_charge_id or "",
        )
    refunded: RefundedPayment | None = message.refunded_payment
    if refunded is not None:
        _check_charge(refunded)
        return PaymentUpdate(
            kind="refunded",
            charge_id=refunded.telegram_payment_charge_id,
            currency=refunded.currency,
            amount=refunded.total_amount,
            payload=refunded.invoice_payload,
            provider_charge_id=refunded.provider_payment_charge_id or "",
        )
    return None


def pre_checkout_answer(
    query_id: str, ok: bool, error_message: str | None = None
) -> dict[str, Any]:
    """answerPreCheckoutQuery's parameters; ``error_message`` is required when not ``ok``."""
    if not ok and not error_message:
        raise ValueError("a refused pre-checkout query needs an error message")
    params: dict[str, Any] = {"pre_checkout_query_id": query_id, "ok": ok}
    if not ok:
        params["error_message"] = error_message
    return params


def webhook_answer(query_id: str, ok: bool, error_message: str | None = None) -> dict[str, Any]:
    """The same answer as a webhook response body (Bot API "Making requests when getting
    updates"): Telegram performs ``method`` with these parameters."""
    return {"method": ANSWER_METHOD, **pre_checkout_answer(query_id, ok, error_message)}


class StarsMethods:
    """The Bot API's Stars payment methods; :class:`TelegramClient` supplies ``call``."""

    def call(
        self,
        method: str,
        payload: dict[str, Any] | None = None,
        *,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        raise NotImplementedError

    def create_invoice_link(self, invoice: Invoice) -> str:
        """A Stars invoice link (createInvoiceLink); a subscription when the invoice has a
        ``subscription_period`` (Telegram allows only 30 days)."""
        try:
            params = invoice_link_params(invoice)
        except ValueError as exc:
            raise PermanentSendError(f"telegram createInvoiceLink: {exc}") from exc
        link = self.call("createInvoiceLink", params)
        if not isinstance(link, str) or not link.startswith("https://"):
            raise RetryableSendError("telegram createInvoiceLink: result is not a link")
        return link

    def answer_pre_checkout_query(
        self, query_id: str, ok: bool, error_message: str | None = None
    ) -> None:
        """Let a payment go ahead, or refuse it with ``error_message`` shown to the user.

        The webhook answers in its response body instead (:mod:`tutor.checkout`); this is
        for answering from anywhere else.
        """
        self.call("answerPreCheckoutQuery", pre_checkout_answer(query_id, ok, error_message))

    def refund_star_payment(self, user_id: int | str, charge_id: str) -> None:
        """Give back the Stars of one payment (refundStarPayment)."""
        params = {"user_id": _user_id(user_id), "telegram_payment_charge_id": charge_id}
        self.call("refundStarPayment", params)

    def edit_user_star_subscription(
        self, user_id: int | str, charge_id: str, is_canceled: bool
    ) -> None:
        """Cancel (``is_canceled``) or re-enable a Stars subscription named by its first
        payment's charge id (editUserStarSubscription); a cancelled one runs to its end."""
        params = {
            "user_id": _user_id(user_id),
            "telegram_payment_charge_id": charge_id,
            "is_canceled": is_canceled,
        }
        self.call("editUserStarSubscription", params)


def _user_id(value: int | str) -> int:
    """A Telegram user id, also from a learner key's tail (``"telegram:42"`` -> 42)."""
    text = str(value).removeprefix("telegram:")
    if not text.isdigit():
        raise PermanentSendError("telegram: a user id is a positive integer")
    return int(text)


def _check_charge(payment: SuccessfulPayment | RefundedPayment) -> None:
    charge = payment.telegram_payment_charge_id
    _require(isinstance(charge, str) and bool(charge), "telegram_payment_charge_id")
    _check_money(payment.currency, payment.total_amount, payment.invoice_payload)


def _check_money(currency: object, amount: object, payload: object) -> None:
    _require(isinstance(currency, str) and bool(currency), "currency")
    _require(
        isinstance(amount, int) and not isinstance(amount, bool) and 0 < amount < 2**31,
        "total_amount",  # stored in a 32-bit column; Stars payments are far smaller
    )
    _require(isinstance(payload, str), "invoice_payload")


def _require(condition: bool, name: str) -> None:
    if not condition:
        raise PayloadError(f"payment field {name} is missing or of the wrong type")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
