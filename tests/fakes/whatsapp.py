"""A fake WhatsApp Cloud API (Graph): ``POST /{phone_number_id}/messages`` and media.

It checks the Bearer token, validates the message limits our renderer must keep
(text 4096, ≤3 buttons of ≤20 chars, ≤10 list rows of ≤24 chars, body ≤1024,
WhatsApp Pay ``order_details`` / ``order_status`` parameters),
refuses free-form messages to chats marked outside the 24-hour window, and
records accepted sends. An optional ``/vNN.N`` path prefix is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import threading
from dataclasses import dataclass
from typing import Any

from .server import FakeResponse, FakeServer, RecordedRequest
from .telegram import Upload, form_data

DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_ACCESS_TOKEN = "EAAG-test-access-token"
_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")
#: What the Cloud API accepts as an uploaded document (JSON is not among them).
DOCUMENT_TYPES = frozenset(
    {
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)
UPLOAD_TYPES = DOCUMENT_TYPES | {"audio/ogg", "audio/mpeg", "image/jpeg", "image/png"}
REFERENCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,35}")
ORDER_STATUSES = frozenset(
    {"pending", "processing", "partially-shipped", "shipped", "completed", "canceled"}
)


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value Meta would send for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def graph_error(status: int, code: int, message: str, **extra: Any) -> FakeResponse:
    """A Graph API error response as Meta shapes it."""
    error = {"message": message, "type": "OAuthException", "code": code, **extra}
    error.setdefault("fbtrace_id", "AbCdEfGhIjK")
    return FakeResponse(status, {"error": error})


@dataclass(frozen=True)
class SentWhatsApp:
    """One accepted message body and the wamid the fake gave it."""

    to: str
    body: dict[str, Any]
    wamid: str

    @property
    def text(self) -> str | None:
        if self.body.get("type") == "text":
            return str(self.body["text"]["body"])
        if self.body.get("type") == "interactive":
            return str(self.body["interactive"]["body"]["text"])
        return None


class FakeWhatsApp(FakeServer):
    """Speaks enough of the Cloud API for the tutor's sends and media downloads."""

    def __init__(
        self,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        access_token: str = DEFAULT_ACCESS_TOKEN,
    ) -> None:
        super().__init__()
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.outside_window: set[str] = set()
        self.media: dict[str, tuple[str, bytes]] = {}
        self.uploads: dict[str, Upload] = {}
        self._sent: list[SentWhatsApp] = []
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    # test helpers --------------------------------------------------------------

    @property
    def sent(self) -> list[SentWhatsApp]:
        """Every accepted message, in order."""
        with self._state:
            return list(self._sent)

    def sent_texts(self, to: str | None = None) -> list[str]:
        """Texts (plain or interactive body) of accepted messages, optionally to one user."""
        return [m.text for m in self.sent if m.text is not None and (to is None or m.to == to)]

    def documents(self, to: str | None = None) -> list[Upload]:
        """Files sent as document messages (uploaded first), optionally to one user."""
        found = []
        for message in self.sent:
            if message.body.get("type") != "document" or (to is not None and message.to != to):
                continue
            upload = self.uploads.get(str(message.body["document"].get("id")))
            if upload is not None:
                found.append(upload)
        return found

    def close_window(self, to: str) -> None:
        """Refuse free-form messages to ``to`` with 131047, as after 24 h of silence."""
        self.outside_window.add(to)

    def add_media(self, media_id: str, data: bytes, mime_type: str = "audio/ogg") -> None:
        """Serve ``data`` through the media URL lookup and download."""
        self.media[media_id] = (mime_type, data)

    # the API ----------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> FakeResponse:
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        path = _VERSION.sub("", request.path)
        if request.method == "POST" and path == f"/{self.phone_number_id}/messages":
            return self._message(request.json)
        if request.method == "POST" and path == f"/{self.phone_number_id}/media":
            return self._upload(form_data(request))
        if request.method == "GET" and path.startswith("/media-download/"):
            return self._download(path.removeprefix("/media-download/"))
        if request.method == "GET" and path.count("/") == 1:
            return self._media_url(path.lstrip("/"))
        return graph_error(400, 100, "Unsupported request - method type or path unknown")

    def _message(self, body: Any) -> FakeResponse:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return graph_error(400, 100, "The parameter messaging_product is required.")
        to = body.get("to") or body.get("recipient")
        if not isinstance(to, str) or not to:
            return graph_error(400, 100, "The parameter to is required.")
        problem = _validate(body)
        if problem:
            return graph_error(
                400, 131009, "(#131009) Parameter value is not valid", details=problem
            )
        if body.get("type") != "template" and to in self.outside_window:
            return graph_error(
                400,
                131047,
                "Re-engagement message",
                error_data={"details": "More than 24 hours have passed since the customer last"},
            )
        with self._state:
            wamid = f"wamid.fake{next(self._ids):06d}"
            self._sent.append(SentWhatsApp(to, body, wamid))
        contact = {"input": to, "wa_id": to} if "to" in body else {"input": to, "user_id": to}
        return FakeResponse(
            200,
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]},
        )

    def _upload(self, fields: dict[str, str | Upload]) -> FakeResponse:
        """``POST /{phone-number-id}/media``: multipart with messaging_product, type, file."""
        if fields.get("messaging_product") != "whatsapp":
            return graph_error(400, 100, "The parameter messaging_product is required.")
        upload = fields.get("file")
        if not isinstance(upload, Upload) or not upload.content:
            return graph_error(400, 100, "The parameter file is required.")
        mime_type = fields.get("type") or upload.mime_type
        if mime_type not in UPLOAD_TYPES or upload.mime_type not in UPLOAD_TYPES:
            return graph_error(400, 131053, f"(#131053) Media upload error: {mime_type}")
        with self._state:
            media_id = f"{9_000_000 + len(self.uploads) + 1}"
            self.uploads[media_id] = upload
        return FakeResponse(200, {"id": media_id})

    def _media_url(self, media_id: str) -> FakeResponse:
        if media_id not in self.media:
            return graph_error(400, 100, "Unsupported get request. Object does not exist")
        mime_type, data = self.media[media_id]
        return FakeResponse(
            200,
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/media-download/{media_id}",
                "mime_type": mime_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": media_id,
            },
        )

    def _download(self, media_id: str) -> FakeResponse:
        if media_id not in self.media:
            return FakeResponse(404, b"")
        return FakeResponse(200, self.media[media_id][1])


