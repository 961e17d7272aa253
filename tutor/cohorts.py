"""Cohorts: a teacher's class, its join code, who is in it, and who may see it.

A learner joins with a short code (``/join K7M2QX`` in the chat) and belongs to one
cohort at a time: joining another moves them. A cohort may name a curriculum
(``"es-for-en@1"``); a member practising its language is pinned to it, as
``tutor curriculum assign`` would. Teachers see only their own cohorts and the
learners in them; admins see every cohort and every learner.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, case, func, insert, select, update

from agents.curriculum import shipped
from agents.library import Library
from tutor.models import cohort_members, cohorts, curricula, learners, users, utcnow
from tutor.staff import Role, User

#: Join-code letters: no 0/O or 1/I/L, which look alike on a phone screen.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
MAX_GOAL = 50
_CODE_SHAPE = re.compile(r"^[A-Z0-9]{4,16}$")


class CohortError(ValueError):
    """A cohort cannot be created or changed as asked; the message says why, plainly."""


@dataclass(frozen=True, slots=True)
class Cohort:
    id: int
    name: str
    join_code: str
    teacher_id: int
    teacher_name: str
    curriculum: str | None
    weekly_goal: int
    created_at: datetime
    archived_at: datetime | None
    members: int = 0

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


@dataclass(frozen=True, slots=True)
class Member:
    learner_id: int
    key: str
    channel: str
    chat_id: str
    profile: dict[str, Any]
    joined_at: datetime
    last_inbound_at: datetime | None

    @property
    def label(self) -> str:
        """How staff pages name the learner: their name if known, else the channel and the
        last digits of their id (never a whole phone number)."""
        return display_name(self.channel, self.chat_id, self.profile)


@dataclass(frozen=True, slots=True)
class CurriculumChoice:
    key: str  # "es-for-en@1"
    title: str
    target_language: str


class Joined(StrEnum):
    JOINED = "joined"
    MOVED = "moved"
    ALREADY = "already"
    ARCHIVED = "archived"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class JoinResult:
    status: Joined
    cohort: Cohort | None = None


# -- naming learners on staff pages -------------------------------------------------------

_CHANNEL_NAMES = {
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "web": "Web",
    "console": "Console",
}


def mask(identifier: str, keep: int = 4) -> str:
    """``"34600123456"`` -> ``"···3456"``: enough to tell learners apart, not to call them."""
    tail = re.sub(r"[^0-9A-Za-z]", "", identifier)[-keep:]
    return f"···{tail}" if tail else "···"


def display_name(channel: str, chat_id: str, profile: dict[str, Any]) -> str:
    name = str(profile.get("name") or profile.get("display_name") or "").strip()
    if name:
        return name[:60]
    return f"{_CHANNEL_NAMES.get(channel, channel)} {mask(chat_id)}"


# -- codes and curricula ------------------------------------------------------------------


def normalise_code(code: str) -> str:
    """What the learner typed, as stored: upper case, no spaces or dashes."""
    return re.sub(r"[\s-]", "", code).upper()


def new_code(connection: Connection) -> str:
    """A fresh join code no cohort uses (drawn again on the rare collision). Every code
    holds a digit, which tells "join K7M2QX" apart from a sentence in the chat."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if not any(ch.isdigit() for ch in code):
            continue
        taken = connection.execute(select(cohorts.c.id).where(cohorts.c.join_code == code)).first()
        if taken is None:
            return code


def curriculum_choices(engine: Engine, library: Library) -> list[CurriculumChoice]:
    """Curricula a cohort may name: the shipped ones the running library teaches, then the
    versions teachers published in the app."""
    found: dict[str, CurriculumChoice] = {}
    for path in shipped():
        stem, _, version = path.name.removesuffix(".yaml").rpartition(".v")
        loaded = library.get(f"{stem}@{version}")
        if loaded is not None:
            key = f"{loaded.id}@{loaded.version}"
            found[key] = CurriculumChoice(key, loaded.title, loaded.target_language)
    query = (
        select(curricula.c.curriculum_id, curricula.c.version, curricula.c.title)
        .add_columns(curricula.c.target_language)
        .where(curricula.c.status == "published")
        .order_by(curricula.c.curriculum_id, curricula.c.version)
    )
    with engine.connect() as connection:
        for row in connection.execute(query):
            key = f"{row.curriculum_id}@{row.version}"
            found.setdefault(key, CurriculumChoice(key, row.title, row.target_language))
    return list(found.values())


