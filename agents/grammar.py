"""The grammar agent: finds and explains mistakes, with and without a model.

:class:`GrammarChecker` runs the curriculum's rule engine and, when a model is
configured, asks the router for the errors the rules cannot see; the model's
findings are validated (the span must be in the text) and merged, and where
they overlap a rule's finding the rule wins. :class:`GrammarAgent` answers
grammar questions from the curriculum (or the model), checks sentences on
request, runs a write-a-sentence exercise per grammar point, and gives the
longer explanation when a learner asks "why" after a correction.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, Field

from agents import asking
from agents.base import Context, Outcome
from agents.curriculum import Curriculum, GrammarPoint
from agents.library import (
    CurriculumAgent,
    Library,
    Placement,
    current_units,
    grammar_points,
    localised,
    open_question,
    without,
)
from agents.rules import ErrorEvent
from tutor.i18n import t
from tutor.intents import CHECK_PREFIX, written_in
from tutor.llm.router import Router
from tutor.llm.types import Task
from tutor.messages import Inbound, Reply
from tutor.text import fold

logger = logging.getLogger(__name__)

#: Learner text the checker reads at most (a 10,000-character paste is cut here).
CHECK_CHARS = asking.MODEL_CHARS


class ModelError(BaseModel):
    category: str = Field(max_length=40)
    wrong: str = Field(min_length=1, max_length=200)
    right: str = Field(max_length=200)
    explanation: str = Field(default="", max_length=400)


class ModelErrors(BaseModel):
    errors: list[ModelError] = Field(default_factory=list, max_length=10)


def _normalise_category(category: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", category.casefold()).strip("_")[:24] or "other"


def merge(rules: list[ErrorEvent], model: list[ErrorEvent]) -> list[ErrorEvent]:
    """Rule findings plus the model's that do not overlap one; leftmost first."""
    kept = list(rules)
    for event in sorted(model, key=lambda e: e.start):
        if all(event.end <= other.start or event.start >= other.end for other in kept):
            kept.append(event)
    return sorted(kept, key=lambda e: (e.start, e.end))


def from_model(text: str, answer: ModelErrors) -> list[ErrorEvent]:
    """The model's errors that point at real text and change it; the rest are dropped."""
    events: list[ErrorEvent] = []
    folded = text.casefold()
    for error in answer.errors:
        wrong = unicodedata.normalize("NFC", error.wrong.strip())
        right = unicodedata.normalize("NFC", error.right.strip())
        start = folded.find(wrong.casefold())
        if not wrong or start < 0 or fold(wrong) == fold(right) and wrong == right:
            continue
        events.append(
            ErrorEvent(
                _normalise_category(error.category),
                start,
                start + len(wrong),
                text[start : start + len(wrong)],
                right,
                error.explanation.strip(),
                "model",
                f"model:{_normalise_category(error.category)}",
            )
        )
    return events


class GrammarChecker:
    """Rules always; the model too when one is configured and the text is worth it."""

    def __init__(self, library: Library, router: Router | None = None) -> None:
        self.library = library
        self.router = router

    @property
    def has_model(self) -> bool:
        return self.router is not None and bool(self.router.tiers)

    def check(
        self,
        text: str,
        placement: Placement,
        context: Context,
        *,
        thorough: bool = False,
    ) -> list[ErrorEvent]:
        """Mistakes in the first :data:`CHECK_CHARS` characters of ``text``."""
        text = unicodedata.normalize("NFC", text[:CHECK_CHARS])
        if not text.strip():
            return []
        rules = self.library.engine(placement.curriculum).check(text, context.lang)
        if not self.has_model or len(text.split()) < 3:
            return rules
        return merge(rules, self._ask_model(text, placement.curriculum, context, rules, thorough))

    def _ask_model(
        self,
        text: str,
        curriculum: Curriculum,
        context: Context,
        rules: list[ErrorEvent],
        thorough: bool,
    ) -> list[ErrorEvent]:
        assert self.router is not None
        offline = json.dumps(
            {
                "errors": [
                    {"category": e.category, "wrong": e.wrong, "right": e.correction} for e in rules
                ]
            },
            ensure_ascii=False,
        )
        result = self.router.complete(
            asking.request(
                context,
                curriculum.target_language,
                task=Task.CORRECT,
                agent="grammar",
                purpose="correct",
                template="correct",
                learner_text=text,
                fallback=lambda: offline,
                schema=ModelErrors,
                confidence=0.5 if thorough else None,
                max_tokens=500,
            )
        )
        if result.provider == "offline" or not isinstance(result.parsed, ModelErrors):
            return []
        return from_model(text, result.parsed)


