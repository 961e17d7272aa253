"""Joining a teacher's class from the chat.

    "/join K7M2QX" (Telegram) · "join K7M2QX" / "unirme K7M2QX" (WhatsApp)
        → in the class (moved from another one), pinned to its curriculum when the
          learner practises its language; "You joined <class> (teacher <name>)."
    the same code again → "You're already in <class>"
    a closed or unknown code → says so and what to do

Joining is free (never behind the paywall) and works before first contact is
finished: the learner joins at once, and :meth:`CohortAgent.settle` pins the class's
curriculum when onboarding tells which language they practise.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine

from agents.base import Context, Outcome
from agents.library import Library
from tutor import cohorts
from tutor.cohorts import Cohort, Joined
from tutor.i18n import t
from tutor.intents import join_request
from tutor.messages import Inbound, Reply

logger = logging.getLogger(__name__)

_JOINED_KEYS = {
    Joined.JOINED: "join_done",
    Joined.MOVED: "join_moved",
    Joined.ALREADY: "join_already",
}


class CohortAgent:
    """Puts a learner in the class whose code they sent."""

    name = "cohort"

    def __init__(self, engine: Engine, library: Library) -> None:
        self.engine = engine
        self.library = library

    def start(self, context: Context) -> Outcome:
        return Outcome(self.name, (Reply(t("join_ask_code", context.lang)),))

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        code = join_request(inbound.text) or ""
        if not code or context.learner_id is None:
            return self.start(context)
        result = cohorts.join(self.engine, context.learner_id, code)
        lang = context.lang
        cohort = result.cohort
        if result.status is Joined.UNKNOWN or cohort is None:
            shown = cohorts.normalise_code(code)[:16]
            return Outcome(self.name, (Reply(t("join_unknown", lang, code=shown)),))
        if result.status is Joined.ARCHIVED:
            return Outcome(self.name, (Reply(t("join_archived", lang, cohort=cohort.name)),))
        logger.info("joined a cohort", extra={"cohort_id": cohort.id, "join": result.status.value})
        return Outcome(
            self.name,
            (Reply(self._welcome(result.status, cohort, context)),),
            profile=self._pinned(context.profile, cohort),
        )

    def settle(self, profile: dict[str, Any], learner_id: int | None) -> dict[str, Any] | None:
        """After first contact (or a change of language): the profile pinned to the class's
        curriculum, or None when that changes nothing."""
        if learner_id is None:
            return None
        cohort = cohorts.of_learner(self.engine, learner_id)
        return self._pinned(profile, cohort) if cohort is not None else None

    def _pinned(self, profile: dict[str, Any], cohort: Cohort) -> dict[str, Any] | None:
        if cohort.curriculum is None:
            return None
        choices = cohorts.curriculum_choices(self.engine, self.library)
        language = {c.key: c.target_language for c in choices}.get(cohort.curriculum)
        return cohorts.pin(profile, cohort.curriculum, language)

    @staticmethod
    def _welcome(status: Joined, cohort: Cohort, context: Context) -> str:
        lang = context.lang
        lines = [t(_JOINED_KEYS[status], lang, cohort=cohort.name, teacher=cohort.teacher_name)]
        if cohort.weekly_goal:
            lines.append(t("join_goal", lang, goal=cohort.weekly_goal))
        if context.onboarded and context.state.get("flow") != "onboarding":
            lines.append(t("join_next", lang))
        return "\n".join(lines)
