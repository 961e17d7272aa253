"""Note vectors in the database's own vector type, where it has one, and the query over them.

Migration 0007 adds ``memory_notes.embedding_vector`` only where the database can
hold it: PostgreSQL with the pgvector extension (``vector``, any width) and Oracle
23ai or later (``VECTOR(*,FLOAT32,*)``). SQLite, PostgreSQL without pgvector and
older Oracle keep the float32 blob alone, and :func:`memory.notes.relevant` ranks
the learner's notes with numpy, which is also the default everywhere: a learner
has tens of notes. The column is therefore not part of ``tutor.models.metadata``;
:func:`table` describes it for the dialect at hand.

Where the column exists, :func:`nearest` asks the database for the ``k`` closest
notes of one learner by cosine distance (pgvector's ``<=>``, Oracle's
``VECTOR_DISTANCE(..., COSINE)``), so a turn reads ``k`` rows instead of every
vector. Notes whose vector column is still empty (written by a process that had
not seen the migration yet) come back separately so the caller can rank them too.
"""

from __future__ import annotations

import array
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
import numpy.typing as npt
from pgvector.sqlalchemy import VECTOR as PG_VECTOR
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.oracle import VECTOR as ORACLE_VECTOR
from sqlalchemy.dialects.oracle import VectorStorageFormat
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from tutor.models import Id, UTCDateTime

COLUMN = "embedding_vector"
DIALECTS = ("postgresql", "oracle")
RECHECK_SECONDS = 600.0  # a running process notices a migration within this long


@dataclass(frozen=True, slots=True)
class VectorColumn:
    """Whether the database has the column, and its fixed width (None: any width)."""

    present: bool
    width: int | None = None

    def fits(self, dimensions: int) -> bool:
        return self.present and (self.width is None or self.width == dimensions)


def column_type(dialect: str) -> TypeEngine[Any]:
    """The native vector type of ``dialect`` ("postgresql" or "oracle")."""
    if dialect == "postgresql":
        return PG_VECTOR()
    if dialect == "oracle":
        return ORACLE_VECTOR(storage_format=VectorStorageFormat.FLOAT32)  # type: ignore[no-untyped-call]
    raise ValueError(f"no vector column on {dialect}")


@cache
def table(dialect: str) -> Table:
    """``memory_notes`` with the vector column typed for ``dialect`` (a private MetaData:
    the column exists only where migration 0007 could add it)."""
    return Table(
        "memory_notes",
        MetaData(),
        Column("id", Id, primary_key=True),
        Column("learner_id", Id, nullable=False),
        Column("key", String(160), nullable=False),
        Column("embedding", LargeBinary),
        Column("embedder", String(64), nullable=False),
        Column("wrong_at", UTCDateTime()),
        Column(COLUMN, column_type(dialect)),
    )


def bind_value(dialect: str, vector: npt.NDArray[np.float32]) -> object:
    """``vector`` as the driver binds it: a list for pgvector, ``array('f')`` for oracledb."""
    values = np.asarray(vector, dtype=np.float32)
    if dialect == "oracle":
        return array.array("f", values.tobytes())
    return values.tolist()


# Is the column there? -----------------------------------------------------------------

_seen: WeakKeyDictionary[Engine, tuple[float, VectorColumn]] = WeakKeyDictionary()
_lock = threading.Lock()


def column(connection: Connection) -> VectorColumn:
    """The vector column of this database, looked up at most every ``RECHECK_SECONDS``."""
    if connection.dialect.name not in DIALECTS:
        return VectorColumn(False)
    engine = connection.engine
    now = time.monotonic()
    with _lock:
        cached = _seen.get(engine)
    if cached is not None and now - cached[0] < RECHECK_SECONDS:
        return cached[1]
    found = _look_up(connection)
    with _lock:
        _seen[engine] = (now, found)
    return found


def forget(engine: Engine) -> None:
    """Look the column up again on next use (after migrating in the same process)."""
    with _lock:
        _seen.pop(engine, None)


