"""Memory: sessions summarised when they close, a learner welcomed back with what they
struggled with, long sessions compressed, the nightly notes (idempotent, resumable,
pruning old turns), and the notes most relevant to a message recalled at each turn."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from memory import nightly, notes, sessions
from memory.context import assemble, for_model
from memory.embeddings import HashingEmbedder, OpenAICompatibleEmbedder
from tests import test_tutoring_models as with_models
from tests.conftest import channel_env, settings_from_env
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.groq import FakeGroq
from tests.fakes.telegram import FakeTelegram
from tests.support.harness import Harness
from tests.test_cli import Tutor
from tests.test_schema import _capture, _oracle_sql
from tutor.models import (
    conversations,
    error_events,
    inbox,
    memory_notes,
    memory_runs,
    turns,
    utcnow,
)
from tutor.models import (
    learners as learners_table,
)
from tutor.settings import Settings

EMBEDDER = HashingEmbedder()
modelled = with_models.modelled  # the tutor with fake Groq and Anthropic at the edge
_prompt, _requests_with, tutor_model = (
    with_models._prompt,
    with_models._requests_with,
    with_models.tutor_model,
)
MISTAKES = (
    "Tengo un problema con la coche.",
    "Mi hermana es muy alto.",
    "La coche de mi padre es rojo.",
)


def _learner_id(harness: Harness, user_id: int) -> int:
    with harness.services.engine.connect() as connection:
        found = connection.scalar(
            select(learners_table.c.id).where(learners_table.c.key == f"telegram:{user_id}")
        )
    assert found is not None
    return int(found)


def _chat(harness: Harness, user_id: int, texts: tuple[str, ...] = MISTAKES) -> None:
    harness.onboard(user_id)
    harness.telegram_says(user_id, "1")  # conversation practice
    for text in texts:
        harness.telegram_says(user_id, text)


def _close_sessions(harness: Harness) -> int:
    return sessions.close_idle(harness.services.engine, timedelta(0))


def _sessions(engine: Engine, learner_id: int) -> list[Any]:
    with engine.connect() as connection:
        return connection.execute(
            select(conversations)
            .where(conversations.c.learner_id == learner_id)
            .order_by(conversations.c.id)
        ).all()


def _shift(engine: Engine, learner_id: int, back: timedelta) -> None:
    """Move a learner's whole history ``back`` in time (as if it happened then)."""
    moved = (
        (conversations, ("started_at", "last_turn_at", "closed_at")),
        (turns, ("created_at",)),
        (error_events, ("created_at",)),
    )
    with engine.begin() as connection:
        for table, columns in moved:
            rows = connection.execute(
                select(table.c.id, *(table.c[c] for c in columns)).where(
                    table.c.learner_id == learner_id
                )
            ).all()
            for row in rows:
                values = {c: row._mapping[c] - back for c in columns if row._mapping[c]}
                connection.execute(update(table).where(table.c.id == row.id).values(**values))
        connection.execute(
            update(learners_table)
            .where(learners_table.c.id == learner_id)
            .values(last_inbound_at=utcnow() - back)
        )


# Sessions ------------------------------------------------------------------------


def test_a_closed_session_is_summarised_from_what_the_learner_did(harness: Harness) -> None:
    _chat(harness, 1001)
    learner_id = _learner_id(harness, 1001)
    assert _close_sessions(harness) == 1
    [session] = _sessions(harness.services.engine, learner_id)
    summary = session.summary
    assert summary["open"] is False and summary["turns"] >= 4
    gender = next(e for e in summary["errors"] if e["rule"] == "determiner-agreement")
    assert gender["code"] == "GENDER" and gender["count"] == 2
    assert [e["wrong"].casefold() for e in gender["examples"]] == ["la coche", "la coche"]
    assert summary["agents"]["conversation"] >= 3


def test_a_learner_back_after_a_session_hears_what_they_struggled_with(
    harness: Harness,
) -> None:
    _chat(harness, 1002)
    _close_sessions(harness)
    reply = harness.telegram_says(1002, "Hola, ¿qué tal?")[0]
    assert reply.startswith("👋 Welcome back! Earlier today you struggled with gender agreement")
    assert "«la coche» → «el coche»" in reply.casefold()
    # Only once: the next message is in the new, open session.
    assert not harness.telegram_says(1002, "Me gusta la playa.")[0].startswith("👋")


def test_a_long_session_is_compressed_offline(harness: Harness) -> None:
    texts = tuple(f"Hoy como una manzana número {n}." for n in range(18)) + MISTAKES
    _chat(harness, 1003, texts)
    learner_id = _learner_id(harness, 1003)
    [session] = _sessions(harness.services.engine, learner_id)
    turns_now = len(session.document["turns"])
    assert turns_now > sessions.COMPRESS_AFTER
    summary = session.summary
    assert summary["open"] is True and summary["upto"] <= turns_now - sessions.KEEP_TURNS
    assert "text" not in summary  # offline: the facts alone
    remembered = assemble_for(harness, learner_id, "hola")
    assert remembered.earlier == summary
    assert "Earlier in this session:" in for_model(remembered)


