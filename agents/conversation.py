"""The conversation agent: keeps the learner talking, one light correction at a time.

Offline it role-plays the curriculum's scenarios at the learner's level: the
character's opening line, then its follow-up questions one per turn, then a
closing line and the next scenario. With a model configured the reply is
written by the router's fast tier in character, told which correction the
rules found so it can weave it in (the offline reply is the fallback).

Every turn: the learner's text is checked; at most one correction is shown,
woven in ("Almost! «Fui a LA playa». Reply "why" for the reason."), with a
hint instead when the learner has made that mistake before; then exactly one
question keeps the conversation going. All mistakes found are recorded.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from agents import asking
from agents.base import Context, Outcome
from agents.curriculum import Scenario
from agents.grammar import (
    CHECK_CHARS,
    GrammarChecker,
    corrected_sentence,
    correction_state,
)
from agents.library import (
    CurriculumAgent,
    Library,
    Placement,
    localised,
    pick,
    scenarios_for,
    units_for,
    without,
)
from agents.rules import ErrorEvent
from tutor import cards, error_events
from tutor.i18n import language_name, t
from tutor.intents import other_language, written_in
from tutor.llm.types import ChatMessage, Task
from tutor.messages import Inbound, Reply
from tutor.models import utcnow
from tutor.text import fold

logger = logging.getLogger(__name__)

#: A mistake seen this many times before gets a hint instead of "reply why".
REPEAT_HINT_AFTER = 2

_ACK = {
    "es": ("¡Genial!", "¡Qué bien!", "Muy bien.", "¡Perfecto!", "Ah, vale.", "¡Estupendo!"),
    "en": ("Nice!", "Great!", "Sounds good!", "Perfect!", "I see.", "Lovely!"),
}
_SYMBOLS_ONLY = re.compile(r"^[\W\d_]*$", re.UNICODE)


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("L") for ch in text)


class ConversationAgent(CurriculumAgent):
    """Menu item 1 and every free message the other routes do not claim."""

    name = "conversation"

    def __init__(
        self, library: Library, checker: GrammarChecker, engine: Engine | None = None
    ) -> None:
        super().__init__(library)
        self.checker = checker
        self.engine = engine

    def start(self, context: Context) -> Outcome:
        """A new role-play at the learner's level."""
        return self.placed(context, lambda placement: self._begin(context, placement, lead=""))

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        return self.placed(context, lambda placement: self._turn(inbound, context, placement))

    # Words the learner uses ----------------------------------------------------

    def _capture(
        self, text: str, events: list[ErrorEvent], context: Context, placement: Placement
    ) -> None:
        """Curriculum words the learner used correctly become review cards, due in two days
        (they know them already), at most three a message."""
        if context.learner_id is None or self.engine is None:
            return
        flagged = {word for event in events for word in fold(event.wrong).split()}
        used = set(fold(text).split()) - flagged
        level = str(context.profile.get("level") or "A1")
        keys = [
            f"{placement.key}:{item.lemma}"
            for unit in units_for(placement.curriculum, level)
            for item in unit.vocabulary
            if len(item.lemma) >= 4 and fold(item.lemma) in used
        ]
        if not keys:
            return  # most messages: no query at all
        have = cards.item_keys(self.engine, context.learner_id)
        fresh = [key for key in dict.fromkeys(keys) if key not in have]
        now = utcnow()
        for key in fresh[:3]:
            due = now + timedelta(days=2)
            cards.add(self.engine, context.learner_id, key, kind="used", now=now, due=due)

    # One turn ----------------------------------------------------------------

    def _turn(self, inbound: Inbound, context: Context, placement: Placement) -> Outcome:
        lang = context.lang
        target = placement.curriculum.target_language
        text = inbound.text.strip()
        scenario = self._scenario(context, placement)
        if scenario is None:
            if self.checker.has_model and _has_letters(text) and other_language(text) is None:
                return self._free(inbound, context, placement)
            lead = self._reaction(text, context, placement)
            return self._begin(context, placement, lead=lead)
        lines = [scenario.opening, *scenario.follow_ups]
        step = min(int(context.state["scenario"].get("step", 0)), len(lines) - 1)
        question = lines[step]
        if not text or not _has_letters(text):
            nudge = t("say_something", lang, language=language_name(target, lang))
            return Outcome(self.name, (Reply(f"{_emoji_reply(text)}{nudge}\n{question}"),))
        foreign = other_language(text)
        if foreign is not None:
            reply = t("other_language", lang, language=language_name(target, lang))
            return Outcome(self.name, (Reply(f"{reply}\n{question}"),))
        written = written_in(text)
        if written == lang and written != target and len(text) <= 200:
            sample = pick(list(scenario.sample_turns), f"{context.request_id}:{step}")
            reply = t("try_in_target", lang, language=language_name(target, lang), sample=sample)
            return Outcome(self.name, (Reply(f"{reply}\n{question}"),))

        events = self.checker.check(text, placement, context)
        self._capture(text, events, context, placement)
        shown = _to_show(events)
        correction = self._correction(text, shown, context)
        long_note = t("long_paste", lang) if len(text) > CHECK_CHARS else ""
        next_step = step + 1
        state = without(context.state, "correction", "menu", "exercise")
        if shown is not None:
            state["correction"] = correction_state(shown, text)
        if next_step < len(lines):
            state["scenario"] = {**context.state["scenario"], "step": next_step}
            reacts = "!" in lines[next_step]  # the line has its own "¡Qué bien!"
            ack = "" if events or reacts else pick(list(_ACK[target]), f"{context.request_id}:a")
            offline = _join(long_note, correction or ack, lines[next_step])
        else:
            closing = scenario.closing or pick(list(_ACK[target]), context.request_id)
            done = [*context.profile.get("scenarios_done", []), scenario.id][-50:]
            profile = {**context.profile, "scenarios_done": done}
            state.pop("scenario", None)
            begun = self._begin(
                replace(context, profile=profile, state=state),
                placement,
                lead=_join(long_note, correction or "", closing, t("next_scenario", lang)),
            )
            return replace(begun, profile=profile, errors=tuple(events))
        reply = self._with_model(inbound, context, placement, scenario, correction, offline)
        return Outcome(self.name, (Reply(reply),), state=state, errors=tuple(events))

    def _reaction(self, text: str, context: Context, placement: Placement) -> str:
        """Before a role-play starts: a correction of what they wrote, if any."""
        if not text or not _has_letters(text):
            return _emoji_reply(text)
        if other_language(text) is not None:
            target = language_name(placement.curriculum.target_language, context.lang)
            return t("other_language", context.lang, language=target)
        events = self.checker.check(text, placement, context)
        return self._correction(text, _to_show(events), context) or ""

    def _correction(self, text: str, event: ErrorEvent | None, context: Context) -> str | None:
        """The one correction, woven in; a hint when the mistake keeps coming back."""
        if event is None:
            return None
        sentence = corrected_sentence(text, event)
        seen = self._seen(context).get(event.rule, 0)
        if seen >= REPEAT_HINT_AFTER and event.note:
            return t("correction_again", context.lang, sentence=sentence, note=event.note)
        return t("correction", context.lang, sentence=sentence)

    def _seen(self, context: Context) -> dict[str, int]:
        if context.learner_id is None or self.engine is None:
            return {}
        try:
            return error_events.counts_by_rule(self.engine, context.learner_id)
        except Exception:  # a hint is a nicety: never lose the turn over it
            logger.exception("could not read past mistakes")
            return {}

    # Scenarios -----------------------------------------------------------------

    def _scenario(self, context: Context, placement: Placement) -> Scenario | None:
        current = context.state.get("scenario")
        if not isinstance(current, Mapping):
            return None
        for unit in placement.curriculum.units():
            for scenario in unit.scenarios:
                if scenario.id == current.get("id"):
                    return scenario
        return None

    def _begin(self, context: Context, placement: Placement, lead: str) -> Outcome:
        lang = context.lang
        level = str(context.profile.get("level") or "A1")
        options = scenarios_for(placement.curriculum, level)
        done = list(context.profile.get("scenarios_done", []))
        fresh = [s for s in options if s.id not in done] or options
        scenario = fresh[0] if not done else pick(fresh, f"{context.learner_key}:{len(done)}")
        intro = t(
            "scenario_intro",
            lang,
            title=localised(scenario.title, lang),
            setting=localised(scenario.setting, lang),
            goal=localised(scenario.goal, lang),
        )
        state = without(context.state, "menu", "exercise")
        state["scenario"] = {"id": scenario.id, "step": 0}
        text = _join(lead, intro, f"💬 {scenario.opening}")
        return Outcome(self.name, (Reply(text),), state=state)

    # With a model ---------------------------------------------------------------

    def _free(self, inbound: Inbound, context: Context, placement: Placement) -> Outcome:
        """Free conversation through the fast tier; offline it becomes a role-play."""
        assert self.checker.router is not None
        text = inbound.text.strip()
        events = self.checker.check(text, placement, context)
        self._capture(text, events, context, placement)
        shown = _to_show(events)
        correction = self._correction(text, shown, context)
        begun = self._begin(context, placement, lead=correction or "")
        target = placement.curriculum.target_language
        result = self.checker.router.complete(
            asking.request(
                context,
                target,
                task=Task.CHAT,
                agent=self.name,
                purpose="chat",
                template="free_chat",
                learner_text=text,
                fallback=lambda: begun.replies[0].text,
                variables={"correction": correction or "none"},
                history=_history(context),
                max_tokens=220,
            )
        )
        state = without(context.state, "correction", "menu", "exercise")
        if shown is not None:
            state["correction"] = correction_state(shown, text)
        if result.provider == "offline":
            return replace(begun, state={**(begun.state or {}), **state}, errors=tuple(events))
        return Outcome(self.name, (Reply(result.text.strip()),), state=state, errors=tuple(events))

    def _with_model(
        self,
        inbound: Inbound,
        context: Context,
        placement: Placement,
        scenario: Scenario,
        correction: str | None,
        offline: str,
    ) -> str:
        if not self.checker.has_model:
            return offline
        assert self.checker.router is not None
        result = self.checker.router.complete(
            asking.request(
                context,
                placement.curriculum.target_language,
                task=Task.CHAT,
                agent=self.name,
                purpose="chat",
                template="roleplay",
                learner_text=inbound.text,
                fallback=lambda: offline,
                variables={
                    "setting": localised(scenario.setting, "en"),
                    "goal": localised(scenario.goal, "en"),
                    "character": scenario.opening,
                    "correction": correction or "none",
                    "next_question": offline.rsplit("\n", 1)[-1],
                },
                history=_history(context),
                max_tokens=220,
            )
        )
        return result.text.strip() or offline


def _history(context: Context) -> tuple[ChatMessage, ...]:
    """The last few turns as chat messages, oldest first."""
    return tuple(m for turn in context.recent_turns[-6:] for m in _turn_messages(turn))


def _turn_messages(turn: Mapping[str, Any]) -> tuple[ChatMessage, ...]:
    said = str(turn.get("text") or "")
    reply = turn.get("reply") or []
    answered = "\n".join(str(r) for r in reply) if isinstance(reply, list) else str(reply)
    out = []
    if said:
        out.append(ChatMessage("user", said[:500]))
    if answered:
        out.append(ChatMessage("assistant", answered[:500]))
    return tuple(out)


def _to_show(events: list[ErrorEvent]) -> ErrorEvent | None:
    """The one mistake to mention: the rules' first (their "why" is the curriculum's), else
    the model's first."""
    return next((e for e in events if e.source == "rules"), events[0] if events else None)


def _emoji_reply(text: str) -> str:
    """A smile back for a message of only emoji."""
    emoji = any(unicodedata.category(ch) == "So" for ch in text)
    return "😄 " if emoji and _SYMBOLS_ONLY.match(text) else ""


def _join(*parts: str) -> str:
    return "\n".join(part.strip() for part in parts if part and part.strip())
