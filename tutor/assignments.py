"""A teacher's message or exercise to a whole cohort, queued through the real outbox.

Each member gets one outbox row, written in the same transaction as the
``assignments`` row (and the staff change's audit row), so the history never claims
a send that was not queued. WhatsApp allows free-form text only within 24 hours of
the learner's last message; outside it the approved template named in the settings
carries the text, and without one the learner is skipped and counted as "not
reachable on WhatsApp until they write".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from tutor import logs, outbox
from tutor.channels.whatsapp import WINDOW
from tutor.cohorts import Cohort, Member
from tutor.i18n import t
from tutor.messages import Channel, Reply, Template
from tutor.models import assignments, users, utcnow
from tutor.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY = 2000
#: WhatsApp refuses template parameters with new lines or longer than this.
TEMPLATE_PARAMETER_LIMIT = 1000


class Kind(StrEnum):
    MESSAGE = "message"
    EXERCISE = "exercise"


class AssignmentError(ValueError):
    """The assignment cannot be sent as written; the message says why."""


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of an assignment: free-form texts and templates queued, members skipped."""

    assignment_id: int
    outcome: dict[str, int]
    learner_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Past:
    id: int
    kind: str
    body: str
    created_at: datetime
    sent_by: str
    outcome: dict[str, Any]


def text_for(kind: Kind, body: str, teacher: str, lang: str) -> str:
    """The message as the learner reads it, the fixed words in their language."""
    key = "teacher_exercise" if kind is Kind.EXERCISE else "teacher_message"
    return t(key, lang, teacher=teacher, text=body)


def reachable(member: Member, now: datetime) -> bool:
    """Free-form text may go to this learner now (always, except WhatsApp after 24 h)."""
    if member.channel != Channel.WHATSAPP.value:
        return True
    last = member.last_inbound_at
    return last is not None and now - last < WINDOW


def _template(settings: Settings, body: str, lang: str) -> Template | None:
    if not settings.whatsapp_assignment_template:
        return None
    parameter = " ".join(body.split())[:TEMPLATE_PARAMETER_LIMIT]
    language = settings.whatsapp_assignment_template_language or lang
    return Template(settings.whatsapp_assignment_template, language, (parameter,))


def send(
    connection: Connection,
    *,
    cohort: Cohort,
    members: Sequence[Member],
    kind: Kind,
    body: str,
    sent_by: int,
    settings: Settings,
    now: datetime | None = None,
) -> Sent:
    """Queue the assignment for every member and record it, in the caller's transaction.
    The caller nudges the workers for the returned learner keys once it has committed."""
    text = body.strip()
    if not text:
        raise AssignmentError("Write the message to send.")
    if len(text) > MAX_BODY:
        raise AssignmentError(f"Keep it under {MAX_BODY} characters.")
    moment = now or utcnow()
    outcome = {"members": len(members), "sent": 0, "template": 0, "skipped": 0}
    correlation = str(logs.current().get("correlation_id") or logs.new_correlation_id())
    keys: list[str] = []
    for member in members:
        lang = str(member.profile.get("explanation_language") or "en")
        message = text_for(kind, text, cohort.teacher_name, lang)
        if reachable(member, moment):
            reply, counted = Reply(message), "sent"
        else:
            template = _template(settings, message, lang)
            if template is None:
                outcome["skipped"] += 1
                continue
            reply, counted = Reply(message, template=template), "template"
        outbox.add(
            connection,
            inbox_id=None,
            learner_key=member.key,
            channel=Channel(member.channel),
            chat_id=member.chat_id,
            replies=(reply,),
            correlation_id=correlation,
        )
        outcome[counted] += 1
        keys.append(member.key)
    result = connection.execute(
        insert(assignments).values(
            cohort_id=cohort.id,
            sent_by=sent_by,
            kind=kind.value,
            body=text,
            created_at=moment,
            outcome=outcome,
        )
    )
    logger.info("assignment queued", extra={"cohort_id": cohort.id, **outcome})
    key = result.inserted_primary_key
    assert key is not None
    return Sent(int(key[0]), outcome, tuple(keys))


def history(engine: Engine, cohort_id: int, limit: int = 50) -> list[Past]:
    """The cohort's assignments, newest first, with who sent them and what became of them."""
    query = (
        select(assignments, users.c.display_name)
        .outerjoin(users, users.c.id == assignments.c.sent_by)
        .where(assignments.c.cohort_id == cohort_id)
        .order_by(assignments.c.created_at.desc(), assignments.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            Past(
                id=int(row.id),
                kind=row.kind,
                body=row.body,
                created_at=row.created_at,
                sent_by=row.display_name or "",
                outcome=dict(row.outcome or {}),
            )
            for row in connection.execute(query)
        ]
