"""WhatsApp Cloud API: verify and parse webhooks, send replies through the Graph API.

A thin client of our own rather than pywa: pywa hard-codes the Graph base URL
(so it cannot talk to a local fake), dedupes updates only inside one process
(we dedupe in the durable inbox), and runs handlers inside the webhook request
(we acknowledge first and work in the worker).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tutor.channels.whatsapp_render import document_message, render
from tutor.errors import (
    OutsideWindowError,
    PayloadError,
    PermanentSendError,
    RateLimited,
    RetryableSendError,
    SignatureError,
)
from tutor.messages import Attachment, Channel, Inbound, Kind, Media, Reply, Template
from tutor.text import json_without_surrogates

__all__ = [
    "DeliveryStatus", "WhatsAppBatch", "WhatsAppClient", "parse_webhook", "render",
    "verify_challenge", "verify_signature",
]  # fmt: skip

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
#: The pair rate limit (messages to one user too fast); Meta suggests retrying after 4^X s.
PAIR_LIMIT_CODE, PAIR_LIMIT_GROWTH = 131056, 4.0
#: Free-form messages are allowed this long after the learner's last message.
WINDOW = timedelta(hours=24)
TEMPORARY_CODES = frozenset({2, 131016})  # "API service" / "service unavailable"
#: The document types the Cloud API delivers; JSON and other text go as text/plain.
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
OUTSIDE_WINDOW_CODE = 131047
# Not a learner turn: reactions (a 👍 needs no answer), edits, deletions, system notices.
IGNORED_TYPES = frozenset({"reaction", "edit", "revoke", "system"})
UNSUPPORTED = (Kind.UNSUPPORTED, "", None, None)


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """What happened to a message we sent (sent, delivered, read, failed, ...)."""

    message_id: str
    status: str
    recipient_id: str
    timestamp: datetime
    error_code: int | None = None
    error_title: str | None = None


@dataclass(frozen=True, slots=True)
class WhatsAppBatch:
    """Everything one webhook body carried that we act on."""

    messages: tuple[Inbound, ...] = ()
    statuses: tuple[DeliveryStatus, ...] = ()
    #: WhatsApp Pay statuses (``type: payment``), as sent: :mod:`payments.whatsapp_pay`
    #: turns them into ledger events. Never inbox messages: they are not a learner's turn.
    payments: tuple[dict[str, Any], ...] = ()


def verify_signature(body: bytes, header_value: str | None, app_secret: str | None) -> None:
    """Accept ``body`` only if ``X-Hub-Signature-256`` is its HMAC-SHA256 under the app secret."""
    if header_value is None:
        raise SignatureError("missing X-Hub-Signature-256", missing=True)
    if not app_secret:
        raise SignatureError("no WhatsApp app secret is configured")
    scheme, _, received = header_value.strip().partition("=")
    if scheme != "sha256" or not received:
        raise SignatureError("malformed X-Hub-Signature-256")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), received.lower().encode()):
        raise SignatureError("wrong X-Hub-Signature-256")


def verify_challenge(
    mode: str | None, token: str | None, challenge: str | None, verify_token: str | None
) -> str:
    """Answer Meta's subscription check: the challenge when mode and token are right."""
    if mode != "subscribe" or token is None or not verify_token or challenge is None:
        raise SignatureError("bad webhook verification request")
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise SignatureError("wrong verify token")
    return challenge


def parse_webhook(body: dict[str, Any]) -> WhatsAppBatch:
    """Messages, delivery and payment statuses from one webhook body; other fields are
    ignored."""
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise PayloadError("not a WhatsApp Business Account webhook")
    json_without_surrogates(body)  # "\ud800" in JSON: text no database can store
    messages: list[Inbound] = []
    statuses: list[DeliveryStatus] = []
    payments: list[dict[str, Any]] = []
    for entry in _objects(body.get("entry"), "entry", required=True):
        for change in _objects(entry.get("changes"), "changes"):
            if change.get("field") != "messages":
                continue  # account, template, call and preference updates
            value = change.get("value")
            if not isinstance(value, dict):
                raise PayloadError("change value is not an object")
            contacts = _objects(value.get("contacts"), "contacts")
            for message in _objects(value.get("messages"), "messages"):
                inbound = _inbound(message, contacts)
                if inbound is not None:
                    messages.append(inbound)
            for status in _objects(value.get("statuses"), "statuses"):
                if status.get("type") == "payment":
                    payments.append(_payment_status(status))
                else:
                    statuses.append(_status(status))
    return WhatsAppBatch(tuple(messages), tuple(statuses), tuple(payments))


def _objects(value: Any, name: str, *, required: bool = False) -> list[dict[str, Any]]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PayloadError(f"{name} is not a list of objects")
    return value


