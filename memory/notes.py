"""Memory notes: what the tutor remembers about a learner, one row per thing remembered.

A note has a stable key per learner (``error:<rule>``, ``helped:<what>``,
``progress:<marker>``, ``preference:<what>``), structured ``facts`` (counts,
examples, dates) rendered in the learner's explanation language when shown, and an
embedding of its ``text`` (written in both languages, so a question in either finds
it). Writing a note is an upsert on (learner, key): the nightly job can rerun a day
without duplicating anything. A note the learner (or a teacher) says is wrong keeps
its row, marked, so the nightly job does not write it again, and is never used.

Retrieval is exact cosine similarity with numpy over the learner's own notes: a
learner has tens of notes, so a scan costs microseconds and needs no index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, delete, insert, select, update

from memory.embeddings import Embedder
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
    vectors = embedder.embed([d.text for d in wanted])
    name = embedder_name(embedder)
    for draft, vector in zip(wanted, vectors, strict=True):
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
    wrong, without a vector, or embedded by another embedder are left out."""
    query = select(*_COLUMNS, memory_notes.c.embedding, memory_notes.c.embedder).where(
        memory_notes.c.learner_id == learner_id, memory_notes.c.wrong_at.is_(None)
    )
    rows = [
        row
        for row in connection.execute(query)
        if row.embedding and (embedder is None or row.embedder == embedder)
    ]
    if not rows or k <= 0 or not np.any(query_vector):
        return []
    matrix = np.frombuffer(b"".join(row.embedding for row in rows), dtype="<f4").reshape(
        len(rows), -1
    )
    if matrix.shape[1] != query_vector.shape[0]:
        return []
    scores = matrix @ query_vector.astype(np.float32)
    best = np.argsort(-scores, kind="stable")[:k]
    return [(_note(rows[i]), float(scores[i])) for i in best if scores[i] > 0]


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
