"""Cohorts: codes, joining, visibility (SQLite and PostgreSQL), and joining from the chat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from agents.registry import shipped_library
from tests.support.harness import Harness
from tests.support.staff import make_user
from tutor import cohorts
from tutor.cohorts import ALPHABET, CODE_LENGTH, CohortError, Joined
from tutor.db import make_engine
from tutor.intents import join_request
from tutor.migrate import upgrade
from tutor.models import learners, utcnow
from tutor.staff import User


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cohorts.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    made = make_engine(url)
    upgrade(made)
    yield made
    made.dispose()


def _learner(engine: Engine, key: str, profile: dict[str, object] | None = None) -> int:
    now = utcnow()
    channel, _, chat = key.partition(":")
    with engine.begin() as connection:
        result = connection.execute(
            insert(learners).values(
                key=key,
                channel=channel,
                chat_id=chat,
                profile=profile or {"onboarded": True, "target_language": "es"},
                state={},
                created_at=now,
                updated_at=now,
            )
        )
    return int(result.inserted_primary_key[0])


def _cohort(engine: Engine, teacher: User, name: str = "Spanish A1", **values: object) -> int:
    choices = cohorts.curriculum_choices(engine, shipped_library())
    with engine.begin() as connection:
        return cohorts.create(
            connection,
            name=name,
            teacher_id=teacher.id,
            curriculum=values.get("curriculum"),  # type: ignore[arg-type]
            weekly_goal=int(values.get("weekly_goal", 3)),  # type: ignore[call-overload]
            choices=choices,
        )


def _profile(engine: Engine, learner_id: int) -> dict[str, object]:
    with engine.connect() as connection:
        found = connection.execute(
            select(learners.c.profile).where(learners.c.id == learner_id)
        ).scalar_one()
    return dict(found)


def test_join_codes_are_short_unambiguous_and_unique(engine: Engine) -> None:
    teacher = make_user(engine, "teacher", "ana@school.test", "Ana")
    codes = set()
    for number in range(30):
        cohort = cohorts.get(engine, _cohort(engine, teacher, f"Class {number}"))
        assert cohort is not None
        assert len(cohort.join_code) == CODE_LENGTH
        assert set(cohort.join_code) <= set(ALPHABET)
        assert not set(cohort.join_code) & set("0O1IL")
        assert any(ch.isdigit() for ch in cohort.join_code)
        codes.add(cohort.join_code)
    assert len(codes) == 30


def test_joining_moving_and_joining_again(engine: Engine) -> None:
    ana = make_user(engine, "teacher", "ana@school.test", "Ana")
    first = cohorts.get(engine, _cohort(engine, ana, "Monday"))
    second = cohorts.get(engine, _cohort(engine, ana, "Thursday"))
    assert first is not None and second is not None
    learner = _learner(engine, "telegram:501")

    joined = cohorts.join(engine, learner, first.join_code.lower())
    assert joined.status is Joined.JOINED and joined.cohort is not None
    assert joined.cohort.teacher_name == "Ana"
    assert cohorts.join(engine, learner, f" {first.join_code} ").status is Joined.ALREADY
    moved = cohorts.join(engine, learner, second.join_code)
    assert moved.status is Joined.MOVED
    assert [m.learner_id for m in cohorts.members(engine, second.id)] == [learner]
    assert cohorts.members(engine, first.id) == []
    assert cohorts.join(engine, learner, "ZZZZ99").status is Joined.UNKNOWN
    assert cohorts.join(engine, learner, "not a code!").status is Joined.UNKNOWN

    with engine.begin() as connection:
        cohorts.archive(connection, first.id)
    closed = cohorts.join(engine, learner, first.join_code)
    assert closed.status is Joined.ARCHIVED
    assert cohorts.of_learner(engine, learner) == cohorts.get(engine, second.id)


def test_a_cohort_curriculum_pins_learners_of_its_language(engine: Engine) -> None:
    ana = make_user(engine, "teacher", "ana@school.test", "Ana")
    keys = {c.key for c in cohorts.curriculum_choices(engine, shipped_library())}
    assert {"es-for-en@1", "en-for-es@1"} <= keys
    with pytest.raises(CohortError, match="no curriculum"):
        _cohort(engine, ana, curriculum="klingon@9")
    with pytest.raises(CohortError, match="name"):
        _cohort(engine, ana, name="   ")
    with pytest.raises(CohortError, match="weekly goal"):
        _cohort(engine, ana, weekly_goal=500)
    cohort_id = _cohort(engine, ana, curriculum="es-for-en@1")
    spanish = _learner(engine, "telegram:601")
    english = _learner(engine, "telegram:602", {"onboarded": True, "target_language": "en"})
    for learner in (spanish, english):
        cohorts.join(engine, learner, cohorts.get(engine, cohort_id).join_code)  # type: ignore[union-attr]
    choices = cohorts.curriculum_choices(engine, shipped_library())
    with engine.begin() as connection:
        cohorts.configure(
            connection,
            cohort_id,
            name="Spanish A1 (evenings)",
            curriculum="es-for-en@1",
            weekly_goal=4,
            choices=choices,
        )
    assert _profile(engine, spanish)["curriculum"] == "es-for-en@1"
    assert "curriculum" not in _profile(engine, english)
    renamed = cohorts.get(engine, cohort_id)
    assert renamed is not None and renamed.name == "Spanish A1 (evenings)"
    assert renamed.weekly_goal == 4 and renamed.members == 2


def test_teachers_see_only_their_own_cohorts_and_learners(engine: Engine) -> None:
    ana = make_user(engine, "teacher", "ana@school.test", "Ana")
    ben = make_user(engine, "teacher", "ben@school.test", "Ben")
    boss = make_user(engine, "admin", "boss@school.test", "Boss")
    anas = cohorts.get(engine, _cohort(engine, ana, "Ana's"))
    bens = cohorts.get(engine, _cohort(engine, ben, "Ben's"))
    assert anas is not None and bens is not None
    pupil = _learner(engine, "whatsapp:34600123456")
    loner = _learner(engine, "telegram:777")
    cohorts.join(engine, pupil, anas.join_code)

    assert [c.name for c in cohorts.visible_cohorts(engine, ana)] == ["Ana's"]
    assert {c.name for c in cohorts.visible_cohorts(engine, boss)} == {"Ana's", "Ben's"}
    assert cohorts.visible_cohort(engine, ben, anas.id) is None
    assert cohorts.visible_cohort(engine, boss, anas.id) is not None
    assert cohorts.can_see_learner(engine, ana, pupil)
    assert not cohorts.can_see_learner(engine, ben, pupil)
    assert not cohorts.can_see_learner(engine, ana, loner)
    assert cohorts.can_see_learner(engine, boss, loner)
    assert not cohorts.can_see_learner(engine, boss, 999_999)
    [member] = cohorts.members(engine, anas.id)
    assert member.label == "WhatsApp ···3456"


def test_join_requests_in_the_chat() -> None:
    assert join_request("/join K7M2QX") == "K7M2QX"
    assert join_request("/join@TutorBot k7m2qx") == "k7m2qx"
    assert join_request("join K7M2QX") == "K7M2QX"
    assert join_request("Unirme: k7m2qx!") == "k7m2qx"
    assert join_request("/join") == ""
    assert join_request("join") is None
    assert join_request("join them") is None
    assert join_request("I want to join the class") is None


# -- from the chat ------------------------------------------------------------------------


def _code(harness: Harness, name: str = "Spanish A1", **values: object) -> str:
    engine = harness.services.engine
    teacher = make_user(engine, "teacher", "ana@school.test", "Ana")
    cohort = cohorts.get(engine, _cohort(engine, teacher, name, **values))
    assert cohort is not None
    return cohort.join_code


def _learner_id(harness: Harness, key: str) -> int:
    with harness.services.engine.connect() as connection:
        return int(
            connection.execute(select(learners.c.id).where(learners.c.key == key)).scalar_one()
        )


def test_a_telegram_learner_joins_with_a_command(harness: Harness) -> None:
    code = _code(harness, curriculum="es-for-en@1", weekly_goal=3)
    harness.onboard(4101)
    said = harness.telegram_says(4101, f"/join {code}")
    assert said[0].startswith("You joined Spanish A1 (teacher Ana).")
    assert "Your weekly goal: 3 lessons." in said[0]
    learner = _learner_id(harness, "telegram:4101")
    assert cohorts.of_learner(harness.services.engine, learner) is not None
    assert _profile(harness.services.engine, learner)["curriculum"] == "es-for-en@1"
    again = harness.telegram_says(4101, f"/join {code}")
    assert again[0].startswith("You're already in Spanish A1")
    unknown = harness.telegram_says(4101, "/join ZZZZ99")
    assert "couldn't find a class with the code ZZZZ99" in unknown[0]
    assert "join" in harness.telegram_says(4101, "/join")[0]


def test_a_whatsapp_learner_joins_in_spanish_before_finishing_first_contact(
    harness: Harness,
) -> None:
    code = _code(harness, curriculum="en-for-es@1", weekly_goal=2)
    said = harness.whatsapp_says("5215512345678", f"unirme {code}")
    # Joined at once, and first contact begins: nothing is lost.
    assert said[0].startswith("You joined Spanish A1 (teacher Ana).")
    assert "Which language do you want to practise?" in said[-1]
    for answer in ("2", "2", "1", "saltar", "saltar"):
        harness.whatsapp_says("5215512345678", answer)
    engine = harness.services.engine
    with engine.connect() as connection:
        key = connection.execute(
            select(learners.c.key).where(learners.c.chat_id == "5215512345678")
        ).scalar_one()
    learner = _learner_id(harness, key)
    profile = _profile(engine, learner)
    assert profile["onboarded"] and profile["curriculum"] == "en-for-es@1"
    again = harness.whatsapp_says("5215512345678", f"join {code}")
    assert again[0].startswith("Ya estás en Spanish A1 (profe Ana)")


def test_joining_is_free_even_with_no_lessons_left(harness: Harness) -> None:
    from agents.subscription import PAID_AGENTS

    assert "cohort" not in PAID_AGENTS
    code = _code(harness)
    harness.onboard(4102)
    # Use up the free lessons of the week, then join: no paywall in the way.
    engine = harness.services.engine
    learner = _learner_id(harness, "telegram:4102")
    from tutor.models import usage_events

    with engine.begin() as connection:
        for number in range(50):
            connection.execute(
                insert(usage_events).values(
                    learner_id=learner,
                    feature="lesson",
                    source=f"test-{number}",
                    paid_by="free",
                    used_at=utcnow(),
                )
            )
    said = harness.telegram_says(4102, f"/join {code}")
    assert said[0].startswith("You joined Spanish A1")
