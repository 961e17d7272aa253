"""Answers "how do you say X?" and "what does Y mean?" from the curriculum lexicon first.

Matching folds case and accents and drops a leading article or "to", so
"How do you say 'the spoon'" finds *la cuchara* and "que significa madrugar"
finds *to get up early*. When the lexicon has no entry and a model is
configured, the router answers (its fallback is an honest "not in my lessons"). A word
found in the lexicon is offered as a review card ("Add it to your reviews?").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agents import asking
from agents.base import Context, Outcome
from agents.grammar import GrammarChecker
from agents.library import CurriculumAgent, Library, Placement, headword, localised, vocabulary
from tutor.i18n import language_name, t
from tutor.llm.types import Task
from tutor.messages import Inbound, Reply
from tutor.text import fold

if TYPE_CHECKING:
    from agents.vocabulary import VocabularyAgent

_LEADING = re.compile(r"^(?:the|a|an|to|el|la|los|las|un|una|unos|unas|lo)\s+", re.IGNORECASE)
_SPLIT = re.compile(r"\s*[,;/]\s*|\s+or\s+|\s+o\s+")


def _key(phrase: str) -> str:
    folded = fold(phrase)
    return _LEADING.sub("", folded).strip()


def _senses(text: str) -> set[str]:
    cleaned = re.sub(r"\([^)]*\)", " ", text)
    return {_key(part) for part in _SPLIT.split(cleaned) if part.strip()}


class LexiconAgent(CurriculumAgent):
    name = "lexicon"

    def __init__(
        self, library: Library, checker: GrammarChecker, cards: VocabularyAgent | None = None
    ) -> None:
        super().__init__(library)
        self.checker = checker
        self.cards = cards

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        return self.lookup(inbound, context, inbound.text, meaning=False)

    def start(self, context: Context) -> Outcome:
        return Outcome(self.name, (Reply(t("lookup_ask", context.lang)),))

    def lookup(self, inbound: Inbound, context: Context, phrase: str, *, meaning: bool) -> Outcome:
        """The entries for ``phrase``: a target-language word to explain, or a word to translate."""
        return self.placed(
            context, lambda placement: self._answer(inbound, context, placement, phrase, meaning)
        )

    def _answer(
        self, inbound: Inbound, context: Context, placement: Placement, phrase: str, meaning: bool
    ) -> Outcome:
        lang = context.lang
        curriculum = placement.curriculum
        target = curriculum.target_language
        key = _key(phrase)
        items = vocabulary(curriculum)
        if meaning:
            hits = [item for item in items if _key(item.lemma) == key]
        else:
            hits = [item for item in items if key in _senses(localised(item.translations, lang))]
        if hits:
            lines = [
                t(
                    "lookup_meaning" if meaning else "lookup_say",
                    lang,
                    phrase=phrase,
                    word=headword(item, target),
                    translation=localised(item.translations, lang),
                    language=language_name(target, lang),
                )
                + f"\n   «{item.example}» ({localised(item.example_translation, lang)})"
                for item in hits[:3]
            ]
            offer = self.cards.offer(context, placement.key, hits[0]) if self.cards else None
            if offer is None:
                return Outcome(self.name, (Reply("\n".join(lines)),))
            question, state = offer
            return Outcome(self.name, (Reply("\n".join((*lines, question))),), state=state)
        offline = t("lookup_unknown", lang, phrase=phrase, language=language_name(target, lang))
        if not self.checker.has_model:
            return Outcome(self.name, (Reply(offline),))
        assert self.checker.router is not None
        result = self.checker.router.complete(
            asking.request(
                context,
                target,
                task=Task.EXPLAIN,
                agent=self.name,
                purpose="lookup",
                template="explain",
                learner_text=inbound.text,
                fallback=lambda: offline,
                max_tokens=200,
            )
        )
        return Outcome(self.name, (Reply(result.text.strip() or offline),))