def assemble_for(harness: Harness, learner_id: int, text: str) -> Any:
    with harness.services.engine.connect() as connection:
        return assemble(
            connection,
            learner_id,
            text,
            EMBEDDER,
            now=utcnow(),
            idle=timedelta(minutes=harness.settings.session_idle_minutes),
        )


# Nightly notes -------------------------------------------------------------------


def _night_after(day_offset: int = 1) -> datetime:
    """03:00 UTC on the day after today (the learners have no time zone: UTC)."""
    today = utcnow().date()
    return datetime.combine(today + timedelta(days=day_offset), datetime.min.time(), UTC).replace(
        hour=3
    )


def _notes(engine: Engine, learner_id: int) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(memory_notes.c.key, memory_notes.c.facts).where(
                memory_notes.c.learner_id == learner_id
            )
        ).all()
    return {str(r.key): dict(r.facts) for r in rows}


def test_the_nightly_job_writes_notes_once_at_the_learners_night(harness: Harness) -> None:
    _chat(harness, 1004)
    engine = harness.services.engine
    learner_id = _learner_id(harness, 1004)
    # Not yet night: nothing happens.
    assert nightly.run(engine, EMBEDDER, now=_night_after().replace(hour=12)).done == 0
    first = nightly.run(engine, EMBEDDER, now=_night_after())
    assert first.done == 1 and first.notes >= 1
    found = _notes(engine, learner_id)
    gender = found["error:determiner-agreement"]
    assert gender["code"] == "GENDER" and gender["count"] == 2 and gender["days"] == 1
    assert gender["examples"][0]["wrong"].casefold() == "la coche"
    assert "error:es-predicate-agreement" not in found  # seen once: not recurring yet
    again = nightly.run(engine, EMBEDDER, now=_night_after() + timedelta(minutes=15))
    assert again.done == 0 and again.skipped == 1
    assert _notes(engine, learner_id) == found


def test_the_nightly_job_resumes_after_a_crash_without_redoing_anything(
    harness: Harness,
) -> None:
    for user in (1005, 1006, 1007):
        _chat(harness, user)
    engine = harness.services.engine

    def crash_after(limit: int) -> Callable[[int], None]:
        seen = [0]

        def progress(step: int) -> None:
            seen[0] += step
            if seen[0] >= limit:
                raise KeyboardInterrupt

        return progress

    with pytest.raises(KeyboardInterrupt):
        nightly.run(engine, EMBEDDER, now=_night_after(), progress=crash_after(2))
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(memory_runs)) == 2
        notes_before = connection.scalar(select(func.count()).select_from(memory_notes))
    resumed = nightly.run(engine, EMBEDDER, now=_night_after())
    assert (resumed.done, resumed.skipped) == (1, 2)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(memory_runs)) == 3
        total = connection.scalar(select(func.count()).select_from(memory_notes))
    assert total == notes_before * 3 // 2


def test_old_raw_turns_are_pruned_once_summarised(harness: Harness) -> None:
    engine = harness.services.engine
    _chat(harness, 1008)
    learner_id = _learner_id(harness, 1008)
    _close_sessions(harness)
    _shift(engine, learner_id, timedelta(days=120))
    harness.telegram_says(1008, "Hoy estoy contento.")  # today's session, kept
    with engine.connect() as connection:
        old_inbox = connection.scalars(
            select(turns.c.inbox_id).where(
                turns.c.learner_id == learner_id,
                turns.c.created_at < utcnow() - timedelta(days=90),
            )
        ).all()
    assert old_inbox
    report = nightly.run(engine, EMBEDDER, now=_night_after(), retention_days=90)
    assert report.pruned_turns == len(old_inbox)
    old, new = _sessions(engine, learner_id)
    assert old.document["turns"] == [] and old.summary["errors"]  # the summary stays
    assert len(new.document["turns"]) == 1
    with engine.connect() as connection:
        left = connection.scalar(
            select(func.count()).select_from(turns).where(turns.c.learner_id == learner_id)
        )
        payloads = connection.execute(
            select(inbox.c.message).where(inbox.c.id.in_(old_inbox))
        ).all()
    assert left == 1
    assert all(row.message == {} for row in payloads)


# Recall at each turn ---------------------------------------------------------------


