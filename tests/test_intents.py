"""The intent router: rules decided by message and open state, the offline classifier's
accuracy on the labelled set in tests/data, and the phrase a look-up is about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bench import intents as evaluation
from tutor.intents import RULE_COVERED, Intent, IntentRouter
from tutor.messages import Channel, Inbound, Kind

EN_ES = {"target_language": "es", "explanation_language": "en", "level": "A1"}
ES_EN = {"target_language": "en", "explanation_language": "es", "level": "A1"}
router = IntentRouter()


def _text(text: str, kind: Kind = Kind.TEXT) -> Inbound:
    return Inbound(Channel.TELEGRAM, "1", "telegram:1", "m1", kind, text, sent_at=datetime.now(UTC))


def _intent(text: str, state: dict[str, Any] | None = None, profile: Any = None) -> Intent:
    return router.classify(_text(text), profile or EN_ES, state or {}).intent


def test_the_labelled_set_is_big_and_balanced() -> None:
    examples = evaluation.load()
    assert len(examples) >= 400
    learners = {e.learner for e in examples}
    assert learners == {"en>es", "es>en"}
    for intent in Intent:
        assert sum(e.intent is intent for e in examples) >= 25, intent


def test_offline_accuracy_on_rule_covered_intents_meets_the_target() -> None:
    results = evaluation.run(evaluation.load())
    covered = [r for r in results if r.example.intent in RULE_COVERED]
    assert evaluation.accuracy(covered) >= evaluation.TARGET
    assert evaluation.accuracy(results) >= 0.85


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"menu": "main"}, Intent.MENU_CHOICE),
        ({"exercise": {"agent": "vocabulary", "kind": "choice"}}, Intent.EXERCISE_ANSWER),
        ({}, Intent.CONVERSATION),
    ],
)
def test_a_number_means_what_the_open_state_says(state: dict[str, Any], expected: Intent) -> None:
    assert _intent("2", state) is expected


def test_why_is_about_the_last_correction_only_when_there_is_one() -> None:
    correction = {"correction": {"rule": "ser-estar-basics"}}
    assert _intent("why?", correction) is Intent.WHY
    assert _intent("pero por qué 'la'?", correction) is Intent.WHY
    assert _intent("why do we use the subjunctive after espero que?") is Intent.GRAMMAR


def test_practising_in_the_target_language_is_conversation() -> None:
    assert _intent("hago progreso en el gimnasio, ahora levanto 50 kilos") is Intent.CONVERSATION
    assert _intent("me gusta la gramática pero es difícil") is Intent.CONVERSATION
    assert _intent("I went to the cinema yesterday with my friends", profile=ES_EN) is (
        Intent.CONVERSATION
    )


@pytest.mark.parametrize(
    ("text", "intent", "phrase"),
    [
        ("how do you say 'the spoon' in Spanish?", Intent.HOW_SAY, "the spoon"),
        ("¿Cómo se dice cuchara en inglés?", Intent.HOW_SAY, "cuchara"),
        ("what does madrugar mean", Intent.MEANING, "madrugar"),
        ("¿qué significa «sobremesa»?", Intent.MEANING, "sobremesa"),
    ],
)
def test_look_ups_carry_the_phrase_with_its_accents(text: str, intent: Intent, phrase: str) -> None:
    decision = router.classify(_text(text), EN_ES, {})
    assert (decision.intent, decision.slot, decision.source) == (intent, phrase, "rules")


def test_voice_notes_go_to_pronunciation_and_commands_are_commands() -> None:
    assert router.classify(_text("", Kind.VOICE), EN_ES, {}).intent is Intent.PRONUNCIATION
    decision = router.classify(_text("stop the reminders please"), EN_ES, {})
    assert (decision.intent, decision.slot) == (Intent.COMMAND, "stop_reminders")


def test_confidence_is_low_when_nothing_points_anywhere() -> None:
    unsure = router.classify(_text("hmm ok so maybe later"), EN_ES, {})
    sure = router.classify(_text("Ayer fui a la playa con mis amigos"), EN_ES, {})
    assert unsure.confidence < 0.6 <= sure.confidence
