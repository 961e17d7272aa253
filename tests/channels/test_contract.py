"""The ChannelAdapter contract, run against every implementation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tutor.channels.base import ChannelAdapter
from tutor.channels.telegram import TelegramClient
from tutor.channels.web import ConsoleChannel, WebChannel
from tutor.channels.whatsapp import WhatsAppClient
from tutor.errors import ChannelError
from tutor.messages import Option, Reply

CHAT_IDS = {"telegram": "4242", "whatsapp": "34600000042", "web": "abc", "console": "me"}


@pytest.fixture(params=["telegram", "whatsapp", "web", "console"])
def adapter(request: pytest.FixtureRequest) -> Iterator[tuple[str, ChannelAdapter]]:
    with httpx.Client() as http:
        if request.param == "telegram":
            with FakeTelegram() as fake:
                yield "telegram", TelegramClient(fake.url, fake.token, http, 5.0)
        elif request.param == "whatsapp":
            with FakeWhatsApp() as fake:
                yield (
                    "whatsapp",
                    WhatsAppClient(
                        fake.url + "/v23.0", fake.phone_number_id, fake.access_token, http, 5.0
                    ),
                )
        elif request.param == "web":
            yield "web", WebChannel()
        else:
            yield "console", ConsoleChannel(lambda chat, reply: None)


def test_send_returns_message_ids(adapter: tuple[str, ChannelAdapter]) -> None:
    name, channel = adapter
    ids = channel.send(CHAT_IDS[name], Reply("Hola 👋", (Option("a", "Uno"), Option("b", "Dos"))))
    assert isinstance(ids, list)
    assert all(isinstance(i, str) and i for i in ids)
    assert channel.channel.value == name


def test_long_text_is_delivered_whole(adapter: tuple[str, ChannelAdapter]) -> None:
    name, channel = adapter
    ids = channel.send(CHAT_IDS[name], Reply("palabra " * 1500))
    if name in ("telegram", "whatsapp"):
        assert len(ids) == 3  # 12,000 characters at 4,096 per message


def test_acknowledge_never_fails_loudly(adapter: tuple[str, ChannelAdapter]) -> None:
    name, channel = adapter
    try:
        channel.acknowledge(CHAT_IDS[name], "callback-1")
    except ChannelError:
        pytest.fail("acknowledge raised for a valid callback id")
