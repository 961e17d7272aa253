"""The two message types everything inside the service speaks.

Channel adapters turn platform payloads into one frozen :class:`Inbound` and
render a :class:`Reply` back into platform calls; agents never see a Telegram
or WhatsApp dict. Both round-trip through plain JSON for the inbox and outbox.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    TEXT = "text"
    VOICE = "voice"
    AUDIO = "audio"
    BUTTON = "button"
    COMMAND = "command"
    PAYMENT = "payment"
    UNSUPPORTED = "unsupported"


class Channel(StrEnum):
    TELEGRAM = "telegram"
    WHATSAPP = "whatsapp"
    WEB = "web"
    CONSOLE = "console"


def nfc(text: str) -> str:
    """Unicode-normalise text for storage and display."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True, slots=True)
class Media:
    """Where a voice note or audio file can be fetched; never the bytes."""

    media_id: str
    mime_type: str = ""
    duration_seconds: float | None = None
    size_bytes: int | None = None
    is_voice: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "media_id": self.media_id,
            "mime_type": self.mime_type,
            "duration_seconds": self.duration_seconds,
            "size_bytes": self.size_bytes,
            "is_voice": self.is_voice,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Media:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class PaymentUpdate:
    """A payment the channel itself reports: a Telegram Stars payment or refund.

    ``charge_id`` is the provider's id of the charge (``telegram_payment_charge_id``);
    ``payload`` is what the tutor put in the invoice; ``amount`` is whole Stars for
    ``XTR``. A Stars subscription's payments carry ``expires_at`` (the paid period's end)
    and ``is_recurring``; its first payment also ``is_first_recurring``.
    """

    kind: str  # successful | refunded
    charge_id: str
    currency: str
    amount: int
    payload: str
    is_recurring: bool = False
    is_first_recurring: bool = False
    expires_at: datetime | None = None
    provider_charge_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "charge_id": self.charge_id,
            "currency": self.currency,
            "amount": self.amount,
            "payload": self.payload,
            "is_recurring": self.is_recurring,
            "is_first_recurring": self.is_first_recurring,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "provider_charge_id": self.provider_charge_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PaymentUpdate:
        expires = data.get("expires_at")
        return cls(**{**data, "expires_at": datetime.fromisoformat(expires) if expires else None})


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a learner, whatever the channel.

    ``learner_key`` is ``"<channel>:<stable user id>"``; ``chat_id`` is where
    replies go. ``raw`` keeps the platform payload for logs and replays and is
    never branched on.
    """

    channel: Channel
    chat_id: str
    learner_key: str
    provider_message_id: str
    kind: Kind
    text: str = ""
    media: Media | None = None
    button: str | None = None
    callback_id: str | None = None
    language_hint: str | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    payment: PaymentUpdate | None = None

    def __post_init__(self) -> None:
        if self.sent_at.tzinfo is None:
            raise ValueError("sent_at must be timezone-aware")
        object.__setattr__(self, "text", nfc(self.text))

    @property
    def command(self) -> str | None:
        """``"start"`` for ``/start@TutorBot extra``; None when not a command."""
        if self.kind is not Kind.COMMAND or not self.text.startswith("/"):
            return None
        return self.text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower()

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "chat_id": self.chat_id,
            "learner_key": self.learner_key,
            "provider_message_id": self.provider_message_id,
            "kind": self.kind.value,
            "text": self.text,
            "media": self.media.to_dict() if self.media else None,
            "button": self.button,
            "callback_id": self.callback_id,
            "language_hint": self.language_hint,
            "sent_at": self.sent_at.isoformat(),
            **({"payment": self.payment.to_dict()} if self.payment else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], raw: dict[str, Any] | None = None) -> Inbound:
        media = data.get("media")
        return cls(
            channel=Channel(data["channel"]),
            chat_id=data["chat_id"],
            learner_key=data["learner_key"],
            provider_message_id=data["provider_message_id"],
            kind=Kind(data["kind"]),
            text=data.get("text", ""),
            media=Media.from_dict(media) if media else None,
            button=data.get("button"),
            callback_id=data.get("callback_id"),
            language_hint=data.get("language_hint"),
            sent_at=datetime.fromisoformat(data["sent_at"]),
            raw=raw or {},
            payment=PaymentUpdate.from_dict(data["payment"]) if data.get("payment") else None,
        )


@dataclass(frozen=True, slots=True)
class Option:
    """One numbered choice. ``key`` is what comes back when it is picked."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class Template:
    """A pre-approved WhatsApp template (the only thing allowed outside 24 h)."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Invoice:
    """Something to pay for inside the chat.

    ``currency`` ``"XTR"`` is Telegram Stars (whole Stars in ``amount``); other
    currencies are minor units, paid through ``url`` (a payment link) where the
    channel has no native invoice. ``subscription_period`` (seconds; Telegram allows
    30 days) makes a Stars invoice a subscription: it is sent as an invoice link.
    ``order`` holds a WhatsApp Pay order (``order_details``) where that is offered.
    """

    title: str
    description: str
    payload: str
    currency: str
    amount: int
    url: str | None = None
    subscription_period: int = 0
    order: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "payload": self.payload,
            "currency": self.currency,
            "amount": self.amount,
            "url": self.url,
            **(
                {"subscription_period": self.subscription_period}
                if self.subscription_period
                else {}
            ),
            **({"order": self.order} if self.order else {}),
        }


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a reply, built at send time and never stored."""

    filename: str
    mime_type: str
    content: bytes = field(repr=False)
    caption: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What the tutor says back: text, optionally numbered options, media refs.

    Options are always written as a numbered list in the text, so typing "2"
    works everywhere; channels may add buttons on top.

    ``document`` names a file the outbox builds from the database when it sends the
    reply (``"export"``: everything stored about the learner), so the file itself is
    never stored; the built file travels in ``attachment``, which is not serialised.
    ``scrub_when_sent`` marks the goodbye to a learner whose data was erased: once
    sent, its outbox row keeps nothing that points to them.
    """

    text: str = ""
    options: tuple[Option, ...] = ()
    voice_url: str | None = None
    image_url: str | None = None
    template: Template | None = None
    invoice: Invoice | None = None
    document: str | None = None
    scrub_when_sent: bool = False
    attachment: Attachment | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", nfc(self.text))

    def numbered_text(self) -> str:
        """The text with its options appended as ``1. label`` lines."""
        if not self.options:
            return self.text
        lines = [f"{index}. {option.label}" for index, option in enumerate(self.options, 1)]
        return "\n".join([self.text, *lines]) if self.text else "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "options": [{"key": o.key, "label": o.label} for o in self.options],
            "voice_url": self.voice_url,
            "image_url": self.image_url,
            "template": (
                {
                    "name": self.template.name,
                    "language": self.template.language,
                    "parameters": list(self.template.parameters),
                }
                if self.template
                else None
            ),
            "invoice": self.invoice.to_dict() if self.invoice else None,
            **({"document": self.document} if self.document else {}),
            **({"scrub_when_sent": True} if self.scrub_when_sent else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        template = data.get("template")
        invoice = data.get("invoice")
        return cls(
            text=data.get("text", ""),
            options=tuple(Option(o["key"], o["label"]) for o in data.get("options", [])),
            voice_url=data.get("voice_url"),
            image_url=data.get("image_url"),
            template=(
                Template(template["name"], template["language"], tuple(template["parameters"]))
                if template
                else None
            ),
            invoice=Invoice(**invoice) if invoice else None,
            document=data.get("document"),
            scrub_when_sent=bool(data.get("scrub_when_sent", False)),
        )


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters.

    Prefers paragraph breaks, then line breaks, then spaces; never returns an
    empty chunk.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        chunk, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if chunk:
            chunks.append(chunk)
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks
