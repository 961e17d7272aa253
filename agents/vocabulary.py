"""Vocabulary on a spaced-repetition schedule: new words in context, reviews in the chat.

Each curriculum word a learner meets becomes an FSRS card (:mod:`tutor.cards`).
Starting the activity, or answering, moves on to the next thing: a due card's
question, else a new word of the learner's level (the most frequent words
first, a few a day as the curriculum sets), else "all done" with the time of
the next review. Questions rotate by how often the card was seen: pick the
right one (numbered options), translate, fill the gap in the word's example,
say what it means, say it in a voice note (when the server can hear the
language). Answers are checked tolerantly (:mod:`agents.answers`) and
the verdict and response time give the FSRS rating.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from agents import mistakes
from agents.answers import Verdict, check_answer
from agents.base import Agent, Context, Outcome
from agents.curriculum import Curriculum, VocabularyItem
from agents.lexicon_es import zipf
from agents.library import (
    CurriculumAgent,
    Library,
    Placement,
    headword,
    localised,
    pick,
    units_for,
    without,
)
from tutor import cards, progress
from tutor.i18n import language_name, t
from tutor.intents import DISPUTE, MISTAKES, matchable
from tutor.messages import Inbound, Kind, Option, Reply
from tutor.models import utcnow
from tutor.text import fold, parse_choice
from voice.decode import AudioError
from voice.fetch import FetchError
from voice.stt import SpeechError, Transcript

EXERCISES = ("choice", "translate", "cloze", "meaning", "say")
#: The cards this agent reviews (sounds are drilled by the pronunciation agent).
REVIEWED_HERE = ("word", "used", "error")
_YES = frozenset({"1", "yes", "y", "si", "sí", "ok", "vale", "sure", "claro", "add", "añadir"})
_NO = frozenset({"2", "no", "nope", "no gracias", "no thanks"})


def item_key(placement_key: str, item: VocabularyItem) -> str:
    return f"{placement_key}:{item.lemma}"


class VocabularyAgent(CurriculumAgent):
    name = "vocabulary"

    def __init__(
        self,
        library: Library,
        engine: Engine,
        fallback: Agent | None = None,
        clock: Callable[[], datetime] = utcnow,
        ears: Callable[[Inbound, str], Transcript] | None = None,
        can_hear: Callable[[str], bool] = lambda language: False,
    ) -> None:
        super().__init__(library)
        self.engine = engine
        self.fallback = fallback
        self.clock = clock
        self.ears = ears
        self.can_hear = can_hear

    # Entry points -------------------------------------------------------

    def start(self, context: Context) -> Outcome:
        if context.learner_id is not None:  # mistakes recorded since the last session
            mistakes.sync(self.engine, context.learner_id, self.clock())
        return self.placed(context, lambda placement: self._next(context, placement, ()))

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        folded = matchable(inbound.text)
        if context.learner_id is not None and DISPUTE.search(folded):
            return self._dispute(context)
        if context.learner_id is not None and MISTAKES.search(folded):
            text = mistakes.listing(self.engine, context.learner_id, context.lang)
            return Outcome(self.name, (Reply(text),))
        exercise = context.state.get("exercise")
        if isinstance(exercise, dict) and exercise.get("agent") == self.name:
            if exercise.get("type") == "offer":
                return self._offer_answer(inbound, context, exercise)
            return self.placed(
                context, lambda placement: self._answer(inbound, context, placement, exercise)
            )
        return self.start(context)

    def offer(
        self, context: Context, placement_key: str, item: VocabularyItem
    ) -> tuple[str, dict[str, Any]] | None:
        """After a look-up: the question offering the word as a card, and the state that
        waits for the answer (None if the learner has the card already)."""
        if context.learner_id is None:
            return None
        key = item_key(placement_key, item)
        if cards.get(self.engine, context.learner_id, key) is not None:
            return None
        exercise = {"agent": self.name, "type": "offer", "item": key}
        return t("vocab_offer", context.lang), {
            **without(context.state, "menu"),
            "exercise": exercise,
        }

    def _dispute(self, context: Context) -> Outcome:
        correction = context.state.get("correction")
        if not isinstance(correction, dict) or not correction.get("rule"):
            return Outcome(self.name, (Reply(t("mistake_nothing_to_dispute", context.lang)),))
        assert context.learner_id is not None
        mistakes.dispute(self.engine, context.learner_id, str(correction["rule"]), self.clock())
        text = t(
            "mistake_disputed",
            context.lang,
            wrong=correction.get("wrong", ""),
            right=correction.get("right", ""),
        )
        return Outcome(self.name, (Reply(text),), state=without(context.state, "correction"))

    # Offers -----------------------------------------------------------------

    def _offer_answer(
        self, inbound: Inbound, context: Context, exercise: dict[str, Any]
    ) -> Outcome:
        answer = fold(inbound.text)
        state = without(context.state, "exercise")
        if answer in _YES and context.learner_id is not None:
            cards.add(self.engine, context.learner_id, str(exercise["item"]), now=self.clock())
            reply = t("vocab_added", context.lang)
            return Outcome(self.name, (Reply(reply),), state=state)
        if answer in _NO:
            return Outcome(self.name, (Reply(t("vocab_not_added", context.lang)),), state=state)
        if self.fallback is not None:  # something else entirely: the offer lapses
            return self.fallback.handle(inbound, replace(context, state=state))
        return Outcome(self.name, (Reply(t("vocab_offer", context.lang)),))

    # Reviews ------------------------------------------------------------------

    def _answer(
        self, inbound: Inbound, context: Context, placement: Placement, exercise: dict[str, Any]
    ) -> Outcome:
        lang = context.lang
        learner = context.learner_id
        stored = cards.by_id(self.engine, int(exercise.get("card", 0))) if learner else None
        item = self._item(str(exercise.get("item", "")))
        kind = str(exercise.get("type"))
        if stored is None or learner is None or stored.learner_id != learner:
            return self._next(context, placement, ())
        if item is None and kind != "mistake":
            return self._next(context, placement, ())
        answer = inbound.text
        if inbound.kind in (Kind.VOICE, Kind.AUDIO):
            heard = self._hear(inbound, str(exercise.get("language", "es")), context)
            if isinstance(heard, Outcome):
                return heard
            answer = heard
        verdict = self._verdict(answer, exercise, context)
        now = self.clock()
        asked = _parse_time(exercise.get("asked_at"))
        response_ms = int((now - asked).total_seconds() * 1000) if asked else None
        rating = cards.rating_for(
            verdict.correct, verdict.kind, response_ms, recognition=kind == "choice"
        )
        cards.review(
            self.engine,
            stored,
            rating,
            exercise=kind,
            verdict=verdict.kind,
            request_id=context.request_id or f"{learner}:{stored.id}:{now.isoformat()}",
            response_ms=response_ms,
            now=now,
        )
        outcome = self._after(inbound, context, placement, exercise, verdict, item)
        level = progress.adapt(self.engine, learner, context.profile, now=now)
        if level is None:
            return outcome
        key = (
            "level_up"
            if progress.LEVELS.index(level)
            > progress.LEVELS.index(str(context.profile.get("level") or "A1"))
            else "level_down"
        )
        news = Reply(t(key, lang, level=level))
        profile = {**context.profile, "level": level, "level_changed_at": now.isoformat()}
        return replace(outcome, replies=(*outcome.replies, news), profile=profile)

    def _after(
        self,
        inbound: Inbound,
        context: Context,
        placement: Placement,
        exercise: dict[str, Any],
        verdict: Verdict,
        item: VocabularyItem | None,
    ) -> Outcome:
        lang = context.lang
        kind = str(exercise.get("type"))
        target = placement.curriculum.target_language
        if item is None:  # a recurring mistake put right, or not
            right = verdict.note or t("vocab_right", lang)
            expected = str(exercise.get("expected", ""))
            lead = right if verdict.correct else t("mistake_wrong", lang, right=expected)
            return self._next(context, placement, (lead,))
        lead_line = self._feedback(verdict, item, target, lang, kind)
        return self._next(context, placement, (lead_line,))

    def _hear(self, inbound: Inbound, language: str, context: Context) -> str | Outcome:
        """What the learner said in a voice note, or the friendly answer when it can't be
        heard (the exercise stays open)."""
        if self.ears is None:
            return Outcome(self.name, (Reply(t("vocab_type_it", context.lang)),))
        try:
            return self.ears(inbound, language).text
        except (FetchError, AudioError) as exc:
            return Outcome(self.name, (Reply(t(f"voice_{exc.reason}", context.lang)),))
        except SpeechError:
            return Outcome(self.name, (Reply(t("voice_unavailable", context.lang)),))

    def _verdict(self, text: str, exercise: dict[str, Any], context: Context) -> Verdict:
        kind = exercise.get("type")
        expected = str(exercise.get("expected", ""))
        if kind == "choice":
            options = [str(o) for o in exercise.get("options", [])]
            index = parse_choice(text, len(options))
            if index is not None:
                chosen = options[index]
                right = chosen == expected
                return Verdict(right, "exact" if right else "wrong", expected, "")
        language = str(exercise.get("language", "es"))
        return check_answer(expected, text, language=language, explain_in=context.lang)

    @staticmethod
    def _feedback(verdict: Verdict, item: VocabularyItem, target: str, lang: str, kind: str) -> str:
        word = headword(item, target)
        if verdict.correct:
            note = verdict.note or t("vocab_right", lang)
            return note if kind != "meaning" else f"{note} ({word})"
        if verdict.kind == "wrong_article" and verdict.note:
            return verdict.note
        meaning = localised(item.translations, lang)
        return t("vocab_wrong", lang, word=word, meaning=meaning, example=item.example)

    # What comes next ----------------------------------------------------------

    def _next(self, context: Context, placement: Placement, lead: tuple[str, ...]) -> Outcome:
        lang = context.lang
        learner = context.learner_id
        state = without(context.state, "exercise", "menu")
        if learner is None:
            return Outcome(self.name, (Reply(t("vocab_unavailable", lang)),), state=state)
        now = self.clock()
        due = cards.due(self.engine, learner, now=now, limit=1, kinds=REVIEWED_HERE)
        intro: list[str] = []
        if due and due[0].kind == "error":
            found = self._mistake(context, due[0], placement, now)
            if found is not None:
                question, exercise = found
                text = "\n".join((*lead, question))
                return Outcome(self.name, (Reply(text),), state={**state, "exercise": exercise})
        if due and (item := self._item(due[0].item_key)) is not None:
            stored = due[0]
        else:
            new = self._new_word(context, placement, now)
            if new is None:
                when = cards.next_due(self.engine, learner)
                text = (
                    t("vocab_done", lang)
                    if when is None
                    else t("vocab_done_until", lang, when=_when(when, now, context, lang))
                )
                return Outcome(self.name, (Reply("\n".join((*lead, text))),), state=state)
            item, stored = new
            intro.append(self.introduce(item, placement.curriculum, lang))
        question, exercise = self._question(item, stored, placement, lang, now)
        options = tuple(
            Option(str(i + 1), text) for i, text in enumerate(exercise.get("options", []))
        )
        text = "\n".join((*lead, *intro, question))
        return Outcome(self.name, (Reply(text, options),), state={**state, "exercise": exercise})

    def _mistake(
        self, context: Context, stored: cards.StoredCard, placement: Placement, now: datetime
    ) -> tuple[str, dict[str, Any]] | None:
        """The exercise for a recurring-mistake card, from one of the learner's sentences."""
        assert context.learner_id is not None
        rule = stored.item_key.removeprefix(mistakes.PREFIX)
        seed = f"{stored.id}:{stored.reps}"
        found = mistakes.exercise(self.engine, context.learner_id, rule, seed, context.lang)
        if found is None:
            cards.retire(self.engine, stored.id, now=now)  # nothing left to show
            return None
        question, expected = found
        exercise = {
            "agent": self.name,
            "card": stored.id,
            "item": stored.item_key,
            "asked_at": now.isoformat(),
            "language": placement.curriculum.target_language,
            "type": "mistake",
            "expected": expected,
        }
        return question, exercise

    def _new_word(
        self, context: Context, placement: Placement, now: datetime
    ) -> tuple[VocabularyItem, cards.StoredCard] | None:
        """The next new word of the learner's level, if today's allowance is not used up."""
        learner = context.learner_id
        assert learner is not None
        curriculum = placement.curriculum
        today = cards.start_of_day(now, context.profile.get("timezone"))
        if cards.added_since(self.engine, learner, today) >= curriculum.new_words_per_day:
            return None
        known = cards.item_keys(self.engine, learner)
        level = str(context.profile.get("level") or "A1")
        target = curriculum.target_language
        for unit in units_for(curriculum, level):
            fresh = [item for item in unit.vocabulary if item_key(placement.key, item) not in known]
            if fresh:
                item = max(fresh, key=lambda i: zipf(i.lemma, target))  # first of equals
                stored = cards.add(self.engine, learner, item_key(placement.key, item), now=now)
                return item, stored
        return None

    @staticmethod
    def introduce(item: VocabularyItem, curriculum: Curriculum, lang: str) -> str:
        """How a new word is first shown (also the staff preview of a unit)."""
        return t(
            "vocab_new",
            lang,
            word=headword(item, curriculum.target_language),
            meaning=localised(item.translations, lang),
            example=item.example,
            example_meaning=localised(item.example_translation, lang),
        )

    def _question(
        self,
        item: VocabularyItem,
        stored: cards.StoredCard,
        placement: Placement,
        lang: str,
        now: datetime,
    ) -> tuple[str, dict[str, Any]]:
        curriculum = placement.curriculum
        target = curriculum.target_language
        kind = EXERCISES[stored.reps % len(EXERCISES)]
        word = headword(item, target)
        meaning = localised(item.translations, lang)
        exercise: dict[str, Any] = {
            "agent": self.name,
            "card": stored.id,
            "item": stored.item_key,
            "asked_at": now.isoformat(),
            "language": target,
        }
        gap = _cloze(item)
        if kind == "cloze" and gap is None or kind == "say" and not self.can_hear(target):
            kind = "translate"
        if kind == "choice":
            options = self._options(item, curriculum, word, stored.item_key)
            exercise.update(type="choice", expected=word, options=options)
            return t("vocab_choice", lang, meaning=meaning), exercise
        if kind == "cloze" and gap is not None:
            sentence, answer = gap
            exercise.update(type="cloze", expected=answer)
            hint = localised(item.example_translation, lang)
            return t("vocab_cloze", lang, sentence=sentence, hint=hint), exercise
        if kind == "meaning":
            exercise.update(type="meaning", expected=meaning, language=lang)
            return t("vocab_meaning", lang, word=word), exercise
        if kind == "say":
            exercise.update(type="say", expected=word)
            return t("vocab_say", lang, meaning=meaning), exercise
        exercise.update(type="translate", expected=word)
        language = language_name(target, lang)
        return t("vocab_translate", lang, meaning=meaning, language=language), exercise

    @staticmethod
    def _options(item: VocabularyItem, curriculum: Curriculum, word: str, seed: str) -> list[str]:
        """The right word and three of the same kind from the curriculum, in a stable order."""
        target = curriculum.target_language
        same = [
            headword(other, target)
            for unit in curriculum.units()
            for other in unit.vocabulary
            if other.pos == item.pos and other.lemma != item.lemma
        ]
        distractors: list[str] = []
        pool = sorted(set(same))
        while pool and len(distractors) < 3:
            choice = pick(pool, f"{seed}:{len(distractors)}")
            distractors.append(choice)
            pool.remove(choice)
        options = [word, *distractors]
        order = sorted(options, key=lambda o: pick([0, 1, 2, 3, 4, 5, 6, 7], f"{seed}:{o}"))
        return order

    def _item(self, key: str) -> VocabularyItem | None:
        curriculum_key, _, lemma = key.rpartition(":")
        curriculum = self.library.get(curriculum_key)
        if curriculum is None:
            return None
        for unit in curriculum.units():
            for item in unit.vocabulary:
                if item.lemma == lemma:
                    return item
        return None


def _cloze(item: VocabularyItem) -> tuple[str, str] | None:
    """The example with the word blanked, and the form to type (None if it is not there)."""
    target = fold(item.lemma)
    words = item.example.split()
    for index, word in enumerate(words):
        core = word.strip("¿¡.,!?;:«»\"'()")
        if core and fold(core) == target:
            blanked = [*words[:index], word.replace(core, "____"), *words[index + 1 :]]
            return " ".join(blanked), core
    return None


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _when(due: datetime, now: datetime, context: Context, lang: str) -> str:
    """ "in 3 hours", "tomorrow", "in 4 days" for the next review."""
    hours = (due - now).total_seconds() / 3600
    if hours < 1:
        return t("vocab_in_minutes", lang, minutes=max(1, int(hours * 60)))
    if hours < 24:
        return t("vocab_in_hours", lang, hours=int(hours))
    days = int(hours // 24)
    return t("vocab_tomorrow", lang) if days == 1 else t("vocab_in_days", lang, days=days)
