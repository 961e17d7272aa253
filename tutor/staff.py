"""Staff accounts of the web app (admins and teachers): create, authenticate, disable, list.

Passwords are kept only as argon2id hashes (``argon2-cffi``'s defaults, RFC 9106's low-memory
profile); a hash made with older parameters is replaced on the next successful sign-in.
An unknown or disabled email costs the same hash check as a known one, so the time a
sign-in takes does not tell which emails have accounts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from tutor.models import users, utcnow

logger = logging.getLogger(__name__)

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a cap keeps a request from buying CPU


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"


class StaffError(Exception):
    """The account cannot be created or changed as asked."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: Role
    display_name: str
    created_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(
            id=int(row.id),
            email=row.email,
            role=Role(row.role),
            display_name=row.display_name,
            created_at=row.created_at,
            last_login_at=row.last_login_at,
            disabled_at=row.disabled_at,
        )


_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to check unknown emails against (made once, on first need)."""
    return _hasher.hash("not a password: unknown accounts are checked against this")


def normalise_email(email: str) -> str:
    """Emails are compared lower-cased and trimmed."""
    cleaned = email.strip().lower()
    if "@" not in cleaned or len(cleaned) > 254 or any(c.isspace() for c in cleaned):
        raise StaffError(f"not an email address: {email!r}")
    return cleaned


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffError(f"the password is longer than {MAX_PASSWORD} characters")


def create(engine: Engine, email: str, password: str, role: Role, display_name: str = "") -> User:
    """A new account; refuses a short password or an email already taken."""
    email = normalise_email(email)
    check_password(password)
    values = {
        "email": email,
        "password_hash": _hasher.hash(password),
        "role": Role(role).value,
        "display_name": (display_name.strip() or email.split("@", 1)[0])[:120],
        "created_at": utcnow(),
    }
    try:
        with engine.begin() as connection:
            connection.execute(insert(users).values(**values))
    except IntegrityError as exc:
        raise StaffError(f"{email} already has an account") from exc
    found = by_email(engine, email)
    assert found is not None
    return found


def by_email(engine: Engine, email: str) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.email == email)).first()
    return User.from_row(row) if row is not None else None


def get(engine: Engine, user_id: int) -> User | None:
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.id == user_id)).first()
    return User.from_row(row) if row is not None else None


def all_users(engine: Engine) -> list[User]:
    with engine.connect() as connection:
        rows = connection.execute(select(users).order_by(users.c.email)).all()
    return [User.from_row(row) for row in rows]


def authenticate(engine: Engine, email: str, password: str) -> User | None:
    """The account when the password is right and it is not disabled; else None."""
    try:
        email = normalise_email(email)
    except StaffError:
        email = ""
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.email == email)).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    try:
        _hasher.verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled_at is not None:
        return None
    now = utcnow()
    changes: dict[str, Any] = {"last_login_at": now}
    if _hasher.check_needs_rehash(stored):
        changes["password_hash"] = _hasher.hash(password)
        logger.info("staff password hash upgraded", extra={"user_id": row.id})
    with engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == row.id).values(**changes))
    return replace(User.from_row(row), last_login_at=now)


def disable(engine: Engine, email: str) -> bool:
    """Stop the account signing in (sessions end at their next request); False if unknown."""
    with engine.begin() as connection:
        result = connection.execute(
            update(users)
            .where(users.c.email == normalise_email(email), users.c.disabled_at.is_(None))
            .values(disabled_at=utcnow())
        )
    return bool(result.rowcount)
