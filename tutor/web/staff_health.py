"""Health in the staff app (admins only): queue, dead letters, providers and budgets.

The provider facts are the ones ``tutor llm status`` prints, read from the same router
(breaker states and budget usage); the queue facts come from :mod:`tutor.inbox` and the
dead letters from :mod:`tutor.dead_letters`, whose retry and discard are audited here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select, text

from tutor import dead_letters, inbox
from tutor.llm.types import Tier
from tutor.models import outbox, utcnow
from tutor.staff import Role
from tutor.web.staff import change, require, services

logger = logging.getLogger(__name__)

blueprint = Blueprint("staff_health", __name__, url_prefix="/admin/health")


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    tier: str
    provider: str
    model: str
    state: str  # closed | open | half_open | not configured
    failures: int
    open_until: datetime | None
    last_error: str | None


def _reachable_database() -> bool:
    try:
        with services().engine.connect() as connection:
            connection.execute(text("SELECT 1" + _dual()))
    except Exception:
        logger.warning("database unreachable from the health page")
        return False
    return True


def _dual() -> str:
    return " FROM DUAL" if services().engine.dialect.name == "oracle" else ""


def _reachable_redis() -> bool:
    try:
        return bool(services().redis.ping())
    except Exception:
        logger.warning("redis unreachable from the health page")
        return False


def _providers() -> tuple[list[ProviderHealth], list[Any]]:
    """Each model tier's breaker, and every provider's budget use (``tutor llm status``)."""
    router = services().router
    found = []
    for tier in Tier:
        if tier is Tier.OFFLINE:
            continue
        config = router.tiers.get(tier)
        if config is None:
            found.append(ProviderHealth(tier.value, "-", "-", "not configured", 0, None, None))
            continue
        name = config.provider.name
        state = router.breaker.state(name)
        until = datetime.fromtimestamp(state.opened_until, UTC) if state.opened_until else None
        found.append(
            ProviderHealth(
                tier.value,
                name,
                config.model.model,
                state.state,
                state.consecutive_failures,
                until,
                state.last_error,
            )
        )
    usage = sorted(router.budget.usage().values(), key=lambda use: use.provider)
    return found, usage


def _outbox_waiting() -> dict[str, int]:
    query = (
        select(outbox.c.status, func.count())
        .where(outbox.c.status.in_(("pending", "dead")))
        .group_by(outbox.c.status)
    )
    with services().engine.connect() as connection:
        found = {status: int(n) for status, n in connection.execute(query)}
    return {"pending": found.get("pending", 0), "dead": found.get("dead", 0)}


@blueprint.get("/")
@require(Role.ADMIN)
def index() -> str:
    engine = services().engine
    database = _reachable_database()
    providers: list[ProviderHealth] = []
    budgets: list[Any] = []
    if database:
        try:
            providers, budgets = _providers()
        except Exception:  # a page about trouble must not fail with it
            logger.exception("model router unavailable to the health page")
    return render_template(
        "staff/health_index.html",
        database=database,
        redis=_reachable_redis(),
        queue=inbox.counts(engine) if database else {},
        outbox=_outbox_waiting() if database else {},
        letters=dead_letters.newest(engine) if database else [],
        dead_total=dead_letters.count(engine) if database else 0,
        providers=providers,
        budgets=budgets,
        now=utcnow(),
    )


def _detail(letter_id: int) -> dict[str, Any]:
    """What the audit keeps about a dead letter: where it came from and whose (by id)."""
    letter = dead_letters.find(services().engine, letter_id)
    if letter is None:
        return {}
    return {"source": letter.source, "ref_id": letter.ref_id, "learner_id": letter.learner_id}


@blueprint.post("/dead-letters/<int:letter_id>/retry")
@require(Role.ADMIN)
def retry(letter_id: int) -> ResponseReturnValue:
    detail = _detail(letter_id)
    try:
        with change("dead letter retry", f"dead_letter:{letter_id}", detail) as connection:
            learner_key = dead_letters.retry(connection, letter_id)
    except dead_letters.DeadLetterError as exc:
        flash(f"Not retried: {exc}.")
        return redirect(url_for("staff_health.index"))
    try:
        services().queue.notify(learner_key)
    except Exception:  # the row is pending again; the sweeper picks it up
        logger.warning("queue hand-off failed after a dead letter retry")
    flash("Put back in the queue: it will be tried again shortly.")
    return redirect(url_for("staff_health.index"))


@blueprint.post("/dead-letters/<int:letter_id>/discard")
@require(Role.ADMIN)
def discard(letter_id: int) -> ResponseReturnValue:
    detail = _detail(letter_id)
    try:
        with change("dead letter discard", f"dead_letter:{letter_id}", detail) as connection:
            dead_letters.discard(connection, letter_id)
    except dead_letters.DeadLetterError as exc:
        flash(f"Not discarded: {exc}.")
        return redirect(url_for("staff_health.index"))
    flash("Dead letter discarded.")
    return redirect(url_for("staff_health.index"))