def _checked(
    name: str, curriculum: str | None, goal: int, choices: Iterable[CurriculumChoice]
) -> tuple[str, str | None, int]:
    cleaned = " ".join(name.split())[:120]
    if not cleaned:
        raise CohortError("Give the class a name.")
    chosen = (curriculum or "").strip() or None
    if chosen is not None and chosen not in {c.key for c in choices}:
        raise CohortError(f"There is no curriculum {chosen!r} to assign.")
    if not 0 <= goal <= MAX_GOAL:
        raise CohortError(f"The weekly goal is a number of lessons from 0 to {MAX_GOAL}.")
    return cleaned, chosen, goal


# -- changes (in the caller's transaction, so the audit row commits with them) -------------


def create(
    connection: Connection,
    *,
    name: str,
    teacher_id: int,
    curriculum: str | None,
    weekly_goal: int,
    choices: Iterable[CurriculumChoice],
    now: datetime | None = None,
) -> int:
    """A new cohort with a fresh join code; returns its id."""
    cleaned, chosen, goal = _checked(name, curriculum, weekly_goal, choices)
    result = connection.execute(
        insert(cohorts).values(
            name=cleaned,
            join_code=new_code(connection),
            teacher_id=teacher_id,
            curriculum=chosen,
            weekly_goal=goal,
            created_at=now or utcnow(),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def configure(
    connection: Connection,
    cohort_id: int,
    *,
    name: str,
    curriculum: str | None,
    weekly_goal: int,
    choices: Iterable[CurriculumChoice],
) -> None:
    """Rename the cohort, change its curriculum and weekly goal; members on another
    curriculum of the same language are moved to the new one."""
    known = list(choices)
    cleaned, chosen, goal = _checked(name, curriculum, weekly_goal, known)
    connection.execute(
        update(cohorts)
        .where(cohorts.c.id == cohort_id)
        .values(name=cleaned, curriculum=chosen, weekly_goal=goal)
    )
    if chosen is not None:
        language = {c.key: c.target_language for c in known}.get(chosen)
        for learner_id, profile in connection.execute(
            select(learners.c.id, learners.c.profile)
            .join(cohort_members, cohort_members.c.learner_id == learners.c.id)
            .where(cohort_members.c.cohort_id == cohort_id)
        ):
            pinned = pin(dict(profile), chosen, language)
            if pinned is not None:
                connection.execute(
                    update(learners).where(learners.c.id == learner_id).values(profile=pinned)
                )


def archive(connection: Connection, cohort_id: int, now: datetime | None = None) -> None:
    """Close the cohort: its code stops working; members and history stay visible."""
    connection.execute(
        update(cohorts)
        .where(cohorts.c.id == cohort_id, cohorts.c.archived_at.is_(None))
        .values(archived_at=now or utcnow())
    )


def restore(connection: Connection, cohort_id: int) -> None:
    connection.execute(update(cohorts).where(cohorts.c.id == cohort_id).values(archived_at=None))


def new_join_code(connection: Connection, cohort_id: int) -> str:
    """Replace the cohort's code (the old one was shared too widely); members stay."""
    code = new_code(connection)
    connection.execute(update(cohorts).where(cohorts.c.id == cohort_id).values(join_code=code))
    return code


def pin(
    profile: dict[str, Any], curriculum: str | None, language: str | None
) -> dict[str, Any] | None:
    """The profile pinned to the cohort's curriculum, or None when nothing changes (no
    curriculum, another language, or already on it)."""
    if not curriculum or language is None or profile.get("target_language") != language:
        return None
    if profile.get("curriculum") == curriculum:
        return None
    return {**profile, "curriculum": curriculum}


def join(engine: Engine, learner_id: int, code: str, now: datetime | None = None) -> JoinResult:
    """Put the learner in the cohort with ``code`` (moving them from another one);
    joining the same cohort again changes nothing."""
    wanted = normalise_code(code)
    if not _CODE_SHAPE.match(wanted):
        return JoinResult(Joined.UNKNOWN)
    with engine.begin() as connection:
        found = _select(connection, cohorts.c.join_code == wanted)
        if not found:
            return JoinResult(Joined.UNKNOWN)
        cohort = found[0]
        if cohort.archived:
            return JoinResult(Joined.ARCHIVED, cohort)
        current = connection.execute(
            select(cohort_members.c.cohort_id).where(cohort_members.c.learner_id == learner_id)
        ).scalar_one_or_none()
        if current == cohort.id:
            return JoinResult(Joined.ALREADY, cohort)
        stamp = now or utcnow()
        if current is None:
            connection.execute(
                insert(cohort_members).values(
                    cohort_id=cohort.id, learner_id=learner_id, joined_at=stamp
                )
            )
            return JoinResult(Joined.JOINED, cohort)
        connection.execute(
            update(cohort_members)
            .where(cohort_members.c.learner_id == learner_id)
            .values(cohort_id=cohort.id, joined_at=stamp)
        )
        return JoinResult(Joined.MOVED, cohort)


# -- reading ------------------------------------------------------------------------------


def _select(connection: Connection, *where: Any) -> list[Cohort]:
    counts = (
        select(cohort_members.c.cohort_id, func.count().label("members"))
        .group_by(cohort_members.c.cohort_id)
        .subquery()
    )
    query = (
        select(cohorts, users.c.display_name, counts.c.members)
        .join(users, users.c.id == cohorts.c.teacher_id)
        .outerjoin(counts, counts.c.cohort_id == cohorts.c.id)
        .where(*where)
        .order_by(case((cohorts.c.archived_at.is_(None), 0), else_=1), cohorts.c.name, cohorts.c.id)
    )
    return [
        Cohort(
            id=int(row.id),
            name=row.name,
            join_code=row.join_code,
            teacher_id=int(row.teacher_id),
            teacher_name=row.display_name,
            curriculum=row.curriculum,
            weekly_goal=int(row.weekly_goal),
            created_at=row.created_at,
            archived_at=row.archived_at,
            members=int(row.members or 0),
        )
        for row in connection.execute(query)
    ]


def get(engine: Engine, cohort_id: int) -> Cohort | None:
    with engine.connect() as connection:
        found = _select(connection, cohorts.c.id == cohort_id)
    return found[0] if found else None


def of_learner(engine: Engine, learner_id: int) -> Cohort | None:
    """The cohort the learner is in, if any."""
    with engine.connect() as connection:
        cohort_id = connection.execute(
            select(cohort_members.c.cohort_id).where(cohort_members.c.learner_id == learner_id)
        ).scalar_one_or_none()
        found = _select(connection, cohorts.c.id == cohort_id) if cohort_id is not None else []
    return found[0] if found else None


def visible_cohorts(engine: Engine, user: User) -> list[Cohort]:
    """Every cohort for an admin; a teacher's own cohorts for a teacher."""
    where = () if user.role is Role.ADMIN else (cohorts.c.teacher_id == user.id,)
    with engine.connect() as connection:
        return _select(connection, *where)


def visible_cohort(engine: Engine, user: User, cohort_id: int) -> Cohort | None:
    """The cohort if ``user`` may see it, else None (the page answers 404 either way)."""
    cohort = get(engine, cohort_id)
    if cohort is None or (user.role is not Role.ADMIN and cohort.teacher_id != user.id):
        return None
    return cohort


def can_see_learner(engine: Engine, user: User, learner_id: int) -> bool:
    """Admins see every learner; a teacher sees the learners in their own cohorts."""
    with engine.connect() as connection:
        if user.role is Role.ADMIN:
            found = connection.execute(select(learners.c.id).where(learners.c.id == learner_id))
            return found.first() is not None
        mine = connection.execute(
            select(cohort_members.c.id)
            .join(cohorts, cohorts.c.id == cohort_members.c.cohort_id)
            .where(cohort_members.c.learner_id == learner_id, cohorts.c.teacher_id == user.id)
        )
        return mine.first() is not None


_MEMBER_COLUMNS = (
    learners.c.id,
    learners.c.key,
    learners.c.channel,
    learners.c.chat_id,
    learners.c.profile,
    learners.c.last_inbound_at,
    learners.c.created_at,
    cohort_members.c.joined_at,
)


def _member(row: Any) -> Member:
    return Member(
        learner_id=int(row.id),
        key=row.key,
        channel=row.channel,
        chat_id=row.chat_id,
        profile=dict(row.profile or {}),
        joined_at=row.joined_at or row.created_at,
        last_inbound_at=row.last_inbound_at,
    )


def members(engine: Engine, cohort_id: int) -> list[Member]:
    """The cohort's learners, longest-standing first."""
    query = (
        select(*_MEMBER_COLUMNS)
        .join(cohort_members, cohort_members.c.learner_id == learners.c.id)
        .where(cohort_members.c.cohort_id == cohort_id)
        .order_by(cohort_members.c.joined_at, learners.c.id)
    )
    with engine.connect() as connection:
        return [_member(row) for row in connection.execute(query)]


def learner(engine: Engine, learner_id: int) -> Member | None:
    """One learner as a staff page shows them (``joined_at`` is their first contact when
    they are in no cohort)."""
    query = (
        select(*_MEMBER_COLUMNS)
        .outerjoin(cohort_members, cohort_members.c.learner_id == learners.c.id)
        .where(learners.c.id == learner_id)
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else _member(row)
