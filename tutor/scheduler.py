"""Scheduled jobs, run by ``tutor scheduler`` (its own process) or inside ``tutor serve``.

Jobs are declared here with fixed ids and ``replace_existing`` so a restart
never duplicates them; they run in exactly one process because only that
process starts a scheduler (never a gunicorn worker).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from memory import nightly, sessions

if TYPE_CHECKING:
    from tutor.services import Services

logger = logging.getLogger(__name__)


def close_idle_sessions(services: Services) -> None:
    """Close conversation sessions idle for longer than the session timeout."""
    closed = sessions.close_idle(
        services.engine, timedelta(minutes=services.settings.session_idle_minutes)
    )
    if closed:
        logger.info("closed idle sessions", extra={"count": closed})


def nightly_memory(services: Services) -> None:
    """Summarise the day of each learner whose local night it is (memory/nightly.py)."""
    settings = services.settings
    report = nightly.run(
        services.engine,
        services.embedder,
        retention_days=settings.memory_retention_days,
        batch_size=settings.memory_batch_size,
    )
    if report.done:
        logger.info(
            "nightly memory notes written",
            extra={"learners": report.done, "notes": report.notes, "seconds": report.seconds},
        )


def reconcile_payments(services: Services) -> None:
    """Compare Stripe's subscriptions with the entitlement records; drift is reported."""
    if services.stripe is None:
        return
    from payments import reconcile
    from tutor.models import utcnow

    report = reconcile.reconcile_stripe(services.engine, services.stripe, utcnow())
    level = logging.WARNING if report.drift else logging.INFO
    logger.log(
        level,
        "payments reconciled",
        extra={"checked": report.checked, "records": report.records, "drift": len(report.drift)},
    )


def build_scheduler(services: Services, *, blocking: bool) -> BaseScheduler:
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone="UTC") if blocking else BackgroundScheduler(timezone="UTC")
    )
    scheduler.add_job(
        close_idle_sessions,
        "interval",
        args=[services],
        minutes=1,
        id="close_idle_sessions",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        nightly_memory,
        "interval",
        args=[services],
        minutes=15,  # each learner is summarised once, in the first run of their night
        id="nightly_memory",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        reconcile_payments,
        "cron",
        args=[services],
        hour=3,
        minute=30,  # UTC, once a night
        id="reconcile_payments",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
    )
    return scheduler
