"""Local fake platform servers (the network edge in tests): Telegram, WhatsApp."""

from .server import FakeResponse, FakeServer, RecordedRequest
from .telegram import FakeTelegram
from .whatsapp import FakeWhatsApp, sign

__all__ = ["FakeResponse", "FakeServer", "FakeTelegram", "FakeWhatsApp", "RecordedRequest", "sign"]