def _validate(body: dict[str, Any]) -> str:
    """The first Cloud API limit ``body`` breaks, or ``""``."""
    kind = body.get("type")
    if kind == "text":
        text = body.get("text", {}).get("body")
        if not isinstance(text, str) or not text or len(text) > 4096:
            return "text.body must be 1-4096 characters"
    elif kind == "interactive":
        return _validate_interactive(body.get("interactive", {}))
    elif kind == "document":
        document = body.get("document", {})
        if not document.get("link") and not document.get("id"):
            return "document needs a link or id"
    elif kind in ("audio", "image"):
        if not body.get(kind, {}).get("link") and not body.get(kind, {}).get("id"):
            return f"{kind} needs a link or id"
    elif kind == "template":
        template = body.get("template", {})
        if not template.get("name") or not template.get("language", {}).get("code"):
            return "template needs name and language.code"
    else:
        return f"unknown type {kind!r}"
    return ""


def _validate_interactive(interactive: dict[str, Any]) -> str:
    body = interactive.get("body", {}).get("text")
    if not isinstance(body, str) or not body or len(body) > 1024:
        return "interactive body text must be 1-1024 characters"
    action = interactive.get("action", {})
    if interactive.get("type") == "button":
        buttons = action.get("buttons", [])
        if not 1 <= len(buttons) <= 3:
            return "1-3 buttons"
        if any(len(b["reply"]["title"]) > 20 for b in buttons):
            return "button title over 20 characters"
        return ""
    if interactive.get("type") == "list":
        rows = [row for section in action.get("sections", []) for row in section["rows"]]
        if not 1 <= len(rows) <= 10:
            return "1-10 rows"
        if any(len(row["title"]) > 24 for row in rows):
            return "row title over 24 characters"
        if not action.get("button") or len(action["button"]) > 20:
            return "list button label must be 1-20 characters"
        return ""
    if interactive.get("type") == "order_details":
        return _validate_order_details(action)
    if interactive.get("type") == "order_status":
        return _validate_order_status(action)
    return f"unknown interactive type {interactive.get('type')!r}"


def _amount(value: Any) -> int | None:
    """An ``{"value", "offset"}`` amount in hundredths, or None when malformed."""
    if not isinstance(value, dict):
        return None
    number, offset = value.get("value"), value.get("offset")
    if not isinstance(number, int) or not isinstance(offset, int) or offset <= 0:
        return None
    return number * 100 // offset


def _validate_order_details(action: dict[str, Any]) -> str:
    """Meta's order_details rules: reference_id ≤35 of [A-Za-z0-9_.-], a pending order whose
    items add up to the subtotal and the total."""
    parameters = action.get("parameters", {})
    if action.get("name") != "review_and_pay":
        return "order_details action name must be review_and_pay"
    if not REFERENCE_ID.fullmatch(str(parameters.get("reference_id", ""))):
        return "reference_id must be 1-35 letters, digits, _ - or ."
    if parameters.get("type") not in ("digital-goods", "physical-goods"):
        return "type must be digital-goods or physical-goods"
    if not parameters.get("payment_configuration") and not parameters.get("payment_settings"):
        return "a payment configuration or payment settings are required"
    if parameters.get("currency") not in ("INR", "BRL"):
        return "currency must be INR or BRL"
    total = _amount(parameters.get("total_amount"))
    order = parameters.get("order", {})
    if total is None or order.get("status") != "pending":
        return "total_amount and an order in status pending are required"
    items = order.get("items") or []
    prices = [_amount(item.get("amount")) for item in items]
    if (
        not items
        or any(p is None for p in prices)
        or any(
            not item.get("retailer_id")
            or not 0 < len(item.get("name", "")) <= 60
            or not isinstance(item.get("quantity"), int)
            or item["quantity"] < 1
            for item in items
        )
    ):
        return "items need retailer_id, a name of 1-60 characters, amount and quantity"
    subtotal = sum(p * item["quantity"] for p, item in zip(prices, items, strict=True) if p)
    if _amount(order.get("subtotal")) != subtotal or total != subtotal:
        return "subtotal and total_amount must equal the items' sum"
    return ""


def _validate_order_status(action: dict[str, Any]) -> str:
    parameters = action.get("parameters", {})
    if action.get("name") != "review_order":
        return "order_status action name must be review_order"
    if not REFERENCE_ID.fullmatch(str(parameters.get("reference_id", ""))):
        return "reference_id must be 1-35 letters, digits, _ - or ."
    status = parameters.get("order", {}).get("status")
    if status not in ORDER_STATUSES:
        return f"order status {status!r} is not one of {sorted(ORDER_STATUSES)}"
    return ""
