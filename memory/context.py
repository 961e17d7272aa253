"""What the tutor remembers for one turn, beside the hot turns: the last sessions'
summaries, the open session's compressed start, and the notes most relevant to the
message.

Two indexed queries (the learner's latest sessions' summaries, without their turns;
the learner's notes with their vectors) and one embedding of the message. The agents
read it from :class:`agents.base.Context`; the conversation agent gives it to the
model in plain words, and a learner who comes back after a session with struggles
is reminded of them in the first reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from memory import notes
from memory.embeddings import Embedder
from tutor.i18n import name_of, t
from tutor.models import conversations

SESSIONS = 3


@dataclass(frozen=True, slots=True)
class Memory:
    """``sessions``: closed sessions' summaries, newest first; ``earlier``: the open
    session's compressed start; ``notes``: the most relevant notes, best first;
    ``returning``: this message opens a new session after a summarised one."""

    sessions: tuple[dict[str, Any], ...] = ()
    earlier: dict[str, Any] | None = None
    notes: tuple[notes.Note, ...] = ()
    returning: bool = False


def assemble(
    connection: Connection,
    learner_id: int,
    text: str,
    embedder: Embedder,
    *,
    now: datetime,
    idle: timedelta,
    k: int = 3,
) -> Memory:
    """The learner's memory for a message ``text`` arriving ``now``."""
    rows = connection.execute(
        select(conversations.c.summary, conversations.c.closed_at, conversations.c.last_turn_at)
        .where(conversations.c.learner_id == learner_id)
        .order_by(conversations.c.started_at.desc())
        .limit(SESSIONS + 1)
    ).all()
    earlier = None
    open_now = False
    closed: list[dict[str, Any]] = []
    for row in rows:
        if row.closed_at is None and now - row.last_turn_at <= idle:
            open_now = True
            earlier = row.summary if row.summary and row.summary.get("open") else None
        elif row.summary and not row.summary.get("open"):  # idle ones are not summarised yet
            closed.append(dict(row.summary))
    found: list[notes.Note] = []
    if text.strip() and k > 0:
        vector = embedder.embed([text])[0]
        name = notes.embedder_name(embedder)
        found = [
            note for note, _ in notes.relevant(connection, learner_id, vector, k, embedder=name)
        ]
    return Memory(
        sessions=tuple(closed[:SESSIONS]),
        earlier=earlier,
        notes=tuple(found),
        returning=not open_now and bool(closed),
    )


def welcome_back(memory: Memory, lang: str, now: datetime) -> str | None:
    """ "Last time you struggled with ..." for a learner back after a session with
    mistakes (None when the last session had none)."""
    if not memory.returning or not memory.sessions:
        return None
    last = memory.sessions[0]
    errors = last.get("errors") or []
    if not errors:
        return None
    top = errors[0]
    example = (top.get("examples") or [{}])[0]
    when = _when(datetime.fromisoformat(str(last["end"])), now, lang)
    return t(
        "memory_welcome_back",
        lang,
        when=when,
        label=name_of("code", str(top.get("code", "")), lang),
        count=int(top.get("count", 1)),
        wrong=example.get("wrong", ""),
        right=example.get("correction", ""),
    )


def _when(then: datetime, now: datetime, lang: str) -> str:
    days = (now.date() - then.date()).days
    if days <= 0:
        return t("when_earlier_today", lang)
    if days == 1:
        return t("when_yesterday", lang)
    return t("when_days_ago", lang, days=days)


def for_model(memory: Memory) -> str:
    """The memory in short plain English lines for a model prompt ("" when empty)."""
    lines = []
    for number, summary in enumerate(memory.sessions, start=1):
        lines.append(f"- Session {number} back: {_session_line(summary)}")
    if memory.earlier:
        text = memory.earlier.get("text") or _session_line(memory.earlier)
        lines.append(f"- Earlier in this session: {text}")
    for note in memory.notes:
        lines.append(f"- Note: {notes.describe(note, 'en')}")
    return "\n".join(lines)


def _session_line(summary: dict[str, Any]) -> str:
    parts = [f"{summary.get('turns', 0)} messages"]
    errors = summary.get("errors") or []
    if errors:
        struggled = ", ".join(
            f"{name_of('code', str(e.get('code', '')), 'en')} ×{e.get('count', 1)}"
            for e in errors[:3]
        )
        parts.append(f"struggled with {struggled}")
    reviews = summary.get("reviews") or {}
    if reviews.get("total"):
        parts.append(f"{reviews['right']}/{reviews['total']} reviews right")
    spoken = summary.get("pronunciation") or {}
    if spoken.get("attempts"):
        parts.append(f"pronunciation {spoken.get('accuracy')}/100 over {spoken['attempts']}")
    return "; ".join(parts)
