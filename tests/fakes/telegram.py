"""A fake Telegram Bot API: ``/bot{token}/{method}`` and ``/file/bot{token}/{path}``.

It checks the token, validates what the real API validates where our code could
get it wrong (text length, callback data size, empty text), and records sends.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any

from .server import FakeResponse, FakeServer, RecordedRequest

DEFAULT_TOKEN = "123456:TEST-token_abcdefghijklmnopqrstuvwxyz"
SUBSCRIPTION_PERIOD = 2592000  # 30 days: the only period Telegram allows
SUBSCRIPTION_MAX_PRICE = 10000  # Stars


@dataclass(frozen=True)
class SentMessage:
    """One successful send as the fake accepted it."""

    method: str
    chat_id: str
    payload: dict[str, Any]
    message_id: int

    @property
    def text(self) -> str | None:
        value = self.payload.get("text")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart/form-data part."""

    filename: str
    mime_type: str
    content: bytes


def form_data(request: RecordedRequest) -> dict[str, str | Upload]:
    """The fields of a multipart/form-data body: text as str, files as Upload."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, str | Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(content, bytes):
            continue
        filename = part.get_filename()
        if filename is None:
            fields[name] = content.decode()
        else:
            fields[name] = Upload(filename, part.get_content_type(), content)
    return fields


def _error(code: int, description: str, **parameters: Any) -> FakeResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return FakeResponse(code, body)


def _ok(result: Any) -> FakeResponse:
    return FakeResponse(200, {"ok": True, "result": result})


def _invoice_problem(params: dict[str, Any]) -> str | None:
    """What the Bot API would refuse in an invoice's fields, or None."""
    prices = params.get("prices")
    if not params.get("title") or not params.get("payload") or not params.get("currency"):
        return "title, payload and currency are required"
    if len(str(params["title"])) > 32 or not 1 <= len(str(params.get("description", ""))) <= 255:
        return "title is 1-32 characters and description 1-255"
    if len(str(params["payload"]).encode()) > 128:
        return "payload is 1-128 bytes"
    if not isinstance(prices, list) or not prices:
        return "prices must be non-empty"
    if params["currency"] == "XTR" and (len(prices) != 1 or params.get("provider_token")):
        return "Stars invoices take one price and no provider"
    return None


