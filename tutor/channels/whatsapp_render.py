"""Render a Reply as WhatsApp Cloud API ``/messages`` bodies."""

from __future__ import annotations

from typing import Any

from tutor.messages import Invoice, Option, Reply, Template, split_text

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
MAX_BUTTONS, BUTTON_TITLE_LIMIT, BUTTON_ID_LIMIT = 3, 20, 256
MAX_ROWS, ROW_TITLE_LIMIT, ROW_ID_LIMIT = 10, 24, 200
LIST_BUTTON_LIMIT = 20
DOCUMENT_CAPTION_LIMIT = 1024
FOOTER_LIMIT = 60


def address(to: str) -> dict[str, str]:
    """``to`` for a phone number (all digits), ``recipient`` for a business-scoped user id."""
    return {"to": to} if to.isascii() and to.isdigit() else {"recipient": to}


def render(reply: Reply, to: str, *, list_button: str = "Choose") -> list[dict[str, Any]]:
    """Message bodies for ``reply``.

    A reply carrying a template is sent as that template alone (its text is the fallback
    for other channels): free-form parts would fail outside the 24-hour window anyway.
    """
    envelope = _envelope(to)
    if reply.template is not None:
        return [{**envelope, **template_message(reply.template)}]
    if reply.invoice is not None and reply.invoice.order:
        return [{**envelope, **part} for part in _order_parts(reply, reply.invoice)]
    parts = _text_parts(reply, list_button)
    if reply.voice_url:
        parts.append({"type": "audio", "audio": {"link": reply.voice_url}})
    if reply.image_url:
        parts.append({"type": "image", "image": {"link": reply.image_url}})
    if reply.invoice is not None and reply.invoice.url:
        # Native WhatsApp Pay exists only in India and Brazil: elsewhere, a payment link.
        parts.append(_text(f"{reply.invoice.title}: {reply.invoice.url}"))
    return [{**envelope, **part} for part in parts]


def document_message(to: str, media_id: str, filename: str, caption: str = "") -> dict[str, Any]:
    """A document message for an uploaded media id; the filename picks the icon shown."""
    document = {"id": media_id, "filename": filename}
    if caption:
        document["caption"] = caption[:DOCUMENT_CAPTION_LIMIT]
    return {**_envelope(to), "type": "document", "document": document}


def _order_parts(reply: Reply, invoice: Invoice) -> list[dict[str, Any]]:
    """A WhatsApp Pay order as one interactive message whose body is the reply's text.

    Parameters with a ``total_amount`` are an order to pay (``order_details``, button
    "Review and pay"); without one, an update of that order (``order_status``). Meta's
    "Receive payments via payment gateways on WhatsApp" and Payments API "Orders" pages.
    """
    order = invoice.order or {}
    chunks = split_text(reply.numbered_text() or invoice.title, TEXT_LIMIT)
    last = split_text(chunks.pop(), INTERACTIVE_BODY_LIMIT)
    body = last.pop()
    if "total_amount" in order:
        interactive: dict[str, Any] = {"type": "order_details", "body": {"text": body}}
        if invoice.description and len(invoice.description) <= FOOTER_LIMIT:
            interactive["footer"] = {"text": invoice.description}
        interactive["action"] = {"name": "review_and_pay", "parameters": order}
    else:
        interactive = {
            "type": "order_status",
            "body": {"text": body},
            "action": {"name": "review_order", "parameters": order},
        }
    return [*(_text(chunk) for chunk in [*chunks, *last]), _interactive(interactive)]


def _envelope(to: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", **address(to)}


def template_message(template: Template) -> dict[str, Any]:
    """The ``type``/``template`` part of a template message with body text parameters."""
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        parameters = [{"type": "text", "text": value} for value in template.parameters]
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": body}


def _text_parts(reply: Reply, list_button: str) -> list[dict[str, Any]]:
    text = reply.numbered_text()
    if not text.strip():
        return []
    action = _interactive_action(reply.options, list_button)
    if action is None:
        return [_text(chunk) for chunk in split_text(text, TEXT_LIMIT)]
    chunks = split_text(text, TEXT_LIMIT)
    last = split_text(chunks.pop(), INTERACTIVE_BODY_LIMIT)
    body = last.pop()
    interactive = {"type": action.pop("type"), "body": {"text": body}, "action": action}
    return [*(_text(chunk) for chunk in [*chunks, *last]), _interactive(interactive)]


def _interactive_action(options: tuple[Option, ...], list_button: str) -> dict[str, Any] | None:
    """Reply buttons for up to 3 short options, a list for up to 10, else None (plain text)."""
    keys = [option.key for option in options]
    if not options or len(set(keys)) != len(keys) or any(not o.label.strip() for o in options):
        return None
    if len(options) <= MAX_BUTTONS and _fits(options, BUTTON_TITLE_LIMIT, BUTTON_ID_LIMIT):
        buttons = [{"type": "reply", "reply": {"id": o.key, "title": o.label}} for o in options]
        return {"type": "button", "buttons": buttons}
    if len(options) <= MAX_ROWS and _fits(options, ROW_TITLE_LIMIT, ROW_ID_LIMIT):
        rows = [{"id": o.key, "title": o.label} for o in options]
        button = list_button[:LIST_BUTTON_LIMIT]
        return {"type": "list", "button": button, "sections": [{"rows": rows}]}
    return None


def _fits(options: tuple[Option, ...], title_limit: int, id_limit: int) -> bool:
    return all(len(o.label) <= title_limit and 0 < len(o.key) <= id_limit for o in options)


def _text(chunk: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": chunk, "preview_url": False}}


def _interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": interactive}