def _inbound(message: dict[str, Any], contacts: list[dict[str, Any]]) -> Inbound | None:
    wamid, phone, user_id = message.get("id"), message.get("from"), message.get("from_user_id")
    if not isinstance(wamid, str) or not wamid:
        raise PayloadError("message has no id")
    phone = phone if isinstance(phone, str) and phone else None
    contact = _contact_for(contacts, phone, user_id if isinstance(user_id, str) else None)
    bsuid = user_id if isinstance(user_id, str) and user_id else contact.get("user_id")
    bsuid = bsuid if isinstance(bsuid, str) and bsuid else None
    sender = bsuid or phone
    if sender is None:
        raise PayloadError("message has no sender")
    sent_at = _timestamp(message.get("timestamp"))
    message_type = message.get("type")
    if isinstance(message_type, str) and message_type in IGNORED_TYPES:
        logger.debug("whatsapp message ignored", extra={"message_type": message_type})
        return None
    kind, text, media, button = _classify(message)
    return Inbound(
        channel=Channel.WHATSAPP,
        chat_id=phone or sender,
        learner_key=f"whatsapp:{sender}",
        provider_message_id=wamid,
        kind=kind,
        text=text,
        media=media,
        button=button,
        sent_at=sent_at,
        raw={"message": message, "contact": contact or None},
    )


def _contact_for(
    contacts: list[dict[str, Any]], phone: str | None, user_id: str | None
) -> dict[str, Any]:
    for contact in contacts:
        if (phone and contact.get("wa_id") == phone) or (
            user_id and contact.get("user_id") == user_id
        ):
            return contact
    if len(contacts) == 1 and contacts[0].get("wa_id") in (None, phone):
        return contacts[0]
    return {}


def _classify(message: dict[str, Any]) -> tuple[Kind, str, Media | None, str | None]:
    """Kind, text, media and button of one message; unknown shapes are UNSUPPORTED."""
    message_type = message.get("type")
    content = message.get(message_type) if isinstance(message_type, str) else None
    content = content if isinstance(content, dict) else {}
    if message_type == "text":
        text = content.get("body")
        if not isinstance(text, str):
            return UNSUPPORTED
        return (Kind.COMMAND if text.startswith("/") else Kind.TEXT), text, None, None
    if message_type in ("audio", "document"):
        media_id, mime = content.get("id"), content.get("mime_type")
        mime = mime if isinstance(mime, str) else ""
        if not isinstance(media_id, str) or not (message_type == "audio" or _is_audio(mime)):
            return UNSUPPORTED
        voice = content.get("voice") is True
        media = Media(media_id=media_id, mime_type=mime, is_voice=voice)
        caption = content.get("caption")
        text = caption if isinstance(caption, str) else ""
        return (Kind.VOICE if voice else Kind.AUDIO), text, media, None
    if message_type == "interactive":
        reply = content.get(content.get("type") or "")
        if content.get("type") in ("button_reply", "list_reply") and isinstance(reply, dict):
            title, key = reply.get("title"), reply.get("id")
            if isinstance(key, str):
                return Kind.BUTTON, title if isinstance(title, str) else "", None, key
        return UNSUPPORTED  # flows, call-permission replies, malformed interactive
    if message_type == "button":  # quick reply on a template
        payload, title = content.get("payload"), content.get("text")
        if isinstance(payload, str):
            return Kind.BUTTON, title if isinstance(title, str) else "", None, payload
        return UNSUPPORTED
    if message_type in ("order", "payment"):
        return Kind.PAYMENT, "", None, None
    return UNSUPPORTED  # image, sticker, location, contacts, video, unknown...


def _is_audio(mime: str) -> bool:
    return mime.startswith("audio/")


