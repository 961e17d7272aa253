"""Per-learner leases in the SQL store: one learner's messages never run at once.

A lease is a row (learner key, owner, expiry). It lives in SQL rather than
Redis so ordering holds through a Redis outage; a crashed owner's lease
simply expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, or_, update
from sqlalchemy.exc import IntegrityError

from tutor.models import learner_leases, utcnow


def acquire(
    engine: Engine, learner_key: str, owner: str, ttl: float, now: datetime | None = None
) -> bool:
    """Take or renew the lease; False while someone else holds a live one."""
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl)
    with engine.begin() as connection:
        taken = connection.execute(
            update(learner_leases)
            .where(
                learner_leases.c.learner_key == learner_key,
                or_(learner_leases.c.owner == owner, learner_leases.c.expires_at < now),
            )
            .values(owner=owner, expires_at=expires)
        ).rowcount
    if taken:
        return True
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(learner_leases).values(
                    learner_key=learner_key, owner=owner, expires_at=expires
                )
            )
    except IntegrityError:
        return False
    return True


def release(engine: Engine, learner_key: str, owner: str, now: datetime | None = None) -> None:
    """Let the lease lapse now; the row stays, so the next acquire is a single UPDATE."""
    with engine.begin() as connection:
        connection.execute(
            update(learner_leases)
            .where(learner_leases.c.learner_key == learner_key, learner_leases.c.owner == owner)
            .values(expires_at=(now or utcnow()) - timedelta(seconds=1))
        )
