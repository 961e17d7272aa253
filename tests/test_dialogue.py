"""Conversations as a learner has them: webhook -> inbox -> worker -> dispatcher -> channel."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support.harness import Harness
from tutor.models import learners


def _profile(harness: Harness, key: str) -> dict[str, object]:
    with harness.services.engine.connect() as connection:
        return dict(
            connection.execute(select(learners.c.profile).where(learners.c.key == key)).scalar_one()
        )


def test_first_contact_in_english(harness: Harness) -> None:
    first = harness.telegram_says(501, "hi")
    assert first == [
        "Hi! I'm your Spanish and English tutor 👋\nWhich language do you want to practise?"
        "\n1. Español\n2. English"
    ]
    assert "explain things in" in harness.telegram_says(501, "1")[0]
    assert harness.telegram_says(501, "1")[0].startswith("How much Spanish do you know?\n1. Just")
    assert "Send your city" in harness.telegram_says(501, "2")[0]
    assert harness.telegram_says(501, "Mexico City")[0].startswith(
        "Got it: America/Mexico_City.\nWhen do you like to practise?"
    )
    done = harness.telegram_says(501, "8am")[0]
    assert done.startswith("Done: I'll nudge you at 08:00 when reviews are waiting.")
    assert "1. Conversation" in done and "6. Subscription" in done
    assert _profile(harness, "telegram:501") == {
        "onboarded": True,
        "ui_hint": "en",
        "target_language": "es",
        "explanation_language": "en",
        "level": "A2",
        "timezone": "America/Mexico_City",
        "practice_time": "08:00",
    }


def test_first_contact_in_spanish_with_words_and_skips(harness: Harness) -> None:
    assert harness.telegram_says(502, "hola", language_code="es")[0].startswith(
        "¡Hola! Soy tu tutor"
    )
    assert harness.telegram_says(502, "inglés")[0].startswith("¡Genial!")
    assert harness.telegram_says(502, "Español")[0].startswith("¿Cuánto inglés sabes?")
    assert harness.telegram_says(502, "1")[0].startswith("¿Dónde estás?")
    assert harness.telegram_says(502, "saltar")[0].startswith("¿A qué hora")
    done = harness.telegram_says(502, "saltar")[0]
    assert done.startswith("¡Listo!") and "1. Conversación" in done
    profile = _profile(harness, "telegram:502")
    assert profile["target_language"] == "en" and profile["explanation_language"] == "es"
    assert profile["timezone"] == "UTC" and profile["practice_time"] is None


def _onboard(harness: Harness, user: int) -> None:
    harness.onboard(user, "es")


def test_unclear_answers_are_asked_again(harness: Harness) -> None:
    harness.telegram_says(503, "hi")
    again = harness.telegram_says(503, "7")
    assert again[0] == "Sorry, I didn't get that. Reply with a number from the list."
    assert again[1].startswith("Which language do you want to practise?")
    harness.telegram_says(503, "2")
    harness.telegram_says(503, "1")
    harness.telegram_says(503, "3")
    assert "couldn't place that" in harness.telegram_says(503, "Atlantis")[0]
    harness.telegram_says(503, "Madrid")
    assert "couldn't read that time" in harness.telegram_says(503, "whenever")[0]


def test_menu_numbers(harness: Harness) -> None:
    _onboard(harness, 504)
    menu = harness.telegram_says(504, "menu")[0]
    assert menu.splitlines() == [
        "What would you like to do?",
        "1. Conversation",
        "2. Grammar",
        "3. Pronunciation",
        "4. Vocabulary",
        "5. Progress",
        "6. Subscription",
    ]
    assert harness.telegram_says(504, "6") == [
        "Plan: Free · 3 of 3 lessons left this week · 3 of 3 voice notes left today.\n"
        'To get more: "upgrade".'
    ]
    # The menu is closed now: "6" is just text for the conversation agent (a role-play).
    assert harness.telegram_says(504, "6")[0].startswith("🎭 ")
    harness.telegram_says(504, "menu")
    lesson = harness.telegram_says(504, "2")[0]
    assert lesson.startswith("📘 ") and "Your turn: write a sentence" in lesson


def test_buttons_answer_like_numbers(harness: Harness, fake_telegram: FakeTelegram) -> None:
    harness.telegram_says(505, "/start")
    keyboard = fake_telegram.sent[-1].payload["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["es", "en"]
    assert harness.telegram_taps(505, "en")[0].startswith("Great! And which language")
    assert fake_telegram.answered_callbacks  # the button's spinner was stopped


def test_help_and_language_work_any_time(harness: Harness) -> None:
    _onboard(harness, 506)
    assert "I'm your Spanish tutor" in harness.telegram_says(506, "help")[0]
    assert harness.telegram_says(506, "language")[0].startswith("Which language")
    harness.telegram_says(506, "2")
    back = harness.telegram_says(506, "2")[0]
    assert back.startswith("¡Listo!") and "¿Qué quieres hacer?" in back
    assert _profile(harness, "telegram:506")["target_language"] == "en"
    assert "Soy tu tutor de inglés" in harness.telegram_says(506, "ayuda")[0]


def test_stop_reminders(harness: Harness) -> None:
    _onboard(harness, 507)
    assert harness.telegram_says(507, "stop reminders")[0].startswith("Okay, no more reminders")
    assert _profile(harness, "telegram:507")["reminders"] is False


def test_unsupported_kinds_get_a_polite_answer(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    _onboard(harness, 508)
    body = {
        "update_id": 9_000_001,
        "message": {
            "message_id": 9,
            "date": 1_700_000_000,
            "chat": {"id": 508, "type": "private"},
            "from": {"id": 508, "is_bot": False, "first_name": "Ana"},
            "sticker": {
                "file_id": "x",
                "file_unique_id": "y",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            },
        },
    }
    assert harness.post_telegram(body) == 200
    harness.worker.sweep()
    assert fake_telegram.sent_texts(508)[-1].startswith("I can't read that kind of message")


def test_whatsapp_dialogue_uses_interactive_messages(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    first = harness.whatsapp_says("34600111222", "hola")
    assert first[0].startswith("Hi! I'm your Spanish and English tutor")
    sent = fake_whatsapp.sent[-1]
    assert sent.body["type"] == "interactive"
    assert sent.body["to"] == "34600111222"
    assert harness.whatsapp_says("34600111222", "2")[0].startswith("Great! And which language")


def test_redelivered_webhook_is_answered_once(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    from tests.support import payloads

    body = payloads.telegram_text(509, "hi")
    for _ in range(3):
        assert harness.post_telegram(body) == 200
    harness.worker.sweep()
    assert len(fake_telegram.sent_texts(509)) == 1
    with harness.services.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(learners)).scalar() == 1
