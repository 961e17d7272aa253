"""Built-in Spanish checks: the rule engine's layer that needs no curriculum lexicon.

Each check finds one kind of learner mistake from Apertium's morphology of the
sentence (:mod:`agents.lexicon_es`) and returns :class:`~agents.rules.ErrorEvent`
findings with ``source="rules"`` and ``rule`` set to the check's id. Checks
flag only what they can tell for certain from the words themselves; when the
morphology is not installed the checks that need it are skipped.

Modules:

- :mod:`.sentence`: the sentence, findings, notes, and the reading helpers all checks use
- :mod:`.words`: determiners, noun heads, pronouns and closed word classes they share
- :mod:`.agreement`: determiner-noun, adjective and predicate agreement
- :mod:`.prenominal`: "todo" and adjectives between the determiner and the noun
- :mod:`.verbs`: ser/estar, subject-verb agreement, gustar
- :mod:`.prepositions`: personal "a", por/para
- :mod:`.articles`: missing articles
- :mod:`.spelling`: accents and spelling
- :mod:`.layer`: :class:`SpanishChecks`, which runs them in order
"""

from agents.checks_es.layer import SpanishChecks
from agents.checks_es.sentence import NOTES

__all__ = ["NOTES", "SpanishChecks"]
