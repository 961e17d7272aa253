"""Learners, their sessions and turns in the SQL store (the authoritative copy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from memory import sessions
from tutor import reminder_times
from tutor.messages import Inbound
from tutor.models import conversations, learners, turns, utcnow


@dataclass(frozen=True, slots=True)
class Learner:
    id: int
    key: str
    chat_id: str
    profile: dict[str, Any]
    state: dict[str, Any]


def _ui_hint(language_hint: str | None) -> str | None:
    if not language_hint:
        return None
    code = language_hint.split("-", 1)[0].lower()
    return code if code in ("en", "es") else None


def load_or_create(engine: Engine, inbound: Inbound) -> Learner:
    """The learner behind ``inbound``, created on first contact."""
    query = select(learners).where(learners.c.key == inbound.learner_key)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        now = utcnow()
        profile: dict[str, Any] = {"onboarded": False}
        hint = _ui_hint(inbound.language_hint)
        if hint:
            profile["ui_hint"] = hint
        try:
            with engine.begin() as connection:
                connection.execute(
                    insert(learners).values(
                        key=inbound.learner_key,
                        channel=inbound.channel.value,
                        chat_id=inbound.chat_id,
                        profile=profile,
                        state={},
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            pass  # created concurrently (only possible without a lease)
        with engine.connect() as connection:
            row = connection.execute(query).one()
    return Learner(row.id, row.key, row.chat_id, dict(row.profile), dict(row.state))


def recent_turns(engine: Engine, learner_id: int, limit: int) -> list[dict[str, Any]]:
    """The learner's last ``limit`` turns, oldest first, in the hot tier's shape."""
    query = (
        select(turns.c.agent, turns.c.inbound, turns.c.reply, turns.c.created_at)
        .where(turns.c.learner_id == learner_id)
        .order_by(turns.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = list(connection.execute(query))
    return [turn_summary(r.agent, r.inbound, r.reply, r.created_at) for r in reversed(rows)]


def turn_summary(
    agent: str,
    inbound: dict[str, Any],
    reply: list[dict[str, Any]] | dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    replies = reply if isinstance(reply, list) else [reply]
    return {
        "at": at.isoformat(),
        "agent": agent,
        "kind": inbound.get("kind"),
        "text": inbound.get("text", ""),
        "reply": [r.get("text", "") for r in replies],
    }


_TURN_INSERT = insert(turns)


@dataclass(frozen=True, slots=True)
class SavedTurn:
    """A stored turn: as the hot tier keeps it, and the session it joined."""

    turn: dict[str, Any]
    session_id: int
    session_turns: int
    at: datetime


def save_turn(
    connection: Connection,
    *,
    learner: Learner,
    inbox_id: int | None,
    inbound: Inbound,
    agent: str,
    replies: list[dict[str, Any]],
    profile: dict[str, Any],
    state: dict[str, Any],
    idle: timedelta,
) -> SavedTurn:
    """Inside the turn's transaction: the learner row, the session document and the turn."""
    now = utcnow()
    connection.execute(
        update(learners)
        .where(learners.c.id == learner.id)
        .values(
            profile=profile,
            state=state,
            chat_id=inbound.chat_id,
            updated_at=now,
            last_inbound_at=inbound.sent_at,
            inactive_at=None,  # writing again undoes a blocked bot
            **reminder_times.column_change(learner.profile, profile, now),
        )
    )
    inbound_doc = inbound.to_dict()
    summary = turn_summary(agent, inbound_doc, replies, now)
    conversation_id, length = _append_to_session(connection, learner.id, summary, now, idle)
    connection.execute(
        _TURN_INSERT,
        {
            "learner_id": learner.id,
            "conversation_id": conversation_id,
            "inbox_id": inbox_id,
            "agent": agent,
            "inbound": inbound_doc,
            "reply": replies,
            "created_at": now,
        },
    )
    return SavedTurn(summary, conversation_id, length, now)


def _append_to_session(
    connection: Connection,
    learner_id: int,
    summary: dict[str, Any],
    now: datetime,
    idle: timedelta,
) -> tuple[int, int]:
    """Add the turn to the open session document, opening a new one after ``idle``; the
    session's id and its number of turns."""
    open_session = connection.execute(
        select(
            conversations.c.id,
            conversations.c.learner_id,
            conversations.c.started_at,
            conversations.c.document,
            conversations.c.last_turn_at,
        )
        .where(conversations.c.learner_id == learner_id, conversations.c.closed_at.is_(None))
        .order_by(conversations.c.id.desc())
        .limit(1)
    ).first()
    if open_session is not None and now - open_session.last_turn_at <= idle:
        document = dict(open_session.document)
        document["turns"] = [*document.get("turns", []), summary]
        connection.execute(
            update(conversations)
            .where(conversations.c.id == open_session.id)
            .values(document=document, last_turn_at=now)
        )
        return int(open_session.id), len(document["turns"])
    if open_session is not None:
        sessions.close(connection, open_session)
    result = connection.execute(
        insert(conversations).values(
            learner_id=learner_id,
            started_at=now,
            last_turn_at=now,
            document={"version": 1, "turns": [summary]},
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0]), 1