class FakeTelegram(FakeServer):
    """Speaks enough of the Bot API for the tutor: sends, callbacks, webhook, files, Stars."""

    def __init__(self, token: str = DEFAULT_TOKEN, bot_username: str = "tutor_test_bot") -> None:
        super().__init__()
        self.token = token
        self.bot_username = bot_username
        self.webhook: dict[str, Any] = {}
        self.answered_callbacks: list[str] = []
        # Stars: every accepted call's parameters, in order.
        self.invoice_links: list[dict[str, Any]] = []
        self.pre_checkout_answers: list[dict[str, Any]] = []
        self.star_refunds: list[dict[str, Any]] = []
        self.subscription_edits: list[dict[str, Any]] = []
        self.blocked_chats: set[str] = set()
        self.files: dict[str, tuple[str, bytes]] = {}
        self._sent: list[SentMessage] = []
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    # test helpers --------------------------------------------------------------

    @property
    def sent(self) -> list[SentMessage]:
        """Every accepted send, in order."""
        with self._state:
            return list(self._sent)

    def sent_texts(self, chat_id: str | int | None = None) -> list[str]:
        """Texts of accepted sendMessage calls, optionally for one chat."""
        return [
            message.text
            for message in self.sent
            if message.method == "sendMessage"
            and message.text is not None
            and (chat_id is None or message.chat_id == str(chat_id))
        ]

    def documents(self, chat_id: str | int | None = None) -> list[Upload]:
        """Files uploaded with sendDocument, optionally to one chat."""
        return [
            message.payload["document"]
            for message in self.sent
            if message.method == "sendDocument"
            and isinstance(message.payload.get("document"), Upload)
            and (chat_id is None or message.chat_id == str(chat_id))
        ]

    def block(self, chat_id: str | int) -> None:
        """Make the chat answer 403 'bot was blocked by the user'."""
        self.blocked_chats.add(str(chat_id))

    def add_file(self, file_id: str, data: bytes, file_path: str | None = None) -> str:
        """Serve ``data`` through getFile/file download; return its file_path."""
        path = file_path or f"voice/{file_id}.oga"
        self.files[file_id] = (path, data)
        return path

    # the API ----------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> FakeResponse:
        parts = request.path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "file" and parts[1] == f"bot{self.token}":
            return self._download("/".join(parts[2:]))
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return _error(404, "Not Found")
        if parts[0] != f"bot{self.token}":
            return _error(401, "Unauthorized")
        params: dict[str, Any] = {key: values[-1] for key, values in request.query.items()}
        if isinstance(request.json, dict):
            params.update(request.json)
        params.update(form_data(request))
        handler = getattr(self, f"_api_{parts[1]}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: FakeResponse = handler(params)
        return response

    def _api_getMe(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        bot_id = int(self.token.split(":", 1)[0])
        return _ok(
            {"id": bot_id, "is_bot": True, "first_name": "Tutor", "username": self.bot_username}
        )

    def _api_sendMessage(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > 64:
                        return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        return self._record("sendMessage", params, {"text": text})

    def _api_sendVoice(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        if not params.get("voice"):
            return _error(400, "Bad Request: there is no voice in the request")
        voice = {"file_id": f"voice-{params['voice']}", "duration": 1, "mime_type": "audio/ogg"}
        return self._record("sendVoice", params, {"voice": voice})

    def _api_sendPhoto(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        if not params.get("photo"):
            return _error(400, "Bad Request: there is no photo in the request")
        photo = [{"file_id": "photo-1", "width": 90, "height": 90}]
        return self._record("sendPhoto", params, {"photo": photo})

    def _api_sendDocument(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        document = params.get("document")
        if isinstance(document, Upload):
            if not document.content:
                return _error(400, "Bad Request: file must be non-empty")
            sent = {
                "file_id": f"document-{len(self.sent) + 1}",
                "file_name": document.filename,
                "mime_type": document.mime_type,
                "file_size": len(document.content),
            }
            return self._record("sendDocument", params, {"document": sent})
        if not isinstance(document, str) or not document:
            return _error(400, "Bad Request: there is no document in the request")
        if document.startswith(("http://", "https://")) and not document.lower().endswith(
            (".pdf", ".zip", ".gif")
        ):  # by URL, Telegram fetches only GIF, PDF and ZIP files
            return _error(400, "Bad Request: wrong type of the web page content")
        return self._record("sendDocument", params, {"document": {"file_id": document}})

    def _api_sendInvoice(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        problem = _invoice_problem(params)
        if problem is None and "subscription_period" in params:
            problem = "subscription_period is a createInvoiceLink parameter"
        if problem is not None:
            return _error(400, f"Bad Request: {problem}")
        prices = params["prices"]
        invoice = {
            "title": params["title"],
            "description": params.get("description", ""),
            "currency": params["currency"],
            "total_amount": prices[0]["amount"],
            "start_parameter": "",
        }
        return self._record("sendInvoice", params, {"invoice": invoice})

    def _api_createInvoiceLink(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        problem = _invoice_problem(params)
        period = params.get("subscription_period")
        if problem is None and period is not None:
            if params["currency"] != "XTR" or period != SUBSCRIPTION_PERIOD:
                problem = "SUBSCRIPTION_PERIOD_INVALID"
            elif params["prices"][0]["amount"] > SUBSCRIPTION_MAX_PRICE:
                problem = "SUBSCRIPTION_PRICE_INVALID"
        if problem is not None:
            return _error(400, f"Bad Request: {problem}")
        with self._state:
            self.invoice_links.append(dict(params))
            number = len(self.invoice_links)
        return _ok(f"https://t.me/$fakeInvoice{number:04d}")

    def _api_answerPreCheckoutQuery(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        if not params.get("pre_checkout_query_id") or not isinstance(params.get("ok"), bool):
            return _error(400, "Bad Request: pre_checkout_query_id and ok are required")
        if params["ok"] is False and not params.get("error_message"):
            return _error(400, "Bad Request: ERROR_TEXT_EMPTY")
        with self._state:
            self.pre_checkout_answers.append(dict(params))
        return _ok(True)

    def _api_refundStarPayment(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        charge = params.get("telegram_payment_charge_id")
        if not isinstance(params.get("user_id"), int) or not charge:
            return _error(400, "Bad Request: user_id and telegram_payment_charge_id are required")
        with self._state:
            if any(r["telegram_payment_charge_id"] == charge for r in self.star_refunds):
                return _error(400, "Bad Request: CHARGE_ALREADY_REFUNDED")
            self.star_refunds.append(dict(params))
        return _ok(True)

    def _api_editUserStarSubscription(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        if (
            not isinstance(params.get("user_id"), int)
            or not params.get("telegram_payment_charge_id")
            or not isinstance(params.get("is_canceled"), bool)
        ):
            return _error(400, "Bad Request: user_id, charge id and is_canceled are required")
        with self._state:
            self.subscription_edits.append(dict(params))
        return _ok(True)

    def _api_answerCallbackQuery(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        query_id = params.get("callback_query_id")
        if not query_id:
            return _error(400, "Bad Request: query is too old and response timeout expired")
        with self._state:
            self.answered_callbacks.append(str(query_id))
        return _ok(True)

    def _api_setWebhook(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        if not str(params.get("url", "")).startswith(("https://", "http://")):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        self.webhook = dict(params)
        return _ok(True)

    def _api_deleteWebhook(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        self.webhook = {}
        return _ok(True)

    def _api_getWebhookInfo(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        info = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }
        if "allowed_updates" in self.webhook:
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return _ok(info)

    def _api_getFile(self, params: dict[str, Any]) -> FakeResponse:  # noqa: N802
        file_id = str(params.get("file_id", ""))
        if file_id not in self.files:
            return _error(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        path, data = self.files[file_id]
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(data),
                "file_path": path,
            }
        )

    # internals ------------------------------------------------------------------

    def _download(self, path: str) -> FakeResponse:
        for file_path, data in self.files.values():
            if file_path == path:
                return FakeResponse(200, data)
        return _error(404, "Not Found")

    def _record(self, method: str, params: dict[str, Any], content: dict[str, Any]) -> FakeResponse:
        chat_id = params.get("chat_id")
        if chat_id is None or str(chat_id) == "":
            return _error(400, "Bad Request: chat_id is empty")
        chat = str(chat_id)
        if chat in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        with self._state:
            message_id = next(self._ids)
            self._sent.append(SentMessage(method, chat, dict(params), message_id))
        chat_value: int | str = int(chat) if chat.lstrip("-").isdigit() else chat
        return _ok(
            {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_value, "type": "private"},
                **content,
            }
        )
