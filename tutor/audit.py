"""The staff audit log: who did what to which target, from where, and when.

:func:`record` writes in the caller's transaction, so an audited change and its row
commit together or not at all. Targets name learners by id (``learner:42``), never by
their chat key, so the log keeps no contact details once a learner is erased.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from tutor.models import audit_log, users, utcnow


def record(
    connection: Connection,
    user_id: int | None,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Add one row to the log in the caller's transaction."""
    connection.execute(
        insert(audit_log).values(
            at=utcnow(),
            user_id=user_id,
            action=action[:64],
            target=target[:200],
            detail=detail or {},
            ip=(ip or None) and ip[:64],
        )
    )


def recent(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    """The newest rows first, each with the staff member's email (None: the command line)."""
    query = (
        select(audit_log, users.c.email)
        .select_from(audit_log.outerjoin(users, audit_log.c.user_id == users.c.id))
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
