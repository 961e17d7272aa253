"""Memory notes: what the tutor remembers about a learner, one row per thing remembered.

A note has a stable key per learner (``error:<rule>``, ``helped:<what>``,
``progress:<marker>``, ``preference:<what>``), structured ``facts`` (counts,
examples, dates) rendered in the learner's explanation language when shown, and an
embedding of its ``text`` (written in both languages, so a question in either finds
it). Writing a note is an upsert on (learner, key): the nightly job can rerun a day
without duplicating anything. A note the learner (or a teacher) says is wrong keeps
its row, marked, so the nightly job does not write it again, and is never used.

Retrieval is exact cosine similarity with numpy over the learner's own notes: a
learner has tens of notes, so a scan costs microseconds and needs no index. Where
the database has a native vector column (pgvector, Oracle 23ai: :mod:`memory.vectors`)
the notes' vectors are stored there too and the database ranks them, so a turn reads
``k`` rows instead of every vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, delete, insert, select, update

from memory import vectors
from memory.embeddings import Embedder, strict
from tutor.i18n import name_of, t
from tutor.models import memory_notes, utcnow

KINDS = ("error", "helped", "progress", "preference")


@dataclass(frozen=True, slots=True)
class Note:
    """One stored note; ``number`` is its position in "what do you remember" (1-based)."""

    id: int
    key: str
    kind: str
    facts: dict[str, Any]
    text: str
    updated_at: datetime
    wrong: bool = False
    embedding: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A note to write: the nightly job's output for one key."""

    key: str
    kind: str
    facts: dict[str, Any]
    text: str


def to_bytes(vector: npt.NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes | None) -> npt.NDArray[np.float32] | None:
    return None if not blob else np.frombuffer(blob, dtype="<f4")


def embedder_name(embedder: Embedder) -> str:
    return str(getattr(embedder, "name", type(embedder).__name__))[:64]


def write(
    connection: Connection,
    learner_id: int,
    drafts: Sequence[Draft],
    embedder: Embedder,
    now: datetime,
) -> int:
    """Upsert ``drafts`` for the learner inside the caller's transaction; notes marked
    wrong are left alone. Returns how many notes were written."""
    if not drafts:
        return 0
    existing = {
        row.key: row
        for row in connection.execute(
            select(memory_notes.c.id, memory_notes.c.key, memory_notes.c.wrong_at).where(
                memory_notes.c.learner_id == learner_id,
                memory_notes.c.key.in_([d.key for d in drafts]),
            )
        )
    }
    wanted = [d for d in drafts if d.key not in existing or existing[d.key].wrong_at is None]
    if not wanted:
        return 0
    # Without the turn-time fallback: a failing embedder raises here rather than storing
    # empty vectors, and the caller's transaction (the learner's night) is retried later.
    rows = strict(embedder).embed([d.text for d in wanted])
    name = embedder_name(embedder)
    for draft, vector in zip(wanted, rows, strict=True):
        values = {
            "kind": draft.kind,
            "facts": draft.facts,
            "text": draft.text[:1000],
            "embedding": to_bytes(vector),
            "embedder": name,
            "updated_at": now,
        }
        if draft.key in existing:
            connection.execute(
                update(memory_notes)
                .where(memory_notes.c.id == existing[draft.key].id)
                .values(**values)
            )
        else:
            connection.execute(
                insert(memory_notes).values(
                    learner_id=learner_id, key=draft.key, created_at=now, **values
                )
            )
    found = vectors.column(connection)
    if found.present:
        fits = found.fits(rows.shape[1])
        vectors.store(connection, learner_id, [d.key for d in wanted], rows if fits else None)
    return len(wanted)


_COLUMNS = (
    memory_notes.c.id,
    memory_notes.c.key,
    memory_notes.c.kind,
    memory_notes.c.facts,
    memory_notes.c.text,
    memory_notes.c.updated_at,
    memory_notes.c.wrong_at,
)


def listing(engine: Engine, learner_id: int, *, include_wrong: bool = False) -> list[Note]:
    """The learner's notes in a stable order (kind, then most recently updated)."""
    query = select(*_COLUMNS).where(memory_notes.c.learner_id == learner_id)
    if not include_wrong:
        query = query.where(memory_notes.c.wrong_at.is_(None))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    notes = [_note(row) for row in rows]
    order = {kind: index for index, kind in enumerate(KINDS)}
    notes.sort(key=lambda n: (order.get(n.kind, len(KINDS)), -n.updated_at.timestamp(), n.id))
    return notes