def apply(text: str, event: ErrorEvent) -> str:
    """``text`` with one mistake corrected."""
    return text[: event.start] + event.correction + text[event.end :]


def corrected_sentence(text: str, event: ErrorEvent) -> str:
    """The sentence holding the mistake, corrected, with the fix in capitals when short."""
    emphasised = _emphasise(event.wrong, event.correction)
    fixed = text[: event.start] + emphasised + text[event.end :]
    start = max(
        (m.end() for m in re.finditer(r"[.!?\n]\s+", text[: event.start])),
        default=0,
    )
    ends = [m.start() + 1 for m in re.finditer(r"[.!?\n]", fixed[event.start + len(emphasised) :])]
    end = event.start + len(emphasised) + ends[0] if ends else len(fixed)
    sentence = fixed[start:end].strip()
    if len(sentence) > 90:
        sentence = emphasised.strip()
    return sentence.rstrip(".!?…") if not sentence.endswith("?") else sentence


def _emphasise(wrong: str, right: str) -> str:
    """The correction with the words that changed in capitals: "la coche" -> "EL coche"."""
    before = {w.casefold() for w in wrong.split()}
    words = right.split(" ")
    changed = [w for w in words if w and w.casefold() not in before]
    if not changed or len(changed) > 3:
        return right
    return " ".join(w.upper() if w in changed else w for w in words)


@dataclass(frozen=True, slots=True)
class Explanation:
    title: str
    text: str
    examples: tuple[str, ...]


def explain(event: Mapping[str, Any], curriculum: Curriculum, lang: str) -> Explanation | None:
    """The grammar point behind a correction: by rule id, else by the category it targets."""
    points = grammar_points(curriculum)
    point = points.get(str(event.get("rule", "")))
    if point is None:
        category = str(event.get("category", ""))
        point = next(
            (
                p
                for p in points.values()
                if any(pattern.category == category for pattern in p.patterns)
                or category in p.targets
            ),
            None,
        )
    if point is None:
        return None
    return Explanation(
        localised(point.title, lang), localised(point.explanation, lang), tuple(point.examples[:2])
    )


def correction_state(event: ErrorEvent, text: str) -> dict[str, Any]:
    """What "why" needs later, kept in the learner's state."""
    return {
        "rule": event.rule,
        "category": event.category,
        "wrong": event.wrong,
        "right": event.correction,
        "note": event.note,
        "sentence": corrected_sentence(text, event),
    }


_TOPIC_STOP = frozenset(
    fold(w)
    for w in (
        "the a an and or of to in is it do i you we when how what why use which difference "
        "between explain me please can could would about el la los las de en y o que como "
        "cuando por usa uso se explica explicame diferencia entre es un una mi tu the grammar "
        "gramatica rule regla help ayuda with con for para"
    ).split()
)


def find_point(question: str, curriculum: Curriculum, lang: str) -> GrammarPoint | None:
    """The grammar point a question is about: most shared words with its title and targets."""
    words = {w for w in fold(question).split() if w not in _TOPIC_STOP and len(w) > 1}
    if not words:
        return None
    best: tuple[float, GrammarPoint] | None = None
    for point in grammar_points(curriculum).values():
        title = set(fold(" ".join(point.title.values()) + " " + point.id.replace("-", " ")).split())
        body = set(fold(localised(point.explanation, lang) + " " + " ".join(point.targets)).split())
        examples = set(fold(" ".join(point.examples)).split())
        score = 3 * len(words & title) + len(words & body) + 0.5 * len(words & examples)
        if score and (best is None or score > best[0]):
            best = (score, point)
    return best[1] if best and best[0] >= 2 else None


_QUOTED = re.compile(r"[\"“«'‘](.+?)[\"”»'’]")


