"""The curricula store (drafts, versions, publishing, diffs) and the library that teaches
published versions without a restart, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, select

from agents.curriculum import shipped
from agents.library import Library
from tutor import curricula, migrate, staff
from tutor.curricula import CurriculaError
from tutor.db import make_engine
from tutor.models import curricula as curricula_table
from tutor.models import utcnow

SPANISH = next(p for p in shipped() if p.name.startswith("es-for-en"))
#: Line 13 of the shipped Spanish file is the first word's ``pos:``.
BAD_POS_LINE = 13
NEW_WORD = """\
          - lemma: zanahoria
            pos: noun
            gender: f
            translations: {en: "carrot"}
            example: "La zanahoria es naranja."
            example_translation: {en: "The carrot is orange."}
"""


def spanish(version: int = 1) -> str:
    text = SPANISH.read_text(encoding="utf-8")
    return text.replace("version: 1", f"version: {version}", 1)


def with_bad_pos(text: str) -> str:
    lines = text.split("\n")
    assert lines[BAD_POS_LINE - 1].strip() == "pos: interjection"
    lines[BAD_POS_LINE - 1] = "            pos: exclamation"
    return "\n".join(lines)


def with_new_word(text: str) -> str:
    return text.replace("        vocabulary:\n", "        vocabulary:\n" + NEW_WORD, 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Engine]:
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def teacher(engine: Engine) -> int:
    return staff.create(engine, "t@school.test", "a long enough password", staff.Role.TEACHER).id


def test_the_list_holds_the_shipped_files_read_only(engine: Engine) -> None:
    listed = {e.key: e for e in curricula.entries(engine)}
    assert {"es-for-en@1", "en-for-es@1"} <= listed.keys()
    spanish_v1 = listed["es-for-en@1"]
    assert spanish_v1.status == "shipped" and spanish_v1.live
    assert spanish_v1.counts is not None and spanish_v1.counts["vocabulary"] >= 400
    with engine.begin() as connection, pytest.raises(CurriculaError, match="start a new version"):
        curricula.save_draft(connection, "es-for-en@1", spanish())


def test_a_draft_keeps_invalid_text_and_publishing_needs_it_fixed(
    engine: Engine, teacher: int
) -> None:
    with engine.begin() as connection:
        key = curricula.new_version_from(connection, "es-for-en@1", teacher)
    assert key == "es-for-en@2"
    entry = curricula.find(engine, key)
    assert entry is not None and entry.status == "draft" and "version: 2" in entry.source
    assert entry.counts == curricula.find(engine, "es-for-en@1").counts  # type: ignore[union-attr]

    broken = with_bad_pos(entry.source)
    with engine.begin() as connection:
        assert curricula.save_draft(connection, key, broken) == key
    [problem] = curricula.problems_for(engine, broken, key)
    assert problem.line == BAD_POS_LINE and problem.where.endswith("vocabulary.0.pos")
    with engine.begin() as connection, pytest.raises(CurriculaError) as refused:
        curricula.publish(connection, key)
    assert [p.line for p in refused.value.problems] == [BAD_POS_LINE]
    assert curricula.find(engine, key).source == broken  # type: ignore[union-attr]

    with engine.begin() as connection:
        curricula.save_draft(connection, key, spanish(2))
        published = curricula.publish(connection, key)
    assert (published.id, published.version) == ("es-for-en", 2)
    entry = curricula.find(engine, key)
    assert entry is not None and entry.status == "published" and entry.published_at is not None
    with engine.begin() as connection, pytest.raises(CurriculaError, match="is published"):
        curricula.save_draft(connection, key, spanish(2))


def test_a_version_must_be_above_every_live_one(engine: Engine, teacher: int) -> None:
    with engine.begin() as connection:
        lower = curricula.new_version_from(connection, "es-for-en@1", teacher)
        higher = curricula.new_version_from(connection, "es-for-en@1", teacher)
    assert (lower, higher) == ("es-for-en@2", "es-for-en@3")
    with engine.begin() as connection:
        curricula.publish(connection, higher)
    with engine.begin() as connection, pytest.raises(CurriculaError) as refused:
        curricula.publish(connection, lower)
    assert "version 3 (published) is already out" in refused.value.message
    assert "Change `version:` to 4" in refused.value.message
    assert refused.value.problems[0].line == 2  # the `version:` line
    with engine.begin() as connection, pytest.raises(CurriculaError, match="already exists"):
        curricula.create_draft(connection, spanish(3), teacher)


def test_an_upload_needs_a_readable_id_and_version(engine: Engine, teacher: int) -> None:
    with engine.begin() as connection, pytest.raises(CurriculaError, match="id:"):
        curricula.create_draft(connection, "levels: [oops", teacher)
    with engine.begin() as connection:
        key = curricula.create_draft(connection, "id: mine\nversion: 1\nlevels: [", teacher)
    entry = curricula.find(engine, key)
    assert entry is not None and entry.status == "draft" and entry.counts is None
    assert entry.checked.problems[0].message.startswith("not valid YAML")
    # Renumbering the draft in its text moves its key, unless the new one is taken.
    with engine.begin() as connection:
        assert curricula.save_draft(connection, key, "id: mine\nversion: 5\n") == "mine@5"
        assert curricula.save_draft(connection, "mine@5", spanish()) == "mine@5"
    [taken, *_] = curricula.problems_for(engine, spanish(), "mine@5")
    assert taken.line == 2 and "es-for-en@1 already exists" in taken.message


def test_the_diff_names_an_added_word(engine: Engine) -> None:
    old = curricula.find(engine, "es-for-en@1")
    assert old is not None
    new = curricula.Entry(
        "es-for-en", 2, old.title, "es", "draft", *_checked(with_new_word(spanish(2)))
    )
    found = curricula.diff(old, new)
    added = [line.text for line in found.lines if line.kind == "add"]
    assert "+          - lemma: zanahoria" in added and "+version: 2" in added
    assert [line.kind for line in found.lines[:3]] == ["head", "head", "hunk"]
    assert found.changes is not None
    assert curricula.Change("word", "zanahoria", "added") in found.changes
    assert curricula.Change("unit", "a1-01-greetings", "changed") in found.changes


def _checked(text: str) -> tuple[str, curricula.Checked]:
    return text, curricula.check(text)


def test_shortfalls_warn_below_the_shipped_minimums() -> None:
    curriculum = curricula.check(spanish()).curriculum
    assert curriculum is not None and curricula.shortfalls(curriculum) == []
    small = curriculum.model_copy(update={"levels": curriculum.levels[:1]})
    small = small.model_copy(
        update={"levels": [small.levels[0].model_copy(update={"units": small.levels[0].units[:1]})]}
    )
    warnings = curricula.shortfalls(small)
    assert any("(a shipped curriculum has at least 400)" in w for w in warnings)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_library_teaches_published_versions_without_a_restart(
    engine: Engine, teacher: int
) -> None:
    clock = Clock()
    library = Library([SPANISH], clock=clock).with_store(engine, refresh_seconds=30)
    profile = {"target_language": "es", "explanation_language": "en"}
    assert library.place(profile).key == "es-for-en@1"  # type: ignore[union-attr]

    with engine.begin() as connection:
        key = curricula.new_version_from(connection, "es-for-en@1", teacher)
    assert library.get(key) is None  # a draft is never taught
    with engine.begin() as connection:
        curricula.publish(connection, key)

    # Within the refresh interval a new learner still gets the version seen last...
    assert library.place(profile).key == "es-for-en@1"  # type: ignore[union-attr]
    clock.now += 31  # ...and the newest published one after it,
    placement = library.place(profile)
    assert placement is not None and placement.pin == "es-for-en@2"
    # while a learner pinned to a version this process has not seen yet gets it at once.
    with engine.begin() as connection:
        newer = curricula.new_version_from(connection, key, teacher)
        curricula.publish(connection, newer)
    pinned = library.place({**profile, "curriculum": newer})
    assert pinned is not None and (pinned.key, pinned.pin) == ("es-for-en@3", None)


def test_a_broken_published_row_is_skipped(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    now = utcnow()
    with engine.begin() as connection:
        for version, source in ((7, "id: es-for-en\nversion: 7\nlevels: ["), (8, spanish(8))):
            connection.execute(
                insert(curricula_table).values(
                    curriculum_id="es-for-en",
                    version=version,
                    title="by hand",
                    target_language="es",
                    source=source,
                    status="published",
                    created_at=now,
                    updated_at=now,
                    published_at=now,
                )
            )
    library = Library([SPANISH]).with_store(engine)
    with caplog.at_level("WARNING", logger="agents.library"):
        assert library.get("es-for-en@7") is None
    assert "published curriculum skipped" in caplog.text
    assert library.get("es-for-en@8") is not None
    placement = library.place({"target_language": "es", "explanation_language": "en"})
    assert placement is not None and placement.key == "es-for-en@8"
    with engine.connect() as connection:
        assert connection.execute(select(curricula_table.c.version)).scalars().all()


def test_a_library_without_its_table_keeps_teaching_the_shipped_files(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)  # never migrated: the query fails
    try:
        library = Library([SPANISH]).with_store(engine)
        placement = library.place({"target_language": "es", "explanation_language": "en"})
        assert placement is not None and placement.key == "es-for-en@1"
        assert library.get("es-for-en@9") is None
    finally:
        engine.dispose()