def relevant(
    connection: Connection,
    learner_id: int,
    query_vector: npt.NDArray[np.float32],
    k: int = 3,
    *,
    embedder: str | None = None,
) -> list[tuple[Note, float]]:
    """The ``k`` notes most similar to ``query_vector`` (cosine), best first; notes marked
    wrong, without a vector, or embedded by another embedder are left out. The database
    ranks them where it has the vector column and the width fits, else numpy does."""
    if k <= 0 or not np.any(query_vector):
        return []
    query_vector = np.asarray(query_vector, dtype=np.float32)
    if embedder is not None and vectors.column(connection).fits(query_vector.shape[0]):
        return _relevant_in_database(connection, learner_id, query_vector, k, embedder)
    query = select(*_COLUMNS, memory_notes.c.embedding, memory_notes.c.embedder).where(
        memory_notes.c.learner_id == learner_id, memory_notes.c.wrong_at.is_(None)
    )
    rows = [
        row
        for row in connection.execute(query)
        if row.embedding and (embedder is None or row.embedder == embedder)
    ]
    scores = _scores([row.embedding for row in rows], query_vector)
    if scores is None:
        return []
    best = np.argsort(-scores, kind="stable")[:k]
    return [(_note(rows[i]), float(scores[i])) for i in best if scores[i] > 0]


def _scores(blobs: Sequence[bytes], query_vector: npt.NDArray[np.float32]) -> Any:
    """Cosine similarities of stored (normalised) vectors to the query; None when there are
    none or their width differs from the query's."""
    if not blobs:
        return None
    matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
    if matrix.shape[1] != query_vector.shape[0]:
        return None
    return matrix @ query_vector


def _relevant_in_database(
    connection: Connection,
    learner_id: int,
    query_vector: npt.NDArray[np.float32],
    k: int,
    embedder: str,
) -> list[tuple[Note, float]]:
    found, pending = vectors.nearest(connection, learner_id, query_vector, k, embedder)
    scores = _scores([blob for _, blob in pending], query_vector)
    if scores is not None:  # notes whose vector column is still empty, ranked here
        found += [
            (note_id, float(score)) for (note_id, _), score in zip(pending, scores, strict=True)
        ]
    ranked = sorted([pair for pair in found if pair[1] > 0], key=lambda pair: -pair[1])[:k]
    if not ranked:
        return []
    rows = {
        int(row.id): row
        for row in connection.execute(
            select(*_COLUMNS).where(memory_notes.c.id.in_([note_id for note_id, _ in ranked]))
        )
    }
    return [(_note(rows[note_id]), score) for note_id, score in ranked if note_id in rows]


def forget(engine: Engine, learner_id: int, note_id: int) -> bool:
    """Delete one of the learner's notes; False if it was not theirs or not there."""
    with engine.begin() as connection:
        done = connection.execute(
            delete(memory_notes).where(
                memory_notes.c.id == note_id, memory_notes.c.learner_id == learner_id
            )
        )
    return bool(done.rowcount)


def mark_wrong(engine: Engine, learner_id: int, note_id: int, now: datetime | None = None) -> bool:
    """The learner (or their teacher) says a note is wrong: it is never used or rewritten."""
    with engine.begin() as connection:
        done = connection.execute(
            update(memory_notes)
            .where(memory_notes.c.id == note_id, memory_notes.c.learner_id == learner_id)
            .values(wrong_at=now or utcnow())
        )
    return bool(done.rowcount)


def _note(row: Any) -> Note:
    return Note(
        id=int(row.id),
        key=str(row.key),
        kind=str(row.kind),
        facts=dict(row.facts),
        text=str(row.text),
        updated_at=row.updated_at,
        wrong=row.wrong_at is not None,
        embedding=from_bytes(getattr(row, "embedding", None)),
    )


# Plain words ---------------------------------------------------------------------


def describe(note: Note, lang: str) -> str:
    """The note in plain words in the learner's language."""
    facts = note.facts
    if note.kind == "error":
        example = (facts.get("examples") or [{}])[0]
        return t(
            "note_error",
            lang,
            label=name_of("code", str(facts.get("code", "")), lang),
            count=int(facts.get("count", 0)),
            days=int(facts.get("days", 1)),
            wrong=example.get("wrong", ""),
            right=example.get("correction", ""),
        )
    what = str(facts.get("what", ""))
    values = {k: str(v) for k, v in facts.items() if not isinstance(v, (list, dict))}
    if what == "time":
        values["part"] = t(f"daypart_{facts.get('part', 'evening')}", lang)
    elif what == "activity":
        values["activity"] = t(f"feature_{facts.get('agent', 'conversation')}", lang)
    elif what == "sound":
        values["sound"] = name_of("sound", str(facts.get("sound", "")), lang)
    return t(f"note_{note.kind}_{what}", lang, **values)
