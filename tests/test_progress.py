"""The progress report: streaks over local days, and "progress" as a learner has it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fsrs import Rating
from sqlalchemy import Engine, insert

from tests.conftest import channel_env, settings_from_env
from tests.fakes.telegram import FakeTelegram
from tests.support.harness import Harness
from tutor import cards, migrate, progress
from tutor.db import make_engine
from tutor.models import conversations, learners, turns
from tutor.progress import _streak
from tutor.settings import Settings

TODAY = date(2026, 11, 26)


def test_a_streak_counts_consecutive_days_up_to_today_or_yesterday() -> None:
    days = {TODAY - timedelta(days=n) for n in (0, 1, 2, 4)}
    assert _streak(days, TODAY) == 3
    assert _streak({TODAY - timedelta(days=1), TODAY - timedelta(days=2)}, TODAY) == 2
    assert _streak({TODAY - timedelta(days=3)}, TODAY) == 0
    assert _streak(set(), TODAY) == 0


def test_progress_shows_activity_words_reviews_and_mistakes(harness: Harness) -> None:
    harness.onboard(801)
    harness.telegram_says(801, "1")
    harness.telegram_says(801, "Tengo un problema con la coche.")
    harness.telegram_says(801, "Me llamo Ana.")
    harness.telegram_says(801, "menu")
    harness.telegram_says(801, "4")
    harness.telegram_says(801, "no sé")  # a wrong answer: remembered 0%
    report = harness.telegram_says(801, "how am I doing?")[0]
    lines = report.splitlines()
    assert lines[0] == "📈 Your progress"
    assert lines[1] == "🔥 Streak: 1 day(s) · 1 day(s) active in all"
    assert lines[2] == "📚 Words: 0 learned, 2 still being learned"
    assert "✅ Reviews (30 days): 1, 0% remembered" in lines
    assert any(line.startswith("✍️ This week") for line in lines)
    assert any("gender agreement" in line for line in lines)
    assert lines[-3:] == [
        "🎯 Level: A1",
        "   words: A1, not enough practice in two weeks to tell",
        "   writing: A1, not enough practice in two weeks to tell",
    ]


def test_progress_in_spanish_from_the_menu(harness: Harness) -> None:
    harness.onboard(802, target="en")
    harness.telegram_says(802, "menú")
    report = harness.telegram_says(802, "5")[0]
    assert report.startswith("📈 Tu progreso\n🔥 Racha:")
    assert "📚 Palabras: 0 aprendidas, 0 en aprendizaje" in report


def test_the_weekly_card_comes_as_an_image_beside_the_text(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram
) -> None:
    env = {**channel_env(fake_telegram, None), "TUTOR_PUBLIC_URL": "https://tutor.example.org"}
    harness = Harness(settings_from_env(make_settings, env), fake_telegram)
    try:
        harness.onboard(803)
        harness.telegram_says(803, "1")
        harness.telegram_says(803, "Tengo un problema con la coche.")
        text = harness.telegram_says(803, "my progress")[0]
        assert text.startswith("📈 Your progress")
        [photo] = [m for m in fake_telegram.sent if m.method == "sendPhoto"]
        url = str(photo.payload["photo"])
        assert url.startswith("https://tutor.example.org/progress/") and url.endswith(".png")

        response = harness.client.get(url.removeprefix("https://tutor.example.org"))
        assert response.status_code == 200 and response.mimetype == "image/png"
        assert response.data.startswith(b"\x89PNG\r\n\x1a\n") and len(response.data) > 5_000

        forged = url.removeprefix("https://tutor.example.org").replace("/progress/", "/progress/x")
        assert harness.client.get(forged).status_code == 404
    finally:
        harness.close()


def test_without_a_public_address_the_report_is_text_only(harness: Harness) -> None:
    harness.onboard(804)
    assert harness.telegram_says(804, "progress")[0].startswith("📈 Your progress")
    assert harness.telegram is not None
    assert not [m for m in harness.telegram.sent if m.method == "sendPhoto"]


# --- the level follows the learner ------------------------------------------------------

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _engine_with_learner(tmp_path: Path) -> tuple[Engine, int, int]:
    engine = make_engine(f"sqlite:///{tmp_path / 'progress.db'}")
    migrate.upgrade(engine)
    with engine.begin() as connection:
        learner = connection.execute(
            insert(learners),
            {
                "key": "telegram:9",
                "channel": "telegram",
                "chat_id": "9",
                "profile": {},
                "state": {},
                "created_at": NOW,
                "updated_at": NOW,
            },
        ).inserted_primary_key[0]
        conversation = connection.execute(
            insert(conversations),
            {
                "learner_id": learner,
                "started_at": NOW,
                "last_turn_at": NOW,
                "document": {},
            },
        ).inserted_primary_key[0]
    return engine, int(learner), int(conversation)


def _history(
    engine: Engine, learner: int, conversation: int, *, remembered: int, forgot: int, messages: int
) -> None:
    card = cards.add(engine, learner, "es-for-en@1:gato", now=NOW - timedelta(days=10))
    for index in range(remembered + forgot):
        stored = cards.by_id(engine, card.id)
        assert stored is not None
        rating = Rating.Good if index < remembered else Rating.Again
        cards.review(
            engine,
            stored,
            rating,
            exercise="translate",
            verdict="exact",
            request_id=f"r{index}",
            now=NOW - timedelta(days=5, minutes=-index),
        )
    with engine.begin() as connection:
        for index in range(messages):
            connection.execute(
                insert(turns),
                {
                    "learner_id": learner,
                    "conversation_id": conversation,
                    "agent": "conversation",
                    "inbound": {"text": f"hola {index}"},
                    "reply": {"text": "¡Hola!"},
                    "created_at": NOW - timedelta(days=3, minutes=index),
                },
            )


def test_a_learner_who_remembers_and_writes_well_moves_up(tmp_path: Path) -> None:
    engine, learner, conversation = _engine_with_learner(tmp_path)
    _history(engine, learner, conversation, remembered=22, forgot=1, messages=25)
    assert progress.adapt(engine, learner, {"level": "A1"}, now=NOW) == "A2"
    # ...but not twice in a week
    recent = {"level": "A2", "level_changed_at": (NOW - timedelta(days=2)).isoformat()}
    assert progress.adapt(engine, learner, recent, now=NOW) is None
    engine.dispose()


def test_a_struggling_learner_moves_down_and_a1_stays(tmp_path: Path) -> None:
    engine, learner, conversation = _engine_with_learner(tmp_path)
    _history(engine, learner, conversation, remembered=5, forgot=17, messages=3)
    assert progress.adapt(engine, learner, {"level": "A2"}, now=NOW) == "A1"
    assert progress.adapt(engine, learner, {"level": "A1"}, now=NOW) is None
    engine.dispose()


def test_too_little_evidence_changes_nothing(tmp_path: Path) -> None:
    engine, learner, conversation = _engine_with_learner(tmp_path)
    _history(engine, learner, conversation, remembered=10, forgot=0, messages=10)
    assert progress.adapt(engine, learner, {"level": "A1"}, now=NOW) is None
    engine.dispose()


def test_skills_and_the_class_view_read_the_same_evidence(tmp_path: Path) -> None:
    engine, learner, conversation = _engine_with_learner(tmp_path)
    _history(engine, learner, conversation, remembered=22, forgot=1, messages=25)
    assert progress.skills(engine, learner, "A1", now=NOW) == {
        "vocabulary": ("A1", "ready"),
        "writing": ("A1", "ready"),
    }
    [row] = progress.cohort(engine, [learner], now=NOW)
    assert row.learner_id == learner and row.level == "A1"
    assert row.last_active is not None and row.last_active.tzinfo is not None
    assert row.cards_due == 1 and row.mistakes_this_week == {}  # forgotten last: due again
    assert progress.cohort(engine, [], now=NOW) == []
    engine.dispose()