def test_the_notes_closest_to_the_message_join_the_context(harness: Harness) -> None:
    harness.onboard(1009)
    engine = harness.services.engine
    learner_id = _learner_id(harness, 1009)
    drafts = [
        notes.Draft(
            "error:es-ser-estar",
            "error",
            {"code": "SER_ESTAR", "count": 4, "days": 2, "examples": []},
            "ser or estar ser o estar es cansado está cansado soy en casa estoy en casa",
        ),
        notes.Draft(
            "error:es-gender",
            "error",
            {"code": "GENDER", "count": 3, "days": 1, "examples": []},
            "gender agreement concordancia de género la coche el coche",
        ),
        notes.Draft(
            "preference:voice",
            "preference",
            {"what": "voice", "share": 40},
            "prefers voice notes speaking audio prefiere notas de voz hablar",
        ),
    ]
    with engine.begin() as connection:
        notes.write(connection, learner_id, drafts, EMBEDDER, utcnow())
    remembered = assemble_for(harness, learner_id, "¿Cuándo uso ser y cuándo estar?")
    assert remembered.notes[0].key == "error:es-ser-estar"
    assert "ser or estar: 4 times on 2 day(s)" in for_model(remembered)
    # A note the learner said is wrong is never recalled again.
    notes.mark_wrong(engine, learner_id, remembered.notes[0].id)
    again = assemble_for(harness, learner_id, "¿Cuándo uso ser y cuándo estar?")
    assert all(n.key != "error:es-ser-estar" for n in again.notes)


# With a model --------------------------------------------------------------------


def test_the_model_hears_what_is_remembered_and_compresses_long_sessions(
    modelled: tuple[Harness, FakeGroq, FakeAnthropic],
) -> None:
    harness, groq, _ = modelled
    _chat(harness, 1010)
    _close_sessions(harness)
    harness.telegram_says(1010, "Hola, me llamo Ana.")
    [told] = [r for r in _requests_with(groq, "Role-play in Spanish")][-1:]
    prompt = _prompt(told.json or {})
    assert "What you remember about this learner" in prompt
    assert "struggled with gender agreement ×" in prompt
    for n in range(sessions.COMPRESS_AFTER):
        harness.telegram_says(1010, f"Hoy como una manzana número {n}.")
    [summarised] = _requests_with(groq, "Summarise this tutoring session")
    assert "Learner: Hola, me llamo Ana." in _prompt(summarised.json or {})
    learner_id = _learner_id(harness, 1010)
    open_session = _sessions(harness.services.engine, learner_id)[-1]
    assert open_session.summary["open"] is True
    assert open_session.summary["text"] == tutor_model({})


# By hand -------------------------------------------------------------------------


def test_the_nightly_job_runs_by_hand_and_twice_does_nothing_twice(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'memory.sqlite3'}"
    harness = Harness(
        settings_from_env(
            make_settings, {**channel_env(fake_telegram, None), "TUTOR_DATABASE_URL": database}
        ),
        fake_telegram,
    )
    try:
        _chat(harness, 1011)
        _shift(harness.services.engine, _learner_id(harness, 1011), timedelta(days=1))
    finally:
        harness.close()
    runner = Tutor(tmp_path)
    first = runner("memory", "nightly", "--now", TUTOR_DATABASE_URL=database)
    assert first.returncode == 0, first.stderr
    assert "summarised 1, already done 0, notes written " in first.stdout
    second = runner("memory", "nightly", "--now", TUTOR_DATABASE_URL=database)
    assert "summarised 0, already done 1, notes written 0" in second.stdout


def test_the_memory_statements_compile_for_oracle(harness: Harness) -> None:
    """The memory tier's own queries, run on SQLite, then rendered for Oracle."""
    engine = harness.services.engine
    seen = _capture(engine)
    _chat(harness, 1012)
    _close_sessions(harness)
    harness.telegram_says(1012, "Hola otra vez.")
    nightly.run(engine, EMBEDDER, now=_night_after())
    rendered = [_oracle_sql(statement) for statement in seen]
    memory_sql = [sql for sql in rendered if "memory_" in sql or "conversations.summary" in sql]
    assert len(memory_sql) >= 4
    kinds = next(sql for sql in rendered if "FROM turns" in sql and "JSON_VALUE" in sql)
    assert "JSON_VALUE(turns.inbound, " in kinds  # the message kind read inside the JSON
    latest = next(sql for sql in rendered if "conversations.summary" in sql and "SELECT" in sql)
    assert re.search(r"FETCH FIRST \S+ ROWS ONLY", latest) and "LIMIT" not in latest


def test_a_learner_is_left_for_the_next_run_when_the_embedder_is_down(
    harness: Harness,
) -> None:
    _chat(harness, 1013)
    engine = harness.services.engine
    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    down = OpenAICompatibleEmbedder(dead, "text-embedding-3-small", timeout=1.0)
    report = nightly.run(engine, down, now=_night_after())
    assert (report.done, report.failed) == (0, 1)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(memory_runs)) == 0
        assert connection.scalar(select(func.count()).select_from(memory_notes)) == 0
    assert nightly.run(engine, EMBEDDER, now=_night_after()).done == 1
