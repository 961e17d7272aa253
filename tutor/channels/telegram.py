"""Telegram Bot API: verify and parse webhook updates, send replies.

PTB 22 is used only for its types (``Update.de_json`` is sync and offline);
sending is plain synchronous httpx, because PTB's async ``Bot`` binds its
connection pool to one event loop (see PLATFORM_FACTS B).
"""

from __future__ import annotations

import hmac
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from telegram import CallbackQuery, Message, Update
from telegram.warnings import PTBDeprecationWarning

from tutor.channels.telegram_payments import (
    PreCheckout,
    StarsMethods,
    parse_pre_checkout,
    payment_update,
    webhook_answer,
)
from tutor.channels.telegram_render import invoice_link_message, is_invoice_link, render
from tutor.errors import (
    PayloadError,
    PermanentSendError,
    RateLimited,
    RetryableSendError,
    SignatureError,
)
from tutor.messages import Attachment, Channel, Inbound, Kind, Media, Reply
from tutor.text import json_without_surrogates

__all__ = [
    "ALLOWED_UPDATES",
    "PreCheckout",
    "TelegramClient",
    "parse_pre_checkout",
    "parse_update",
    "render",
    "verify_secret",
    "webhook_answer",
]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
#: The update types we act on; everything else is acknowledged and dropped.
ALLOWED_UPDATES = ("message", "callback_query", "pre_checkout_query")
# The ones that become an Inbound (a pre-checkout query is answered in the request).
_INBOUND_UPDATES = ("message", "callback_query")
# User content we cannot teach from (stickers, photos, ...): answered as UNSUPPORTED.
_CONTENT_ATTRIBUTES = (
    "animation", "contact", "dice", "document", "game", "invoice", "live_photo", "location",
    "paid_media", "passport_data", "photo", "poll", "sticker", "story", "venue", "video",
    "video_note", "checklist",
)  # fmt: skip
# OverflowError, OSError: a date past what datetime.fromtimestamp takes
_PARSE_ERRORS = (TypeError, ValueError, KeyError, AttributeError, OverflowError, OSError)
#: The Bot API's answer when the user blocked the bot or no longer exists: final.
FORBIDDEN = 403


def verify_secret(header_value: str | None, secret: str | None) -> None:
    """Accept the request only if its secret-token header equals our webhook secret."""
    if header_value is None:
        raise SignatureError("missing secret token header", missing=True)
    if not secret:
        raise SignatureError("no Telegram webhook secret is configured")
    if not hmac.compare_digest(header_value.encode(), secret.encode()):
        raise SignatureError("wrong secret token")


def parse_update(body: dict[str, Any]) -> Inbound | None:
    """Turn one webhook ``Update`` into an Inbound; None for update types we ignore.

    A ``pre_checkout_query`` is None here too: it is answered inside the webhook request
    (:func:`parse_pre_checkout`, :mod:`tutor.checkout`) and never reaches the inbox.
    """
    if not isinstance(body, dict):
        raise PayloadError("a Telegram update is a JSON object")
    json_without_surrogates(body)  # "\ud800" in JSON: text no database can store
    update_id = body.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise PayloadError("not a Telegram update: no integer update_id")
    field = next((name for name in _INBOUND_UPDATES if body.get(name) is not None), None)
    if field is None:
        logger.debug("telegram update ignored", extra={"update_id": update_id})
        return None
    if not isinstance(body[field], dict):
        raise PayloadError(f"update field {field} is not an object")
    with _quiet_ptb():
        update, degraded = _de_json(body, field)
        try:
            if update.message is not None:
                return _from_message(update.message, update_id, body, degraded)
            if update.callback_query is not None:
                return _from_callback(update.callback_query, update_id, body)
        except _PARSE_ERRORS as exc:
            # PTB converts some fields only when read (a voice note's duration), so a field
            # of the wrong type surfaces here, past de_json.
            raise PayloadError(f"malformed {field}") from exc
    return None  # pragma: no cover - field guarantees one of the two


@contextmanager
def _quiet_ptb() -> Iterator[None]:
    # PTB 22 warns when int durations are read; under `-W error` that would crash parsing.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        yield


def _de_json(body: dict[str, Any], field: str) -> tuple[Update, bool]:
    """Parse with PTB; a message PTB cannot read is re-parsed from its envelope only."""
    try:
        return Update.de_json(body, None), False
    except _PARSE_ERRORS as exc:
        if field != "message":
            raise PayloadError(f"malformed {field}") from exc
        # A newer or older Bot API shape (e.g. a poll without `members_only`) must not
        # lose the learner: keep who/where/when and call the content unsupported.
        core_keys = ("message_id", "from", "chat", "date")
        core = {key: body["message"][key] for key in core_keys if key in body["message"]}
        try:
            return Update.de_json({"update_id": body["update_id"], "message": core}, None), True
        except _PARSE_ERRORS as inner:
            raise PayloadError("malformed message") from inner


