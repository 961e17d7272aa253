"""Text matching helpers: accent folding and the small parsers the dispatcher needs."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_PUNCTUATION = re.compile(r"[^\w\s:+-]", re.UNICODE)
_SPACES = re.compile(r"\s+")


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (JSON's ``"\\ud800"`` decodes to one) replaced by
    U+FFFD: such a string cannot be encoded as UTF-8, so no database or pipe takes it.
    Offsets are kept: one code point becomes one code point."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def json_without_surrogates(value: Any) -> Any:
    """A parsed JSON value with every string (keys too) passed through
    :func:`without_surrogates`; dicts and lists are changed in place, without recursion."""
    if isinstance(value, str):
        return without_surrogates(value)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in list(node):
                item = node[key]
                if isinstance(item, str):
                    item = without_surrogates(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
                clean = without_surrogates(key) if isinstance(key, str) else key
                if clean is not key:
                    del node[key]
                node[clean] = item
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = without_surrogates(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
    return value


def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation, squeeze spaces: for matching only."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", stripped)).strip()


def parse_choice(text: str, count: int) -> int | None:
    """``"2"``, ``"2."`` or ``"#2"`` -> index 1 when 1 <= 2 <= count; else None."""
    match = re.fullmatch(r"\s*#?\s*(\d{1,2})\s*[.)]?\s*", text)
    if not match:
        return None
    number = int(match.group(1))
    return number - 1 if 1 <= number <= count else None


_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|h)?$")


def parse_clock(text: str) -> str | None:
    """``"8am"``, ``"8:30 pm"``, ``"20:00"``, ``"20h"`` -> ``"HH:MM"``; None if not a time."""
    cleaned = text.strip().casefold().replace("a.m.", "am").replace("p.m.", "pm")
    cleaned = re.sub(r"\s*(hrs|horas|hs)$", "h", cleaned)
    match = _TIME.match(cleaned)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = match.group(3) or ""
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


_ZONE_ALIASES = {
    "ciudad de mexico": "America/Mexico_City",
    "cdmx": "America/Mexico_City",
    "nueva york": "America/New_York",
    "londres": "Europe/London",
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "roma": "Europe/Rome",
    "lisboa": "Europe/Lisbon",
    "sao paulo": "America/Sao_Paulo",
    "san francisco": "America/Los_Angeles",
    "california": "America/Los_Angeles",
    "barcelona": "Europe/Madrid",
    "sevilla": "Europe/Madrid",
    "valencia": "Europe/Madrid",
    "spain": "Europe/Madrid",
    "espana": "Europe/Madrid",
    "mexico": "America/Mexico_City",
    "colombia": "America/Bogota",
    "peru": "America/Lima",
    "chile": "America/Santiago",
    "argentina": "America/Argentina/Buenos_Aires",
    "buenos aires": "America/Argentina/Buenos_Aires",
    "uk": "Europe/London",
    "england": "Europe/London",
    "utc": "UTC",
    "gmt": "UTC",
}


@lru_cache(maxsize=1)
def _zone_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if "/" not in zone or zone.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        index.setdefault(fold(zone.rsplit("/", 1)[1].replace("_", " ")), zone)
    index.update(_ZONE_ALIASES)
    return index


def parse_timezone(text: str, now: datetime | None = None) -> str | None:
    """A city or country name, or the learner's local time, -> a time zone name.

    Cities map to IANA zones; a local time like ``14:30`` maps to the fixed
    offset it implies (``UTC+02:00``), rounded to half an hour.
    """
    folded = fold(text)
    zone = _zone_index().get(folded)
    if zone:
        return zone
    clock = parse_clock(text)
    if clock is None:
        return None
    now = now or datetime.now(UTC)
    hour, minute = (int(part) for part in clock.split(":"))
    local = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    utc_naive = now.replace(second=0, microsecond=0)
    delta = local - utc_naive
    # The learner's clock is within ±14 h of UTC: pick the nearest day.
    if delta > timedelta(hours=14):
        delta -= timedelta(days=1)
    elif delta < timedelta(hours=-12):
        delta += timedelta(days=1)
    halves = round(delta.total_seconds() / 1800)
    sign = "+" if halves >= 0 else "-"
    halves = abs(halves)
    return f"UTC{sign}{halves // 2:02d}:{halves % 2 * 30:02d}"


def parse_zone(name: str) -> tzinfo | None:
    """An IANA zone, or a fixed offset written as ``UTC+02:00`` (what onboarding stores
    for a learner who sent their local time); None when unknown."""
    if name.startswith("UTC") and len(name) == 9 and name[3] in "+-" and name[6] == ":":
        try:
            hours, minutes = int(name[4:6]), int(name[7:9])
        except ValueError:
            return None
        if hours > 23 or minutes > 59:  # timezone() takes less than a day
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        return timezone(offset if name[3] == "+" else -offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
        return None


def local_zone(name: str | None) -> tzinfo:
    """The learner's time zone (``profile["timezone"]``), UTC when unset or unknown."""
    return (parse_zone(name) if name else None) or UTC
