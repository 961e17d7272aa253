"""Fetching voice notes from the fake Telegram and WhatsApp servers: the bytes, the size cap,
missing files, and no token in any error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, FakeWhatsApp
from tutor.messages import Channel, Inbound, Kind, Media
from voice import fetch

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "reference"
    / "data"
    / "audio"
    / "telegram_container_samples"
    / "telegram.ogg"
)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _voice(channel: Channel, media_id: str, size: int | None = None) -> Inbound:
    return Inbound(
        channel=channel,
        chat_id="42",
        learner_key=f"{channel.value}:42",
        provider_message_id="m1",
        kind=Kind.VOICE,
        media=Media(media_id, "audio/ogg", 3.0, size, True),
    )


def test_a_telegram_voice_note_comes_back_byte_for_byte(
    fake_telegram: FakeTelegram, http: httpx.Client
) -> None:
    data = SAMPLE.read_bytes()
    fake_telegram.add_file("voice-1", data)
    got = fetch.fetch(
        http,
        _voice(Channel.TELEGRAM, "voice-1"),
        telegram_api_url=fake_telegram.url,
        telegram_token=DEFAULT_TOKEN,
    )
    assert got == data


def test_a_whatsapp_voice_note_comes_back_with_the_bearer_token(
    fake_whatsapp: FakeWhatsApp, http: httpx.Client
) -> None:
    data = SAMPLE.read_bytes()
    fake_whatsapp.add_media("wa-media-1", data)
    got = fetch.fetch(
        http,
        _voice(Channel.WHATSAPP, "wa-media-1"),
        whatsapp_api_url=fake_whatsapp.url,
        whatsapp_token=DEFAULT_ACCESS_TOKEN,
    )
    assert got == data


def test_too_big_is_refused_before_and_during_the_download(
    fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp, http: httpx.Client
) -> None:
    declared = _voice(Channel.TELEGRAM, "voice-2", size=20 * 1024 * 1024)
    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch(
            http, declared, telegram_api_url=fake_telegram.url, telegram_token=DEFAULT_TOKEN
        )
    assert caught.value.reason == "too_big"

    fake_telegram.add_file("voice-3", b"\0" * 5000)
    with pytest.raises(fetch.FetchError) as caught:
        fetch.telegram(http, fake_telegram.url, DEFAULT_TOKEN, "voice-3", max_bytes=4000)
    assert caught.value.reason == "too_big"

    fake_whatsapp.add_media("wa-big", b"\0" * 5000)
    with pytest.raises(fetch.FetchError) as caught:
        fetch.whatsapp(http, fake_whatsapp.url, DEFAULT_ACCESS_TOKEN, "wa-big", max_bytes=4000)
    assert caught.value.reason == "too_big"


def test_a_missing_file_is_unavailable_and_no_token_leaks(
    fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp, http: httpx.Client
) -> None:
    with pytest.raises(fetch.FetchError) as caught:
        fetch.telegram(http, fake_telegram.url, DEFAULT_TOKEN, "nope")
    assert caught.value.reason == "unavailable" and DEFAULT_TOKEN not in str(caught.value)
    with pytest.raises(fetch.FetchError) as caught:
        fetch.whatsapp(http, fake_whatsapp.url, DEFAULT_ACCESS_TOKEN, "nope")
    assert caught.value.reason == "unavailable" and DEFAULT_ACCESS_TOKEN not in str(caught.value)
    with pytest.raises(fetch.FetchError) as caught:
        fetch.telegram(http, "http://127.0.0.1:9", DEFAULT_TOKEN, "voice-1", timeout=1.0)
    assert caught.value.reason == "unavailable" and DEFAULT_TOKEN not in str(caught.value)
    with pytest.raises(fetch.FetchError):
        fetch.fetch(http, _voice(Channel.TELEGRAM, "x"))  # no credentials configured
