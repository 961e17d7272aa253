"""Render a Reply as Telegram Bot API calls (method name, JSON payload without chat_id)."""

from __future__ import annotations

import logging
from typing import Any

from tutor.messages import Invoice, Option, Reply, Template, split_text

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64  # bytes, UTF-8
TITLE_LIMIT, DESCRIPTION_LIMIT, PAYLOAD_LIMIT = 32, 255, 128  # invoices; the payload in bytes


def render(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """Bot API calls for ``reply``: text chunks (keyboard on the last), then voice, photo."""
    calls: list[tuple[str, dict[str, Any]]] = []
    text = reply.numbered_text() or template_fallback(reply.template)
    if text.strip():
        calls = [("sendMessage", {"text": chunk}) for chunk in split_text(text, TEXT_LIMIT)]
        keyboard = inline_keyboard(reply.options)
        if keyboard is not None:
            calls[-1][1]["reply_markup"] = keyboard
    if reply.voice_url:
        calls.append(("sendVoice", {"voice": reply.voice_url}))
    if reply.image_url:
        calls.append(("sendPhoto", {"photo": reply.image_url}))
    if reply.invoice is not None and not is_invoice_link(reply.invoice):
        calls.append(invoice_call(reply.invoice))
    return calls


def is_invoice_link(invoice: Invoice) -> bool:
    """A Stars subscription: only createInvoiceLink takes ``subscription_period``, so the
    client makes the link first and then sends it (:func:`invoice_link_message`)."""
    return invoice.currency == "XTR" and invoice.subscription_period > 0


def invoice_call(invoice: Invoice) -> tuple[str, dict[str, Any]]:
    """sendInvoice for Stars (and provider currencies); a payment link goes as text."""
    if invoice.url and invoice.currency != "XTR":
        return ("sendMessage", {"text": f"{invoice.title}: {invoice.url}"})
    return ("sendInvoice", {**invoice_fields(invoice), "provider_token": ""})


def invoice_link_params(invoice: Invoice) -> dict[str, Any]:
    """createInvoiceLink for a Stars subscription (one price, no provider token)."""
    return {**invoice_fields(invoice), "subscription_period": invoice.subscription_period}


def invoice_link_message(invoice: Invoice, link: str) -> dict[str, Any]:
    """sendMessage naming what is sold, with one URL button that opens the invoice link."""
    price = f"{invoice.amount} ⭐"
    text = "\n".join(p for p in (f"{invoice.title} — {price}", invoice.description) if p)
    button = {"text": f"⭐ {invoice.title[:24]} · {invoice.amount}", "url": link}
    return {"text": text[:TEXT_LIMIT], "reply_markup": {"inline_keyboard": [[button]]}}


def invoice_fields(invoice: Invoice) -> dict[str, Any]:
    """Title, description, payload, currency and the one price, within Telegram's limits
    (title 1-32 characters, description 1-255; the payload, 1-128 bytes, is never cut)."""
    if not 1 <= len(invoice.payload.encode()) <= PAYLOAD_LIMIT:
        raise ValueError(f"an invoice payload is 1-{PAYLOAD_LIMIT} bytes")
    title = invoice.title.strip()[:TITLE_LIMIT] or "Tutor"
    description = invoice.description.strip()[:DESCRIPTION_LIMIT] or title
    return {
        "title": title,
        "description": description,
        "payload": invoice.payload,
        "currency": invoice.currency,
        "prices": [{"label": title, "amount": invoice.amount}],
    }


def inline_keyboard(options: tuple[Option, ...]) -> dict[str, Any] | None:
    """One button per row, ``callback_data`` = option key; None when there is nothing to show."""
    rows = []
    for number, option in enumerate(options, 1):
        if len(option.key.encode()) > CALLBACK_DATA_LIMIT:
            # Telegram rejects the whole message; the numbered text still lets them type it.
            logger.warning("option key too long for a Telegram button", extra={"option": number})
            continue
        rows.append([{"text": f"{number}. {option.label}", "callback_data": option.key}])
    return {"inline_keyboard": rows} if rows else None


def template_fallback(template: Template | None) -> str:
    """Plain text standing in for a WhatsApp template on channels without templates."""
    if template is None:
        return ""
    if not template.parameters:
        return template.name
    return f"{template.name}: " + ", ".join(template.parameters)
