"""Render a Reply as Telegram Bot API calls (method name, JSON payload without chat_id)."""

from __future__ import annotations

import logging
from typing import Any

from tutor.messages import Invoice, Option, Reply, Template, split_text

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64  # bytes, UTF-8


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
    if reply.invoice is not None:
        calls.append(invoice_call(reply.invoice))
    return calls


def invoice_call(invoice: Invoice) -> tuple[str, dict[str, Any]]:
    """sendInvoice for Stars (and provider currencies); a payment link goes as text."""
    if invoice.url and invoice.currency != "XTR":
        return ("sendMessage", {"text": f"{invoice.title}: {invoice.url}"})
    return (
        "sendInvoice",
        {
            "title": invoice.title[:32],
            "description": invoice.description[:255],
            "payload": invoice.payload,
            "currency": invoice.currency,
            "prices": [{"label": invoice.title[:32], "amount": invoice.amount}],
            "provider_token": "",
        },
    )


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
