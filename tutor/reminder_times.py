"""When a learner's practice reminder falls due: their practice time in their zone.

The moment is the learner's chosen practice time (a default when they chose none) in
their time zone, DST-correct through zoneinfo; their zone is inferred from the phone's
calling code on WhatsApp until they give one, UTC otherwise. A moment inside quiet hours
moves to their end. A profile change that matters here sets ``next_reminder_at`` to the
change's time (:func:`column_change`); the reminder job then puts the next moment in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import func, literal

from tutor.messages import Channel
from tutor.models import UTCDateTime, learners
from tutor.settings import Settings
from tutor.text import parse_zone

#: Profile keys that move the next reminder.
SCHEDULE_KEYS = ("practice_time", "timezone", "reminders", "onboarded")

#: Calling regions spread over several zones: the zone most of their people live in.
MAIN_ZONES = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "MX": "America/Mexico_City",
    "BR": "America/Sao_Paulo",
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "GB": "Europe/London",
    "RU": "Europe/Moscow",
    "AU": "Australia/Sydney",
    "ID": "Asia/Jakarta",
    "CD": "Africa/Kinshasa",
    "KZ": "Asia/Almaty",
}


def _clock(value: str) -> time:
    hour, minute = (int(part) for part in value.split(":"))
    return time(hour, minute)


@dataclass(frozen=True, slots=True)
class Policy:
    """The reminder rules an operator sets (``TUTOR_REMINDER_*``), read once."""

    default_time: time = time(19, 0)
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)
    max_per_day: int = 1
    active_hours: float = 3.0
    expiry_days: int = 3
    template: str = ""
    template_language: str = ""
    batch_size: int = 500

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(
            default_time=_clock(settings.reminder_default_time),
            quiet_start=_clock(settings.reminder_quiet_start),
            quiet_end=_clock(settings.reminder_quiet_end),
            max_per_day=settings.reminder_max_per_day,
            active_hours=settings.reminder_active_hours,
            expiry_days=settings.reminder_expiry_days,
            template=settings.whatsapp_reminder_template,
            template_language=settings.whatsapp_reminder_template_language,
            batch_size=settings.reminder_batch_size,
        )

    def quiet(self, moment: time) -> bool:
        """Whether a local clock time falls inside quiet hours."""
        start, end = self.quiet_start, self.quiet_end
        if start == end:
            return False
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end


# Time zones -------------------------------------------------------------------


def zone_of(name: str) -> tzinfo | None:
    """An IANA zone or a fixed ``UTC+02:00`` offset; None when unknown."""
    return parse_zone(name)


@lru_cache(maxsize=4096)
def zone_for_phone(number: str) -> str | None:
    """A representative IANA zone for a phone number's calling code (None: not a number)."""
    import phonenumbers
    from phonenumbers import timezone as phone_zones

    digits = number.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    found = [z for z in phone_zones.time_zones_for_number(parsed) if zone_of(z) is not None]
    if len(found) == 1:
        return found[0]
    region = phonenumbers.region_code_for_number(
        parsed
    ) or phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    if region in MAIN_ZONES:
        return MAIN_ZONES[region]
    if found:
        return found[0]
    broad = phone_zones.time_zones_for_geographical_number(parsed)
    return next((z for z in broad if zone_of(z) is not None), None)


def zone_name(profile: Mapping[str, Any], channel: str, chat_id: str) -> str:
    """The learner's zone: theirs, else (WhatsApp) their phone's, else UTC. "UTC" counts as
    not chosen on WhatsApp: it is what skipping the question at first contact stores."""
    chosen = str(profile.get("timezone") or "")
    if chosen and chosen != "UTC" and zone_of(chosen) is not None:
        return chosen
    if channel == Channel.WHATSAPP.value:
        inferred = zone_for_phone(chat_id)
        if inferred:
            return inferred
    return "UTC"


def practice_time(profile: Mapping[str, Any], policy: Policy) -> time:
    """The learner's chosen practice time, else the default."""
    chosen = profile.get("practice_time")
    try:
        return _clock(str(chosen)) if chosen else policy.default_time
    except ValueError:
        return policy.default_time


# When ------------------------------------------------------------------------


def _slot_on(day: date, moment: time, zone: tzinfo, policy: Policy) -> datetime:
    """The UTC instant of ``moment`` on local ``day``, moved to the end of quiet hours."""
    if policy.quiet(moment):
        if policy.quiet_start > policy.quiet_end and moment >= policy.quiet_start:
            day += timedelta(days=1)  # the evening side of quiet hours that wrap midnight
        moment = policy.quiet_end
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)


def _slots(
    profile: Mapping[str, Any], zone: tzinfo, now: datetime, policy: Policy
) -> list[datetime]:
    moment = practice_time(profile, policy)
    today = now.astimezone(zone).date()
    return [_slot_on(today + timedelta(days=n), moment, zone, policy) for n in range(-2, 3)]


def next_due(
    profile: Mapping[str, Any],
    now: datetime,
    *,
    channel: str = "",
    chat_id: str = "",
    policy: Policy | None = None,
) -> datetime:
    """The next UTC instant after ``now`` of the learner's practice time in their zone."""
    policy = policy or Policy()
    zone = zone_of(zone_name(profile, channel, chat_id)) or UTC
    return min(slot for slot in _slots(profile, zone, now, policy) if slot > now)


def last_slot(profile: Mapping[str, Any], now: datetime, zone: tzinfo, policy: Policy) -> datetime:
    """The latest instant at or before ``now`` of the learner's practice time."""
    return max(slot for slot in _slots(profile, zone, now, policy) if slot <= now)


def wanted(profile: Mapping[str, Any]) -> bool:
    """Reminders go to onboarded learners who have not stopped them."""
    return bool(profile.get("onboarded")) and profile.get("reminders", True) is not False


def column_change(old: Mapping[str, Any], new: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The ``next_reminder_at`` value for a learner row whose profile goes from ``old`` to
    ``new``: None when reminders are no longer wanted, ``now`` (the job reschedules within
    a minute) when the time, zone or preference changed, and otherwise ``now`` only where
    the column is still empty (learners from before reminders existed)."""
    if not wanted(new):
        return {"next_reminder_at": None}
    if any(old.get(key) != new.get(key) for key in SCHEDULE_KEYS):
        return {"next_reminder_at": now}
    stamp = literal(now, UTCDateTime())
    return {"next_reminder_at": func.coalesce(learners.c.next_reminder_at, stamp)}


def slot_text(
    profile: Mapping[str, Any], channel: str, chat_id: str, policy: Policy
) -> tuple[str, str, bool]:
    """For a confirmation: the practice time ("19:00"), the zone's name, and whether the
    time falls in quiet hours (the reminder then comes at their end)."""
    moment = practice_time(profile, policy)
    return moment.strftime("%H:%M"), zone_name(profile, channel, chat_id), policy.quiet(moment)


def quiet_end(policy: Policy) -> str:
    return policy.quiet_end.strftime("%H:%M")
