"""Vocabulary cards: the FSRS store on SQLite and PostgreSQL, and reviews as a learner has
them in the chat (real app and worker, fake Telegram at the edge)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fsrs import Rating, State
from sqlalchemy import Engine, insert, select

from tests.support.harness import Harness
from tutor import cards, migrate
from tutor.db import make_engine
from tutor.models import card_reviews, learners
from tutor.models import cards as cards_table

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _learner(engine: Engine, key: str = "telegram:1") -> int:
    with engine.begin() as connection:
        result = connection.execute(
            insert(learners),
            {
                "key": key,
                "channel": "telegram",
                "chat_id": key.split(":")[1],
                "created_at": NOON,
                "updated_at": NOON,
                "profile": {},
                "state": {},
            },
        )
        return int(result.inserted_primary_key[0])


def _store_engine(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Engine:
    url = (
        f"sqlite:///{tmp_path / 'cards.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = make_engine(url)
    if kind == "sqlite":
        migrate.upgrade(engine)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = _store_engine(request.param, tmp_path, request)
    yield engine
    engine.dispose()


def test_a_new_card_is_due_now_and_a_review_schedules_it(store: Engine) -> None:
    learner = _learner(store)
    card = cards.add(store, learner, "es-for-en@1:cuchara", now=NOON)
    assert cards.add(store, learner, "es-for-en@1:cuchara", now=NOON).id == card.id  # one per item
    assert [c.id for c in cards.due(store, learner, now=NOON)] == [card.id]

    reviewed = cards.review(
        store, card, Rating.Good, exercise="translate", verdict="exact", request_id="r1", now=NOON
    )
    assert reviewed is not None and reviewed.due > NOON and reviewed.due.tzinfo is not None
    assert cards.due(store, learner, now=NOON) == []
    assert cards.next_due(store, learner) == reviewed.due

    # The same message delivered again is not counted twice.
    again = cards.by_id(store, card.id)
    assert again is not None
    assert (
        cards.review(
            store,
            again,
            Rating.Good,
            exercise="translate",
            verdict="exact",
            request_id="r1",
            now=NOON,
        )
        is None
    )
    with store.connect() as connection:
        rows = connection.execute(select(card_reviews)).all()
    assert len(rows) == 1 and rows[0].rating == int(Rating.Good)


def test_forgetting_brings_the_card_back_and_counts_a_lapse(store: Engine) -> None:
    learner = _learner(store)
    card = cards.add(store, learner, "es-for-en@1:gato", now=NOON)
    now = NOON
    for step, rating in enumerate((Rating.Good, Rating.Good, Rating.Good)):
        stored = cards.by_id(store, card.id)
        assert stored is not None
        reviewed = cards.review(
            store,
            stored,
            rating,
            exercise="choice",
            verdict="exact",
            request_id=f"g{step}",
            now=now,
        )
        assert reviewed is not None
        now = reviewed.due
    stored = cards.by_id(store, card.id)
    assert stored is not None and stored.card.state == State.Review
    lapsed = cards.review(
        store, stored, Rating.Again, exercise="translate", verdict="wrong", request_id="a", now=now
    )
    assert lapsed is not None and lapsed.card.state == State.Relearning
    assert lapsed.due - now < timedelta(hours=1)
    with store.connect() as connection:
        row = connection.execute(select(cards_table).where(cards_table.c.id == card.id)).one()
    assert (row.reps, row.lapses) == (4, 1)
    assert cards.counts_by_state(store, learner) == {"relearning": 1}


def test_retired_cards_are_never_due(store: Engine) -> None:
    learner = _learner(store)
    card = cards.add(store, learner, "error:es-ser-estar", kind="error", now=NOON)
    cards.retire(store, card.id, now=NOON)
    assert cards.due(store, learner, now=NOON + timedelta(days=30)) == []


@pytest.mark.parametrize(
    ("correct", "verdict", "ms", "recognition", "rating"),
    [
        (False, "wrong", 3_000, False, Rating.Again),
        (True, "accent", 3_000, False, Rating.Hard),
        (True, "typo", 3_000, False, Rating.Hard),
        (True, "exact", 45_000, False, Rating.Hard),
        (True, "exact", 12_000, False, Rating.Good),
        (True, "exact", 4_000, False, Rating.Easy),
        (True, "exact", 4_000, True, Rating.Good),
        (True, "exact", None, False, Rating.Good),
    ],
)
def test_the_rating_follows_the_answer_and_its_speed(
    correct: bool, verdict: str, ms: int | None, recognition: bool, rating: Rating
) -> None:
    assert cards.rating_for(correct, verdict, ms, recognition=recognition) == rating


# --- in the chat ------------------------------------------------------------------------


def _cards(harness: Harness, key: str) -> list[dict[str, Any]]:
    engine = harness.services.engine
    with engine.connect() as connection:
        learner = connection.execute(select(learners.c.id).where(learners.c.key == key)).scalar()
        rows = connection.execute(
            select(cards_table)
            .where(cards_table.c.learner_id == learner)
            .order_by(cards_table.c.id)
        )
        return [dict(row._mapping) for row in rows]


def _reviews(harness: Harness) -> list[dict[str, Any]]:
    with harness.services.engine.connect() as connection:
        rows = connection.execute(select(card_reviews).order_by(card_reviews.c.id))
        return [dict(row._mapping) for row in rows]


def _right_option(reply: str, word: str) -> str:
    for line in reply.splitlines():
        match = re.match(r"\s*(\d+)[.)]\s*(.+)", line)
        if match and match.group(2).strip() == word:
            return match.group(1)
    raise AssertionError(f"{word!r} not among the options in {reply!r}")


def test_new_words_come_in_context_and_are_reviewed_in_the_chat(harness: Harness) -> None:
    harness.onboard(701)
    first = harness.telegram_says(701, "4")[0]
    assert "New word:" in first and "«" in first
    assert "Reply with the number." in first
    [card] = _cards(harness, "telegram:701")
    word = re.search(r"New word: \*(.+?)\*", first)
    assert word is not None
    headword = word.group(1)
    assert card["item_key"].startswith("es-for-en@1:")

    # The right number: correct, and the next new word comes.
    second = harness.telegram_says(701, _right_option(first, headword))[0]
    assert second.startswith("Correct!")
    assert "New word:" in second
    [review] = _reviews(harness)
    assert (review["exercise"], review["verdict"]) == ("choice", "exact")
    assert review["rating"] in (int(Rating.Good), int(Rating.Hard))

    # A wrong answer says what the word was.
    third = harness.telegram_says(701, "9")[0]
    assert third.startswith("Not quite")
    assert [r["verdict"] for r in _reviews(harness)] == ["exact", "wrong"]
    assert _reviews(harness)[-1]["rating"] == int(Rating.Again)


def test_a_day_brings_a_few_new_words_then_the_tutor_says_when_to_come_back(
    harness: Harness,
) -> None:
    harness.onboard(702)
    reply = harness.telegram_says(702, "4")[0]
    for _ in range(12):
        if "all done" in reply:
            break
        reply = harness.telegram_says(702, "I don't know")[0]
    assert "all done" in reply
    assert len(_cards(harness, "telegram:702")) == 5  # the curriculum's pace


def test_a_looked_up_word_can_become_a_card(harness: Harness) -> None:
    harness.onboard(703)
    reply = harness.telegram_says(703, "How do you say spoon?")[0]
    assert "cuchara" in reply and reply.rstrip().endswith("Add it to your reviews? 1 yes 2 no")
    added = harness.telegram_says(703, "1")[0]
    assert added.startswith("Added!")
    assert [c["item_key"] for c in _cards(harness, "telegram:703")] == ["es-for-en@1:cuchara"]

    harness.telegram_says(703, "What does tenedor mean?")
    declined = harness.telegram_says(703, "no")[0]
    assert declined == "OK, not added."
    assert len(_cards(harness, "telegram:703")) == 1


def test_an_offer_lapses_when_the_learner_talks_about_something_else(harness: Harness) -> None:
    harness.onboard(704)
    harness.telegram_says(704, "How do you say spoon?")
    reply = harness.telegram_says(704, "Hola, me llamo Ana y vivo en Madrid.")[0]
    assert "Added" not in reply
    assert _cards(harness, "telegram:704") == []


# --- recurring mistakes ------------------------------------------------------------------


def test_a_mistake_made_three_times_becomes_a_review_of_the_learners_own_sentences(
    harness: Harness,
) -> None:
    harness.onboard(710)
    harness.telegram_says(710, "1")
    for sentence in (
        "Tengo un problema con la coche.",
        "Mi hermano lava la coche.",
        "La coche de mi padre es roja.",
    ):
        harness.telegram_says(710, sentence)
    listing = harness.telegram_says(710, "my mistakes")[0]
    assert listing.startswith("Your recurring mistakes:")
    assert "gender agreement ×3" in listing and "«La coche» → «El coche»" in listing

    harness.telegram_says(710, "menu")
    question = harness.telegram_says(710, "4")[0]
    assert question.startswith("Earlier you wrote: «")
    assert "COCHE" in question and question.rstrip().endswith("be?")
    [card] = [c for c in _cards(harness, "telegram:710") if c["kind"] == "error"]
    assert card["item_key"] == "error:determiner-agreement"  # the curriculum's own check

    answer = harness.telegram_says(710, "el coche")[0]
    assert answer.startswith("Correct!")
    review = _reviews(harness)[-1]
    assert (review["exercise"], review["verdict"]) == ("mistake", "exact")


def test_a_disputed_correction_is_never_reviewed(harness: Harness) -> None:
    harness.onboard(711)
    harness.telegram_says(711, "1")
    reply = harness.telegram_says(711, "Vivo en Valencia. Tengo un problema con la coche.")[0]
    assert "Almost!" in reply
    disputed = harness.telegram_says(711, "that wasn't a mistake")[0]
    assert disputed.startswith("Thanks, noted")
    [card] = _cards(harness, "telegram:711")
    assert card["item_key"] == "error:determiner-agreement" and card["retired_at"] is not None
    for sentence in ("Mi hermano lava la coche.", "La coche de mi padre es roja.", "Veo la coche."):
        harness.telegram_says(711, sentence)
    harness.telegram_says(711, "menu")
    harness.telegram_says(711, "4")
    assert all(r["exercise"] != "mistake" for r in _reviews(harness))
    assert "(✗)" in harness.telegram_says(711, "mis errores")[0]


def test_nothing_to_dispute_without_a_correction(harness: Harness) -> None:
    harness.onboard(712)
    reply = harness.telegram_says(712, "that was not a mistake")[0]
    assert reply == "Tell me right after a correction and I'll drop it."
    assert harness.telegram_says(712, "my mistakes")[0].startswith("No recurring mistakes")


def test_words_used_in_conversation_become_cards_due_later(harness: Harness) -> None:
    harness.onboard(720)
    harness.telegram_says(720, "1")
    harness.telegram_says(720, "Hola, me llamo Tom. Tengo un gato y una casa grande.")
    captured = [c for c in _cards(harness, "telegram:720") if c["kind"] == "used"]
    keys = {c["item_key"].rsplit(":", 1)[1] for c in captured}
    assert {"gato", "casa"} <= keys and len(captured) <= 3
    assert all(c["due"] > c["created_at"] for c in captured)
    # the mistaken word is not captured
    harness.telegram_says(720, "Mi hermano tiene la coche.")
    assert "es-for-en@1:coche" not in {c["item_key"] for c in _cards(harness, "telegram:720")}


def test_a_spanish_look_up_with_its_article_finds_the_word(harness: Harness) -> None:
    harness.onboard(721)
    reply = harness.telegram_says(721, "¿Qué significa la cuchara?")[0]
    assert "spoon" in reply and "Add it to your reviews?" in reply
