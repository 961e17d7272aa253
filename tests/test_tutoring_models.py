"""Tutoring with models configured: Groq and Anthropic replaced at the network edge by fakes
that speak their wire formats. The rules' findings are merged with the model's (rules win
on overlap), role-play replies come from the fast tier, a low-confidence intent is asked of
the model, and when every provider fails the offline brain still teaches."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import channel_env, settings_from_env
from tests.fakes.anthropic import DEFAULT_API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.groq import DEFAULT_API_KEY as GROQ_KEY
from tests.fakes.groq import FakeGroq
from tests.fakes.server import RecordedRequest
from tests.fakes.telegram import FakeTelegram
from tests.support.harness import Harness
from tutor.models import error_events, llm_calls
from tutor.settings import Settings

ROLEPLAY_REPLY = "¡Qué interesante! Y tu coche, ¿de qué color es?"
FREE_REPLY = "¡A mí también! ¿Qué playa te gusta más?"


def _prompt(body: dict[str, Any]) -> str:
    """Everything the model was told: system prompt and messages."""
    system = body.get("system")
    parts: list[str] = [system] if isinstance(system, str) else []
    for block in system if isinstance(system, list) else []:
        parts.append(str(block.get("text", "")))
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            parts += [str(c.get("text", "")) for c in content if isinstance(c, dict)]
        else:
            parts.append(str(content))
    return "\n".join(parts)


def tutor_model(body: dict[str, Any]) -> str:
    """One model behind both fakes, answering by the task in the prompt."""
    prompt = _prompt(body)
    if "Classify the learner's message" in prompt:
        return json.dumps({"intent": "vocabulary", "confidence": 0.9})
    if "Find grammar, spelling and word-choice mistakes" in prompt:
        return json.dumps(
            {
                "errors": [
                    # overlaps the rules' finding "la coche": the rules win
                    {"category": "gender", "wrong": "la coche", "right": "el auto"},
                    # a mistake the rules do not see (tense)
                    {
                        "category": "verb_tense",
                        "wrong": "yo voy",
                        "right": "fui",
                        "explanation": "Ayer asks for the past: fui.",
                    },
                    # not in the text at all: dropped
                    {"category": "spelling", "wrong": "qeso", "right": "queso"},
                ]
            }
        )
    if "Role-play in Spanish" in prompt:
        return ROLEPLAY_REPLY
    if "Continue the conversation in Spanish" in prompt:
        return FREE_REPLY
    return "Ser is for what something is; estar for states and places. Try: Estoy cansado."


@pytest.fixture
def modelled(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> Iterator[tuple[Harness, FakeGroq, FakeAnthropic]]:
    groq, anthropic = FakeGroq(tutor_model).start(), FakeAnthropic(tutor_model).start()
    env = channel_env(fake_telegram, None)
    env.update(
        TUTOR_GROQ_API_KEY=GROQ_KEY,
        TUTOR_GROQ_BASE_URL=groq.url,
        TUTOR_ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        TUTOR_ANTHROPIC_BASE_URL=anthropic.url,
        TUTOR_LLM_FAST_TIMEOUT_SECONDS="2.0",
        TUTOR_LLM_STRONG_TIMEOUT_SECONDS="2.0",
    )
    settings = settings_from_env(make_settings, env)
    harness = Harness(settings, fake_telegram)
    yield harness, groq, anthropic
    harness.close()
    groq.stop()
    anthropic.stop()


def _requests_with(fake: FakeGroq | FakeAnthropic, marker: str) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.json and marker in _prompt(r.json)]


def test_role_play_reply_comes_from_the_fast_tier_with_the_rules_correction(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, groq, _anthropic = modelled
    harness.onboard(701)
    harness.telegram_says(701, "1")
    reply = harness.telegram_says(701, "Ayer yo voy al cine con la coche.")
    assert reply == [ROLEPLAY_REPLY]
    [chat] = _requests_with(groq, "Role-play in Spanish")
    prompt = _prompt(chat.json)
    assert "«Ayer yo voy al cine con EL coche»" in prompt  # the rules' correction
    assert "<learner_message>\nAyer yo voy al cine con la coche.\n</learner_message>" in prompt

    with harness.services.engine.connect() as connection:
        rows = connection.execute(select(error_events).order_by(error_events.c.span_start))
        found = [(r.wrong, r.correction, r.source) for r in rows]
    assert found == [("yo voy", "fui", "model"), ("la coche", "el coche", "rules")]


def test_a_grammar_check_asks_the_strong_tier_and_merges(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, _groq, anthropic = modelled
    harness.onboard(702)
    checked = harness.telegram_says(702, "check this: yo voy con la coche roja")[0]
    assert checked.startswith("I found 3 thing(s) to fix:")
    assert "✅ fui con el coche rojo" in checked  # "roja" follows "coche" (the rules' finding)
    assert _requests_with(anthropic, "Find grammar")  # thorough checks go to the strong tier


def test_an_unsure_intent_is_asked_of_the_model(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, groq, _anthropic = modelled
    harness.onboard(703)
    reply = harness.telegram_says(703, "hmm maybe something with the kitchen stuff")[0]
    assert reply.startswith("New word: ")  # vocabulary, as the model classified it
    assert _requests_with(groq, "Classify the learner's message")
    with harness.services.engine.connect() as connection:
        agents = {row.agent for row in connection.execute(select(llm_calls))}
    assert "dispatcher" in agents


def test_every_provider_down_still_teaches_offline(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, groq, anthropic = modelled
    harness.onboard(704)
    harness.telegram_says(704, "1")
    groq.fail(503, times=50)
    anthropic.fail(503, times=50)
    reply = harness.telegram_says(704, "Tengo un problema con la coche.")[0]
    assert reply.startswith("Almost! «Tengo un problema con EL coche»")
    assert reply.rstrip().endswith("?")


def test_free_conversation_goes_through_the_model(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, groq, _anthropic = modelled
    harness.onboard(705)
    assert harness.telegram_says(705, "Me gusta mucho la playa de Valencia.") == [FREE_REPLY]
    [chat] = _requests_with(groq, "Continue the conversation in Spanish")
    assert "Correction to weave in" in _prompt(chat.json)
    # Menu 1 still starts a curriculum role-play.
    harness.telegram_says(705, "menu")
    assert harness.telegram_says(705, "1")[0].startswith("🎭 ")


def test_why_for_a_mistake_no_grammar_point_covers_asks_the_strong_tier(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, _groq, anthropic = modelled
    harness.onboard(706)
    harness.telegram_says(706, "1")
    harness.telegram_says(706, "Ayer yo voy al cine.")  # only the model sees "yo voy"
    why = harness.telegram_says(706, "why?")[0]
    assert why.startswith("yo voy → fui\nAyer asks for the past: fui.")
    assert "Ser is for what something is" in why  # the strong tier's explanation
    [asked] = _requests_with(anthropic, "Why is it")
    assert '"fui" and not "yo voy"' in _prompt(asked.json)