def _payment_status(status: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp Pay status (``type: payment``): checked for the fields every one carries
    (id, status, a ``payment`` object), then kept whole for the ledger."""
    wamid, state, payment = status.get("id"), status.get("status"), status.get("payment")
    if not (isinstance(wamid, str) and isinstance(state, str) and isinstance(payment, dict)):
        raise PayloadError("payment status is missing id, status or payment")
    return status


def _status(status: dict[str, Any]) -> DeliveryStatus:
    wamid, state = status.get("id"), status.get("status")
    if not isinstance(wamid, str) or not isinstance(state, str):
        raise PayloadError("status has no id or status")
    recipient = status.get("recipient_id") or status.get("recipient_user_id") or ""
    errors = status.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code, title = first.get("code"), first.get("title")
    return DeliveryStatus(
        message_id=wamid,
        status=state,
        recipient_id=str(recipient),
        timestamp=_timestamp(status.get("timestamp")),
        error_code=code if isinstance(code, int) else None,
        error_title=title if isinstance(title, str) else None,
    )


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise PayloadError("bad timestamp") from exc


class WhatsAppClient:
    """The Cloud API ``/messages`` endpoint over synchronous httpx; a ``ChannelAdapter``."""

    channel: Channel = Channel.WHATSAPP

    def __init__(
        self,
        api_url: str,
        phone_number_id: str,
        access_token: str,
        http: httpx.Client,
        timeout: float = 10.0,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._messages_url = f"{self._api_url}/{phone_number_id}/messages"
        self._media_url = f"{self._api_url}/{phone_number_id}/media"
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._http = http
        self._timeout = timeout

    def __repr__(self) -> str:
        return "WhatsAppClient(<token hidden>)"

    def send(self, chat_id: str, reply: Reply) -> list[str]:
        """Send every part of ``reply`` (a document last); return the wamids."""
        ids = [self._post_message(body) for body in render(reply, chat_id)]
        if reply.document:
            if reply.attachment is None:
                raise PermanentSendError("whatsapp document: the document was not built")
            ids.append(self.send_document(chat_id, reply.attachment))
        return ids

    def send_document(self, to: str, attachment: Attachment) -> str:
        """Upload ``attachment`` (``POST /{phone-number-id}/media``, multipart), then send it
        as a document message; return its wamid."""
        media_id = self.upload(attachment)
        body = document_message(to, media_id, attachment.filename, attachment.caption)
        return self._post_message(body)

    def upload(self, attachment: Attachment) -> str:
        """Upload a file for sending; return its media id."""
        mime = _document_type(attachment.mime_type)
        try:
            response = self._http.post(
                self._media_url,
                data={"messaging_product": "whatsapp", "type": mime},
                files={"file": (attachment.filename, attachment.content, mime)},
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise RetryableSendError("whatsapp media upload: timed out") from exc
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"whatsapp media upload: {type(exc).__name__}") from exc
        media_id = _graph_result(response).get("id")
        if not isinstance(media_id, str) or not media_id:
            raise RetryableSendError("whatsapp media upload: response has no id")
        return media_id

    def acknowledge(self, chat_id: str, callback_id: str) -> None:
        """WhatsApp buttons have no spinner to stop."""

    def send_template(self, to: str, template: Template) -> str:
        """Send a pre-approved template (allowed outside the 24-hour window); return its wamid."""
        return self.send(to, Reply(template=template))[0]

    def get_media_url(self, media_id: str) -> str:
        """The short-lived download URL of an inbound media id (fetch it with the same token)."""
        data = self._request("GET", f"{self._api_url}/{media_id}", None)
        url = data.get("url")
        if not isinstance(url, str):
            raise RetryableSendError("whatsapp media lookup: no url in response")
        return url

    def _post_message(self, body: dict[str, Any]) -> str:
        data = self._request("POST", self._messages_url, body)
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            if isinstance(wamid, str):
                return wamid
        raise RetryableSendError("whatsapp send: response has no message id")

    def _request(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = self._http.request(
                method, url, json=body, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise RetryableSendError("whatsapp: timed out") from exc
        except httpx.HTTPError as exc:
            raise RetryableSendError(f"whatsapp: {type(exc).__name__}") from exc
        return _graph_result(response)


def _document_type(mime_type: str) -> str:
    """The type to upload a document as: JSON and other text files go as text/plain."""
    if mime_type in DOCUMENT_TYPES:
        return mime_type
    if mime_type.startswith("text/") or mime_type == "application/json":
        return "text/plain"
    raise PermanentSendError(f"whatsapp cannot send a {mime_type} document")


def _graph_result(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a success; Graph errors translated into the ChannelError tree."""
    status = response.status_code
    try:
        data = response.json()
    except ValueError as exc:
        raise RetryableSendError(f"whatsapp: HTTP {status}, body not JSON", code=status) from exc
    if not isinstance(data, dict):
        raise RetryableSendError(f"whatsapp: HTTP {status}, body not an object", code=status)
    error = data.get("error")
    if response.is_success and error is None:
        return data
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), int) else status
    message = f"whatsapp: HTTP {status} code {code}: {str(error.get('message', ''))[:200]}"
    if code == PAIR_LIMIT_CODE:
        raise RateLimited(
            message,
            retry_after=_retry_after(response),
            code=code,
            scope="recipient",
            growth=PAIR_LIMIT_GROWTH,
        )
    if status == 429 or code in RATE_LIMIT_CODES:  # the number's throughput, the account's
        raise RateLimited(message, retry_after=_retry_after(response), code=code)
    if code == OUTSIDE_WINDOW_CODE:
        raise OutsideWindowError(message, code=code)
    if status >= 500 or code in TEMPORARY_CODES or not 400 <= status < 500:
        raise RetryableSendError(message, code=code)
    raise PermanentSendError(message, code=code)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