def _look_up(connection: Connection) -> VectorColumn:
    if connection.dialect.name == "postgresql":
        # atttypmod is the declared width of vector(n), -1 for a plain vector
        row = connection.execute(
            text(
                "SELECT a.atttypmod FROM pg_attribute a"
                " WHERE a.attrelid = to_regclass('memory_notes')"
                " AND a.attname = :name AND NOT a.attisdropped"
            ),
            {"name": COLUMN},
        ).first()
        if row is None:
            return VectorColumn(False)
        return VectorColumn(True, int(row[0]) if int(row[0]) > 0 else None)
    row = connection.execute(
        text(
            "SELECT data_type FROM user_tab_columns"
            " WHERE table_name = 'MEMORY_NOTES' AND column_name = :name"
        ),
        {"name": COLUMN.upper()},
    ).first()
    return VectorColumn(row is not None)  # VECTOR(*,...): any width


# Reading and writing ------------------------------------------------------------------


def distance(dialect: str, query: npt.NDArray[np.float32]) -> ColumnElement[float]:
    """Cosine distance between each note's vector and ``query`` (0: same direction)."""
    notes = table(dialect)
    value = bindparam("query_vector", bind_value(dialect, query), type_=column_type(dialect))
    if dialect == "oracle":
        return func.VECTOR_DISTANCE(notes.c[COLUMN], value, literal_column("COSINE"))
    return notes.c[COLUMN].cosine_distance(value)  # type: ignore[no-any-return]


def nearest_query(
    dialect: str, learner_id: int, query: npt.NDArray[np.float32], k: int, embedder: str
) -> Any:
    """The ``k`` usable notes of a learner closest to ``query``: (id, cosine distance)."""
    notes = table(dialect)
    gap = distance(dialect, query)
    return (
        select(notes.c.id, gap.label("distance"))
        .where(
            notes.c.learner_id == learner_id,
            notes.c.wrong_at.is_(None),
            notes.c.embedder == embedder,
            notes.c[COLUMN].is_not(None),
        )
        .order_by(gap, notes.c.id)
        .limit(k)
    )


def nearest(
    connection: Connection,
    learner_id: int,
    query: npt.NDArray[np.float32],
    k: int,
    embedder: str,
) -> tuple[list[tuple[int, float]], list[tuple[int, bytes]]]:
    """The database's ``k`` best (note id, similarity), best first, and the learner's
    notes of this embedder whose vector column is still empty (id, blob) to rank apart."""
    dialect = connection.dialect.name
    best = [
        (int(row.id), 1.0 - float(row.distance))
        for row in connection.execute(nearest_query(dialect, learner_id, query, k, embedder))
    ]
    notes = table(dialect)
    pending = [
        (int(row.id), bytes(row.embedding))
        for row in connection.execute(
            select(notes.c.id, notes.c.embedding).where(
                notes.c.learner_id == learner_id,
                notes.c.wrong_at.is_(None),
                notes.c.embedder == embedder,
                notes.c.embedding.is_not(None),
                notes.c[COLUMN].is_(None),
            )
        )
    ]
    return best, pending


def store(
    connection: Connection,
    learner_id: int,
    keys: Sequence[str],
    vectors: npt.NDArray[np.float32] | None,
) -> None:
    """Put each note's vector in the vector column (rows found by learner and key); None
    empties it (a width the column cannot hold: the blob is ranked instead)."""
    dialect = connection.dialect.name
    notes = table(dialect)
    statement = (
        update(notes)
        .where(notes.c.learner_id == learner_id, notes.c.key == bindparam("note_key"))
        .values({COLUMN: bindparam("note_vector", type_=column_type(dialect))})
    )
    values = [None] * len(keys) if vectors is None else [bind_value(dialect, v) for v in vectors]
    connection.execute(
        statement,
        [{"note_key": key, "note_vector": value} for key, value in zip(keys, values, strict=True)],
    )
