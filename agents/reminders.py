"""Practice reminders from the chat, in both languages, free (never behind the paywall).

    "stop reminders" / "para los recordatorios" / "no más recordatorios"
        → reminders off; "Okay, no more reminders. ..."
    "start reminders" / "activa los recordatorios"
        → reminders on; "Reminders are on again ⏰ I'll remind you at 19:00 (<zone> time)."
    "remind me at 7pm" / "recuérdame a las 19:00" / "/remind 07:30"
        → practice time set, reminders on; the time and zone confirmed (and the end of
          quiet hours when the time falls inside them)

Only the profile changes here: the worker stores it in the turn's transaction, which
moves ``learners.next_reminder_at`` (:func:`tutor.reminder_times.column_change`).
"""

from __future__ import annotations

from typing import Any

from agents.base import Context, Outcome
from tutor import reminder_times
from tutor.i18n import t
from tutor.intents import reminder_request
from tutor.messages import Inbound, Reply
from tutor.reminder_times import Policy


class ReminderAgent:
    """Turns reminders on or off and sets the practice time."""

    name = "reminders"

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def start(self, context: Context) -> Outcome:
        return Outcome(self.name, (Reply(t("did_not_understand_time", context.lang)),))

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        request = reminder_request(inbound.text)
        if request is None:
            return self.start(context)
        action, clock = request
        lang = context.lang
        if action == "stop":
            stopped = {**context.profile, "reminders": False}
            return Outcome(self.name, (Reply(t("reminders_stopped", lang)),), profile=stopped)
        profile: dict[str, Any] = {**context.profile, "reminders": True}
        if action == "at":
            profile["practice_time"] = clock
        when = self._when(profile, inbound, lang)
        first = t("reminders_started", lang) if action == "start" else ""
        text = f"{first}\n{when}".strip()
        return Outcome(self.name, (Reply(text),), profile=profile)

    def _when(self, profile: dict[str, Any], inbound: Inbound, lang: str) -> str:
        """When the reminders will come, in the learner's zone."""
        moment, zone, quiet = reminder_times.slot_text(
            profile, inbound.channel.value, inbound.chat_id, self.policy
        )
        if quiet:
            end = reminder_times.quiet_end(self.policy)
            return t("reminder_at_quiet", lang, time=moment, end=end, zone=zone)
        return t("reminder_at", lang, time=moment, zone=zone)