def sentence_to_check(text: str) -> str | None:
    """The sentence in "check this: ..." or "is 'X' correct?", else None."""
    match = CHECK_PREFIX.match(text)
    if match and text[match.end() :].strip():
        return text[match.end() :].strip()
    folded = fold(text)
    if re.search(r"\b(?:correct|right|bien|correcto|check|corrige|revisa)\b", folded):
        quoted = _QUOTED.search(text)
        if quoted and len(quoted.group(1).split()) >= 2:
            return quoted.group(1)
    return None


class GrammarAgent(CurriculumAgent):
    """Menu item 2, grammar questions, sentence checks, the exercise and "why"."""

    name = "grammar"

    def __init__(self, library: Library, checker: GrammarChecker) -> None:
        super().__init__(library)
        self.checker = checker

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        return self.placed(context, lambda placement: self._handle(inbound, context, placement))

    def _handle(self, inbound: Inbound, context: Context, placement: Placement) -> Outcome:
        exercise = context.state.get("exercise")
        if isinstance(exercise, dict) and exercise.get("agent") == self.name:
            return self._answer(inbound, context, placement, exercise)
        if not inbound.text.strip():
            return self._lesson(context, placement)
        return self._question(inbound, context, placement)

    def start(self, context: Context) -> Outcome:
        """Chosen from the menu: the next grammar point of the learner's level."""
        return self.placed(context, lambda placement: self._lesson(context, placement))

    # Lesson and exercise ---------------------------------------------------

    def _lesson(self, context: Context, placement: Placement) -> Outcome:
        lang = context.lang
        level = str(context.profile.get("level") or "A1")
        done = list(context.profile.get("grammar_done", []))
        points = [p for u in current_units(placement.curriculum, level) for p in u.grammar]
        fresh = [p for p in points if p.id not in done] or points
        point = fresh[0]
        lines = [
            f"📘 {localised(point.title, lang)}",
            short(localised(point.explanation, lang)),
            *(f"• {example}" for example in point.examples[:2]),
            "",
            t("grammar_try", lang),
        ]
        state = {**without(context.state, "exercise", "menu"), "exercise": {
            "agent": self.name, "kind": "write", "point": point.id, "tries": 0,
        }}  # fmt: skip
        return Outcome(self.name, (Reply("\n".join(lines)),), state=state)

    def _answer(
        self, inbound: Inbound, context: Context, placement: Placement, exercise: dict[str, Any]
    ) -> Outcome:
        lang = context.lang
        text = inbound.text.strip()
        target = placement.curriculum.target_language
        if sentence_to_check(text) or written_in(text) == lang != target:
            return self._question(inbound, context, placement)  # a question; the exercise waits
        point = grammar_points(placement.curriculum).get(str(exercise.get("point")))
        state = without(context.state, "exercise", "correction")
        if not text or fold(text) in {"skip", "saltar", "next", "siguiente", "no se", "idk"}:
            return self._next(context, placement, point, state, t("grammar_skipped", lang))
        events = self.checker.check(text, placement, context, thorough=True)
        if not events:
            praise = t("grammar_correct", lang)
            return self._next(context, placement, point, state, praise)
        first = events[0]
        reply = t(
            "grammar_fix",
            lang,
            sentence=corrected_sentence(text, first),
            note=first.note or t("grammar_generic_note", lang),
        )
        tries = int(exercise.get("tries", 0)) + 1
        if tries >= 2:
            outcome = self._next(context, placement, point, state, reply)
            return replace(
                outcome,
                errors=tuple(events),
                state={**(outcome.state or {}), "correction": correction_state(first, text)},
            )
        state = {**state, "exercise": {**exercise, "tries": tries}}
        state["correction"] = correction_state(first, text)
        again = f"{reply}\n{t('grammar_again', lang)}"
        return Outcome(self.name, (Reply(again),), state=state, errors=tuple(events))

    def _next(
        self,
        context: Context,
        placement: Placement,
        point: GrammarPoint | None,
        state: dict[str, Any],
        lead: str,
    ) -> Outcome:
        done = list(context.profile.get("grammar_done", []))
        if point is not None and point.id not in done:
            done.append(point.id)
        profile = {**context.profile, "grammar_done": done[-200:]}
        follow = self._lesson(replace(context, profile=profile, state=state), placement)
        first = follow.replies[0]
        text = f"{lead}\n\n{t('grammar_next', context.lang)}\n{first.text}"
        return Outcome(self.name, (Reply(text),), profile=profile, state=follow.state)

    # Questions ---------------------------------------------------------------

    def _question(self, inbound: Inbound, context: Context, placement: Placement) -> Outcome:
        lang = context.lang
        sentence = sentence_to_check(inbound.text)
        if sentence is not None:
            return self._check(sentence, context, placement)
        point = find_point(inbound.text, placement.curriculum, lang)
        offline = self._offline_answer(point, lang)
        if not self.checker.has_model:
            return Outcome(self.name, (Reply(offline),))
        assert self.checker.router is not None
        curriculum = placement.curriculum
        result = self.checker.router.complete(
            asking.request(
                context,
                curriculum.target_language,
                task=Task.EXPLAIN,
                agent=self.name,
                purpose="explain",
                template="explain",
                learner_text=inbound.text,
                fallback=lambda: offline,
                expected_language=lang,
            )
        )
        return Outcome(self.name, (Reply(result.text or offline),))

    def _offline_answer(self, point: GrammarPoint | None, lang: str) -> str:
        if point is None:
            return t("grammar_unknown_topic", lang)
        lines = [
            f"📘 {localised(point.title, lang)}",
            localised(point.explanation, lang),
            *(f"• {example}" for example in point.examples[:3]),
        ]
        return "\n".join(lines)

    def _check(self, sentence: str, context: Context, placement: Placement) -> Outcome:
        lang = context.lang
        events = self.checker.check(sentence, placement, context, thorough=True)
        if not events:
            return Outcome(self.name, (Reply(t("grammar_check_clean", lang)),))
        fixed = sentence[:CHECK_CHARS]
        for event in sorted(events, key=lambda e: e.start, reverse=True):
            fixed = apply(fixed, event)
        lines = [t("grammar_check_found", lang, count=len(events)), f"✅ {fixed}"]
        for event in events[:4]:
            note = f" {event.note}" if event.note else ""
            lines.append(f"• {event.wrong} → {event.correction}.{note}")
        state = {**context.state, "correction": correction_state(events[0], sentence)}
        return Outcome(self.name, (Reply("\n".join(lines)),), state=state, errors=tuple(events))

    # Why -----------------------------------------------------------------------

    def why(self, inbound: Inbound, context: Context) -> Outcome:
        """The longer explanation of the last correction (progressive disclosure)."""
        lang = context.lang
        correction = context.state.get("correction")
        placement = self.library.place(context.profile)
        if not isinstance(correction, dict) or placement is None:
            return Outcome(self.name, (Reply(t("why_nothing", lang)),))
        found = explain(correction, placement.curriculum, lang)
        lines = [f"{correction.get('wrong')} → {correction.get('right')}"]
        if correction.get("note"):
            lines.append(str(correction["note"]))
        if found is not None:
            lines += [f"📘 {found.title}: {found.text}", *(f"• {e}" for e in found.examples)]
        elif self.checker.has_model and (said := self._model_why(correction, placement, context)):
            lines.append(said)
        lines.append(t("why_example", lang, sentence=correction.get("sentence", "")))
        question = open_question(placement.curriculum, context.state)
        if question:
            lines.append(f"\n{t('back_to_chat', lang)} {question}")
        state = without(context.state, "correction")
        return Outcome(self.name, (Reply("\n".join(lines)),), state=state)

    def _model_why(
        self, correction: Mapping[str, Any], placement: Placement, context: Context
    ) -> str:
        """No grammar point covers it: the strong tier explains (nothing offline)."""
        assert self.checker.router is not None
        target = placement.curriculum.target_language
        question = (
            f'Why is it "{correction.get("right")}" and not '
            f'"{correction.get("wrong")}" in: {correction.get("sentence", "")}'
        )
        result = self.checker.router.complete(
            asking.request(
                context,
                target,
                task=Task.EXPLAIN,
                agent=self.name,
                purpose="why",
                template="explain",
                learner_text=question,
                fallback=lambda: "",
                expected_language=context.lang,
                max_tokens=300,
            )
        )
        return result.text.strip()


def short(text: str, limit: int = 320) -> str:
    """An explanation cut at a sentence end near ``limit`` (chat replies stay short)."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(". ", 1)[0]
    return cut if cut.endswith(".") else f"{cut}."