def _from_message(
    message: Message, update_id: int, body: dict[str, Any], degraded: bool
) -> Inbound | None:
    user = message.from_user
    if user is None or user.is_bot:
        return None  # channel/anonymous-admin posts and other bots are not learners
    _require_int(user.id, "from.id")
    _require_int(message.chat.id, "chat.id")
    if message.text is not None and not isinstance(message.text, str):
        raise PayloadError("message text is not a string")
    kind, text, media = (Kind.UNSUPPORTED, "", None) if degraded else _classify(message)
    if kind is None:
        return None  # service messages: joins, pins, topic changes, ...
    payment = payment_update(message) if kind is Kind.PAYMENT else None
    return Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(message.chat.id),
        learner_key=f"telegram:{user.id}",
        provider_message_id=str(update_id),
        kind=kind,
        text=text,
        media=media,
        language_hint=_optional_str(user.language_code),
        sent_at=_aware(message.date),
        raw=body,
        payment=payment,
    )


def _classify(message: Message) -> tuple[Kind | None, str, Media | None]:
    """The kind, text and media of a message; kind None for service messages."""
    if message.successful_payment is not None or message.refunded_payment is not None:
        return Kind.PAYMENT, "", None
    if message.voice is not None:
        voice = message.voice
        media = Media(
            media_id=_required_str(voice.file_id, "voice.file_id"),
            mime_type=_str(voice.mime_type) or "audio/ogg",
            duration_seconds=_seconds(voice.duration),
            size_bytes=_optional_int(voice.file_size),
            is_voice=True,
        )
        return Kind.VOICE, _str(message.caption), media
    audio = _audio_media(message)
    if audio is not None:
        return Kind.AUDIO, _str(message.caption), audio
    if message.text is not None:
        text = message.text
        entities = message.entities or ()
        is_command = text.startswith("/") or any(
            entity.type == "bot_command" and entity.offset == 0 for entity in entities
        )
        return (Kind.COMMAND if is_command else Kind.TEXT), text, None
    if any(getattr(message, name, None) for name in _CONTENT_ATTRIBUTES):
        return Kind.UNSUPPORTED, _str(message.caption), None
    return None, "", None


def _audio_media(message: Message) -> Media | None:
    audio = message.audio
    if audio is not None:
        return Media(
            media_id=_required_str(audio.file_id, "audio.file_id"),
            mime_type=_str(audio.mime_type),
            duration_seconds=_seconds(audio.duration),
            size_bytes=_optional_int(audio.file_size),
        )
    document = message.document
    if document is not None and _str(document.mime_type).startswith("audio/"):
        return Media(
            media_id=_required_str(document.file_id, "document.file_id"),
            mime_type=_str(document.mime_type),
            size_bytes=_optional_int(document.file_size),
        )
    return None


def _from_callback(query: CallbackQuery, update_id: int, body: dict[str, Any]) -> Inbound:
    user = query.from_user
    _require_int(user.id, "callback_query.from.id")
    # Without the message (too old, or an inline keyboard) the private chat id is the user id.
    chat_id = query.message.chat.id if query.message is not None else user.id
    return Inbound(
        channel=Channel.TELEGRAM,
        chat_id=str(chat_id),
        learner_key=f"telegram:{user.id}",
        provider_message_id=str(update_id),
        kind=Kind.BUTTON,
        button=_str(query.data),
        callback_id=str(query.id),
        language_hint=_optional_str(user.language_code),
        sent_at=datetime.now(UTC),
        raw=body,
    )


def _require_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{name} is not an integer")


# PTB does not check the types of the fields it reads: a list where the Bot API sends a
# string must not reach the inbox.
def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _optional_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _required_str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{name} is not a string")
    return value


