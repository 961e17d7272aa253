"""Webhook bodies as the platforms send them, built from the recorded real ones' shapes."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from tests.fakes.whatsapp import sign

_update_ids = itertools.count(int(time.time()) % 1_000_000 * 100)
_wamids = itertools.count(1)


def telegram_text(
    user_id: int, text: str, *, update_id: int | None = None, language_code: str = "en"
) -> dict[str, Any]:
    """A private-chat text message (a command when it starts with "/")."""
    message: dict[str, Any] = {
        "message_id": next(_update_ids) % 100_000,
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": "Ana",
            "language_code": language_code,
        },
        "chat": {"id": user_id, "first_name": "Ana", "type": "private"},
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "message": message,
    }


def telegram_callback(user_id: int, data: str) -> dict[str, Any]:
    """A tap on an inline keyboard button."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": str(next(_update_ids)),
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana"},
            "chat_instance": "-1",
            "data": data,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "text": "menu",
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": 1, "is_bot": True, "first_name": "tutor"},
            },
        },
    }


def whatsapp_text(
    wa_id: str,
    text: str,
    *,
    wamid: str | None = None,
    phone_number_id: str = "106540352242922",
    user_id: str | None = None,
) -> dict[str, Any]:
    """A Cloud API ``messages`` webhook carrying one text message."""
    contact: dict[str, Any] = {"profile": {"name": "Ana"}, "wa_id": wa_id}
    contact["user_id"] = user_id or f"US.{wa_id}"
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [contact],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": wamid or f"wamid.TEST{next(_wamids):012d}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_headers(body: bytes, app_secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def telegram_voice(
    user_id: int, file_id: str, *, duration: int = 3, size: int = 20_000
) -> dict[str, Any]:
    """A private-chat voice note (the file itself is served by the fake's getFile)."""
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids) % 100_000,
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "es"},
            "chat": {"id": user_id, "first_name": "Ana", "type": "private"},
            "date": int(time.time()),
            "voice": {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "duration": duration,
                "mime_type": "audio/ogg",
                "file_size": size,
            },
        },
    }


def whatsapp_voice(wa_id: str, media_id: str) -> dict[str, Any]:
    """A Cloud API webhook carrying one voice note (``audio`` with ``voice: true``)."""
    body = whatsapp_text(wa_id, "")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message["type"] = "audio"
    message["audio"] = {
        "mime_type": "audio/ogg; codecs=opus",
        "sha256": "0" * 64,
        "id": media_id,
        "voice": True,
    }
    return body


def telegram_stars_payment(
    user_id: int,
    payload: str,
    amount: int,
    charge_id: str,
    *,
    expires: int | None = None,
    first: bool = False,
    refunded: bool = False,
) -> dict[str, Any]:
    """A Stars ``successful_payment`` (a subscription's when ``expires`` is given; its
    first payment when ``first``) or, with ``refunded``, a ``refunded_payment``."""
    payment: dict[str, Any] = {
        "currency": "XTR",
        "total_amount": amount,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
    }
    if refunded:
        field = "refunded_payment"
    else:
        field = "successful_payment"
        payment["provider_payment_charge_id"] = ""
        if expires is not None:
            payment.update(
                subscription_expiration_date=expires, is_recurring=True, is_first_recurring=first
            )
    return {
        "update_id": next(_update_ids),
        "message": {
            "message_id": next(_update_ids) % 100_000,
            "from": {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": "en"},
            "chat": {"id": user_id, "first_name": "Ana", "type": "private"},
            "date": int(time.time()),
            field: payment,
        },
    }
