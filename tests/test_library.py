"""Curriculum placement and the error-event store (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from agents.curriculum import shipped
from agents.grammar import ModelErrors, from_model, merge
from agents.library import Library
from agents.rules import ErrorEvent
from tutor import error_events, migrate
from tutor.db import make_engine
from tutor.models import learners, utcnow

SPANISH = next(p for p in shipped() if p.name.startswith("es-for-en"))


@pytest.fixture
def two_versions(tmp_path: Path) -> Library:
    newer = tmp_path / "es-for-en.v2.yaml"
    newer.write_text(
        SPANISH.read_text(encoding="utf-8").replace("version: 1", "version: 2", 1),
        encoding="utf-8",
    )
    return Library([SPANISH, newer])


def test_a_new_learner_gets_the_newest_version_and_is_pinned(two_versions: Library) -> None:
    placement = two_versions.place({"target_language": "es", "explanation_language": "en"})
    assert placement is not None
    assert (placement.key, placement.pin) == ("es-for-en@2", "es-for-en@2")


def test_a_pinned_learner_stays_on_their_version(two_versions: Library) -> None:
    profile = {"target_language": "es", "curriculum": "es-for-en@1"}
    placement = two_versions.place(profile)
    assert placement is not None
    assert (placement.key, placement.pin) == ("es-for-en@1", None)


def test_no_curriculum_for_an_unknown_language(two_versions: Library) -> None:
    assert two_versions.place({"target_language": "fr"}) is None


def _event(start: int, end: int, source: str = "rules") -> ErrorEvent:
    return ErrorEvent("gender_agreement", start, end, "x", "y", "", source, "r")


def test_rules_win_where_the_model_overlaps_them() -> None:
    rules = [_event(10, 18)]
    model = [_event(12, 20, "model"), _event(0, 4, "model"), _event(18, 22, "model")]
    kept = merge(rules, model)
    assert [(e.start, e.source) for e in kept] == [(0, "model"), (10, "rules"), (18, "model")]


def test_model_findings_must_point_at_the_text() -> None:
    answer = ModelErrors.model_validate(
        {
            "errors": [
                {"category": "Verb Form", "wrong": "Yo tiene", "right": "Yo tengo"},
                {"category": "spelling", "wrong": "qeso", "right": "queso"},
            ]
        }
    )
    [event] = from_model("Ayer yo tiene frío.", answer)
    assert (event.start, event.wrong, event.category, event.rule) == (
        5,
        "yo tiene",
        "verb_form",
        "model:verb_form",
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_error_events_round_trip(backend: str, sqlite_url: str, pg_url: str) -> None:
    engine = make_engine(sqlite_url if backend == "sqlite" else pg_url)
    try:
        migrate.upgrade(engine)
        now = utcnow()
        with engine.begin() as connection:
            learner_id = connection.execute(
                insert(learners)
                .values(
                    key="telegram:9",
                    channel="telegram",
                    chat_id="9",
                    profile={},
                    state={},
                    created_at=now,
                    updated_at=now,
                )
                .returning(learners.c.id)
            ).scalar_one()
            text = "Tengo la problema. " + "Más texto. " * 100
            events = [
                ErrorEvent(
                    "gender_agreement",
                    6,
                    17,
                    "la problema",
                    "el problema",
                    "",
                    "rules",
                    "determiner-agreement",
                ),
            ]
            assert (
                error_events.record(
                    connection, learner_id=learner_id, inbox_id=None, text=text, events=events * 2
                )
                == 2
            )
        assert error_events.counts_by_rule(engine, learner_id) == {"determiner-agreement": 2}
        assert error_events.counts_by_code(engine, learner_id) == {"GENDER": 2}
        [latest, _] = error_events.recent(engine, learner_id)
        assert latest["wrong"] == "la problema" and len(latest["sentence"]) == 500
        assert latest["sentence"].startswith("Tengo la problema.")
    finally:
        engine.dispose()


def test_every_category_in_use_has_a_taxonomy_code() -> None:
    from agents.checks_en import EnglishChecks
    from agents.checks_es import NOTES
    from agents.curriculum import load
    from agents.rules import CODES, TAXONOMY, taxonomy

    used = {
        pattern.category
        for path in shipped()
        for unit in load(path).units()
        for point in unit.grammar
        for pattern in point.patterns
    }
    assert used <= TAXONOMY.keys()
    assert EnglishChecks("en").check("It is a orange.")[0].code == "ART"
    assert NOTES  # the Spanish checks' categories are covered by the round trip below
    assert taxonomy("Verb Tense".casefold().replace(" ", "_")) == "VERB_FORM"
    assert taxonomy("idiom") == "OTHER" and "OTHER" in CODES