def _seconds(value: int | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class _RedactToken(logging.Filter):
    """Replace the bot token in log records (httpx logs every request URL at INFO)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's problem, not ours
            return True
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


def _redact_in_http_logs(token: str) -> None:
    for name in ("httpx", "httpcore"):
        http_logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactToken) and f.token == token for f in http_logger.filters):
            http_logger.addFilter(_RedactToken(token))


class TelegramClient(StarsMethods):
    """The Bot API over synchronous httpx; implements ``ChannelAdapter``."""

    channel: Channel = Channel.TELEGRAM

    def __init__(self, api_url: str, token: str, http: httpx.Client, timeout: float = 10.0):
        self._base = f"{api_url.rstrip('/')}/bot{token}"
        self._http = http
        self._timeout = timeout
        _redact_in_http_logs(token)

    def __repr__(self) -> str:
        return "TelegramClient(<token hidden>)"

    def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Send every part of ``reply`` (a document last); return the Bot API message ids.

        A Stars subscription invoice is made with createInvoiceLink and sent as a message
        with a URL button to the link (sendInvoice has no ``subscription_period``).
        """
        try:
            calls = render(reply)
        except ValueError as exc:
            raise PermanentSendError(f"telegram: reply cannot be sent: {exc}") from exc
        ids: list[str] = []
        for method, payload in calls:
            ids.append(_message_id(method, self.call(method, {"chat_id": chat_id, **payload})))
        if reply.invoice is not None and is_invoice_link(reply.invoice):
            link = self.create_invoice_link(reply.invoice)
            message = {"chat_id": chat_id, **invoice_link_message(reply.invoice, link)}
            ids.append(_message_id("sendMessage", self.call("sendMessage", message)))
        if reply.document:
            if reply.attachment is None:
                raise PermanentSendError("telegram sendDocument: the document was not built")
            ids.append(self.send_document(chat_id, reply.attachment))
        return ids

    def send_document(self, chat_id: str, attachment: Attachment) -> str:
        """Upload ``attachment`` with sendDocument (multipart: Telegram fetches only GIF, PDF
        and ZIP files by URL); return the message id."""
        fields = {"chat_id": chat_id}
        if attachment.caption:
            fields["caption"] = attachment.caption[:1024]
        upload = (attachment.filename, attachment.content, attachment.mime_type)
        result = self.call("sendDocument", fields, files={"document": upload})
        return _message_id("sendDocument", result)

    def acknowledge(self, chat_id: str, callback_id: str) -> None:
        """Stop the button's spinner (answerCallbackQuery)."""
        self.call("answerCallbackQuery", {"callback_query_id": callback_id})

    def call(
        self,
        method: str,
        payload: dict[str, Any] | None = None,
        *,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """POST one Bot API method and return its ``result``; errors become ChannelErrors.

        With ``files`` the call is multipart/form-data and ``payload`` its text fields.
        """
        url = f"{self._base}/{method}"
        try:
            if files:
                response = self._http.post(
                    url, data=payload or {}, files=files, timeout=self._timeout
                )
            else:
                response = self._http.post(url, json=payload or {}, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise RetryableSendError(f"telegram {method}: timed out") from exc
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"telegram {method}: {type(exc).__name__}") from exc
        return _result(method, response)

    def set_webhook(
        self,
        url: str,
        secret_token: str,
        allowed_updates: tuple[str, ...] = ALLOWED_UPDATES,
        *,
        drop_pending_updates: bool = False,
    ) -> bool:
        """Point Telegram at ``url``; it will send ``secret_token`` in the secret header."""
        payload = {
            "url": url,
            "secret_token": secret_token,
            "allowed_updates": allowed_updates,
            "drop_pending_updates": drop_pending_updates,
        }
        return bool(self.call("setWebhook", payload))

    def get_me(self) -> dict[str, Any]:
        """The bot's own User object (checks the token)."""
        result = self.call("getMe")
        return result if isinstance(result, dict) else {}

    def get_webhook_info(self) -> dict[str, Any]:
        """Current webhook URL, pending update count and last error."""
        result = self.call("getWebhookInfo")
        return result if isinstance(result, dict) else {}


def _message_id(method: str, result: Any) -> str:
    if not isinstance(result, dict) or "message_id" not in result:
        raise RetryableSendError(f"telegram {method}: result has no message_id")
    return str(result["message_id"])


def _result(method: str, response: httpx.Response) -> Any:
    status = response.status_code
    try:
        data = response.json()
    except ValueError as exc:
        raise RetryableSendError(f"telegram {method}: HTTP {status}, body not JSON") from exc
    if not isinstance(data, dict):
        raise RetryableSendError(f"telegram {method}: HTTP {status}, body not an object")
    if data.get("ok") is True and response.is_success:
        return data.get("result")
    code = data.get("error_code")
    code = code if isinstance(code, int) else status
    description = str(data.get("description", ""))[:200]
    message = f"telegram {method}: {code} {description}".rstrip()
    if status == 429 or code == 429:
        parameters = data.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        seconds = float(retry_after) if isinstance(retry_after, int | float) else None
        # Mostly the per-chat limit; the chat's bucket is the one pushed back.
        raise RateLimited(message, retry_after=seconds, code=code, scope="recipient")
    if code == FORBIDDEN:  # bot blocked, user deactivated, kicked from the group
        raise PermanentSendError(message, code=code, recipient_gone=True)
    if 400 <= code < 500 and status < 500:
        raise PermanentSendError(message, code=code)
    raise RetryableSendError(message, code=code)
