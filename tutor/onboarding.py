"""First contact: target language, explanation language, level, time zone, practice time.

The flow is data: ``STEPS`` lists the questions in order; the learner's
``state`` holds ``{"flow": "onboarding", "step": <name>, "steps": [...]}``.

    target ─► explain ─► level ─► timezone ─► practice_time ─► done (menu)
      ▲                                                      │
      └────────── "language" runs target ─► explain ─────────┘
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.base import Context, Outcome
from tutor.i18n import LANGUAGE_NAMES_NATIVE, language_name, t
from tutor.messages import Inbound, Option, Reply
from tutor.text import fold, parse_choice, parse_clock, parse_timezone

SKIP_WORDS = {"skip", "saltar", "omitir", "no", "later", "luego", "despues"}
LEVELS = ("A1", "A2", "B1")
FULL_STEPS = ("target", "explain", "level", "timezone", "practice_time")
LANGUAGE_STEPS = ("target", "explain")

_TARGET_WORDS = {
    "es": {"spanish", "espanol", "castellano", "es"},
    "en": {"english", "ingles", "en"},
}


@dataclass(frozen=True, slots=True)
class StepResult:
    """What parsing one answer produced: profile changes, or None if not understood."""

    changes: dict[str, Any] | None
    note: str | None = None


def _language_options(lang: str) -> tuple[Option, ...]:
    del lang
    return (Option("es", LANGUAGE_NAMES_NATIVE["es"]), Option("en", LANGUAGE_NAMES_NATIVE["en"]))


def _explain_options(lang: str) -> tuple[Option, ...]:
    del lang
    return (Option("en", LANGUAGE_NAMES_NATIVE["en"]), Option("es", LANGUAGE_NAMES_NATIVE["es"]))


def _level_options(lang: str) -> tuple[Option, ...]:
    return tuple(Option(level, t(f"level_{level.lower()}", lang)) for level in LEVELS)


def _pick(answer: str, options: tuple[Option, ...], words: dict[str, set[str]]) -> str | None:
    index = parse_choice(answer, len(options))
    if index is not None:
        return options[index].key
    folded = fold(answer)
    for option in options:
        if folded == fold(option.key) or folded == fold(option.label):
            return option.key
        if folded in words.get(option.key, set()):
            return option.key
    return None


def _question(step: str, profile: dict[str, Any], lang: str) -> Reply:
    if step == "target":
        return Reply(t("ask_target", lang), _language_options(lang))
    if step == "explain":
        return Reply(t("ask_explain", lang), _explain_options(lang))
    if step == "level":
        target = language_name(str(profile.get("target_language", "es")), lang)
        return Reply(t("ask_level", lang, language=target), _level_options(lang))
    if step == "timezone":
        return Reply(t("ask_timezone", lang))
    return Reply(t("ask_practice_time", lang))


def _answer(step: str, answer: str, lang: str) -> StepResult:
    if step == "target":
        key = _pick(answer, _language_options(lang), _TARGET_WORDS)
        return StepResult({"target_language": key} if key else None)
    if step == "explain":
        key = _pick(answer, _explain_options(lang), _TARGET_WORDS)
        return StepResult({"explanation_language": key} if key else None)
    if step == "level":
        key = _pick(answer, _level_options(lang), {})
        return StepResult({"level": key} if key else None)
    if fold(answer) in SKIP_WORDS:
        return StepResult({"timezone": "UTC"} if step == "timezone" else {"practice_time": None})
    if step == "timezone":
        zone = parse_timezone(answer)
        return StepResult({"timezone": zone} if zone else None)
    clock = parse_clock(answer)
    return StepResult({"practice_time": clock} if clock else None)


_NOT_UNDERSTOOD = {
    "timezone": "did_not_understand_timezone",
    "practice_time": "did_not_understand_time",
}


class Onboarding:
    """Asks the first-contact questions one at a time and records the answers."""

    name = "onboarding"

    def __init__(self, finish: Callable[[Context], tuple[Reply, ...]]) -> None:
        self._finish = finish

    def begin(self, context: Context, steps: tuple[str, ...] = FULL_STEPS) -> Outcome:
        """Start (or restart) the flow at its first step."""
        lang = context.lang
        first = _question(steps[0], context.profile, lang)
        if steps == FULL_STEPS and not context.onboarded:
            first = Reply(t("welcome", lang), first.options)
        state = {"flow": "onboarding", "step": steps[0], "steps": list(steps)}
        return Outcome(self.name, (first,), state=state)

    def reask(self, context: Context, note: str | None = None) -> Outcome:
        step = str(context.state.get("step", "target"))
        question = _question(step, context.profile, context.lang)
        replies = (Reply(note), question) if note else (question,)
        return Outcome(self.name, replies)

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        state = context.state
        steps = tuple(state.get("steps") or FULL_STEPS)
        step = str(state.get("step") or steps[0])
        answer = inbound.button or inbound.text
        result = _answer(step, answer, context.lang)
        if result.changes is None:
            note = t(_NOT_UNDERSTOOD.get(step, "did_not_understand_choice"), context.lang)
            return self.reask(context, note)

        profile = {**context.profile, **result.changes}
        lang = str(profile.get("explanation_language") or context.lang)
        position = steps.index(step) if step in steps else len(steps) - 1
        replies: list[Reply] = []
        if step == "timezone" and profile.get("timezone") != "UTC":
            replies.append(Reply(t("timezone_set", lang, zone=profile["timezone"])))
        if position + 1 < len(steps):
            next_step = steps[position + 1]
            question = _question(next_step, profile, lang)
            if replies:
                replies[0] = Reply(f"{replies[0].text}\n{question.text}", question.options)
            else:
                replies.append(question)
            state = {"flow": "onboarding", "step": next_step, "steps": list(steps)}
            return Outcome(self.name, tuple(replies), profile=profile, state=state)

        profile["onboarded"] = True
        done = Context(context.learner_key, profile, {}, context.recent_turns)
        if profile.get("practice_time"):
            closing = t("onboarding_done_time", lang, time=profile["practice_time"])
        else:
            closing = t("onboarding_done", lang)
        finish = self._finish(done)
        first = (
            Reply(f"{closing}\n{finish[0].text}", finish[0].options) if finish else Reply(closing)
        )
        return Outcome(self.name, (first, *finish[1:]), profile=profile, state={"menu": "main"})
