"""Small text helpers: folding, choices, clocks, time zones, message splitting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tutor.messages import Option, Reply, split_text
from tutor.text import fold, parse_choice, parse_clock, parse_timezone


def test_fold() -> None:
    assert fold("¡Menú!") == "menu"
    assert fold("  Estado   de  SUSCRIPCIÓN ") == "estado de suscripcion"


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("2", 3, 1),
        (" 2. ", 3, 1),
        ("#1", 3, 0),
        ("4", 3, None),
        ("0", 3, None),
        ("two", 3, None),
    ],
)
def test_parse_choice(text: str, count: int, expected: int | None) -> None:
    assert parse_choice(text, count) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8am", "08:00"),
        ("8 pm", "20:00"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("19:30", "19:30"),
        ("7.15pm", "19:15"),
        ("20h", "20:00"),
        ("25:00", None),
        ("13pm", None),
        ("mañana", None),
    ],
)
def test_parse_clock(text: str, expected: str | None) -> None:
    assert parse_clock(text) == expected


def test_parse_timezone() -> None:
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert parse_timezone("madrid", now) == "Europe/Madrid"
    assert parse_timezone("Ciudad de México", now) == "America/Mexico_City"
    assert parse_timezone("Buenos Aires", now) == "America/Argentina/Buenos_Aires"
    assert parse_timezone("9:02", now) == "UTC+01:00"
    assert parse_timezone("3am", now) == "UTC-05:00"
    assert parse_timezone("13:30", now) == "UTC+05:30"
    assert parse_timezone("Narnia", now) is None


def test_split_text_respects_the_limit_and_keeps_everything() -> None:
    text = ("palabra " * 700).strip() + "\n\n" + "x" * 5000
    chunks = split_text(text, 4096)
    assert all(0 < len(chunk) <= 4096 for chunk in chunks)
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert split_text("short", 10) == ["short"]


def test_numbered_text_and_round_trip() -> None:
    reply = Reply("Pick one", (Option("a", "Alpha"), Option("b", "Beta")))
    assert reply.numbered_text() == "Pick one\n1. Alpha\n2. Beta"
    assert Reply.from_dict(reply.to_dict()) == reply
    assert Reply("cafe\u0301").text == "café"  # stored NFC


def test_a_fixed_offset_from_onboarding_is_a_real_zone() -> None:
    from datetime import timedelta

    from tutor.text import local_zone

    noon = datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert noon.astimezone(local_zone("UTC+02:00")).hour == 14
    assert noon.astimezone(local_zone("UTC-05:30")).utcoffset() == -timedelta(hours=5, minutes=30)
    assert local_zone("America/Sao_Paulo").utcoffset(noon) == -timedelta(hours=3)
    assert (
        local_zone("UTC+2") is UTC and local_zone("Mars/Olympus") is UTC and local_zone(None) is UTC
    )
