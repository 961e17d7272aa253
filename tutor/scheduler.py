"""Scheduled jobs, run by ``tutor scheduler`` (its own process) or inside ``tutor serve``.

APScheduler 3 keeps the jobs in the SQL store (a SQLAlchemy job store, table
``apscheduler_jobs``, created by APScheduler itself), declared here with fixed ids and
``replace_existing`` so a restart never duplicates them. Exactly one scheduler acts
even when several are started (never one per gunicorn worker): each holds or waits
for the ``scheduler`` lease row (the per-learner lease table, so it works the same
on SQLite, PostgreSQL and Oracle). The holder renews it every third of its life and
runs the jobs; the others look again as often, and one of them takes over once the
holder stops renewing (a crash) or gives the lease back (a clean stop). A job checks
its scheduler still holds a live lease before it acts, and the reminders' unique
(learner, kind, slot) rows make even an overlap harmless.

    job                  when              what
    ──────────────────── ───────────────── ─────────────────────────────────────────
    close_idle_sessions  every minute      idle sessions closed and summarised
    reminders            every minute      :func:`tutor.reminders.run_due`
    nightly_memory       every 15 minutes  memory notes for learners at their night
    reconcile_payments   03:30 UTC         Stripe against the entitlement records
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from memory import nightly, sessions
from tutor import leases, reminder_times, reminders
from tutor.db import make_engine
from tutor.models import utcnow

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


def send_reminders(services: Services) -> None:
    """Decide and queue the reminders due this minute (:mod:`tutor.reminders`)."""
    report = reminders.run_due(
        services.engine,
        utcnow(),
        reminder_times.Policy.from_settings(services.settings),
        notify=services.queue.notify,
    )
    if report.looked_at:
        logger.info(
            "reminders decided",
            extra={
                "learners": report.looked_at,
                "queued": report.queued,
                "templates": report.templates,
                "skipped": dict(report.skipped),
            },
        )


@dataclass(frozen=True, slots=True)
class Job:
    """A scheduled job: what it runs and its APScheduler trigger."""

    run: Callable[[Services], None]
    trigger: str
    options: dict[str, Any] = field(default_factory=dict)


JOBS: dict[str, Job] = {
    "close_idle_sessions": Job(close_idle_sessions, "interval", {"minutes": 1}),
    # on the minute, so a reminder for 19:00 is decided at 19:00:00
    "reminders": Job(send_reminders, "cron", {"minute": "*"}),
    # each learner is summarised once, in the first run of their night
    "nightly_memory": Job(nightly_memory, "interval", {"minutes": 15}),
    "reconcile_payments": Job(reconcile_payments, "cron", {"hour": 3, "minute": 30}),  # UTC
}

#: The lease row the active scheduler holds (in the per-learner lease table).
LEASE_KEY = "scheduler"

#: Schedulers of this process by key: the job store holds (key, job name), never objects.
_SCHEDULERS: dict[str, LeadingScheduler] = {}


def run_job(key: str, name: str) -> None:
    """What the job store calls: job ``name`` of the scheduler ``key`` of this process."""
    scheduler = _SCHEDULERS.get(key)
    if scheduler is None:
        logger.warning("job of a scheduler gone from this process", extra={"job": name})
        return
    scheduler.run(name)


class LeadingScheduler:
    """An APScheduler on the SQL job store that runs only while it holds the lease.

    ``start()`` blocks (``tutor scheduler``) or runs the lease loop in a thread (``tutor
    serve``); ``step()`` is one look at the lease, which tests call with their own clock.
    """

    def __init__(
        self,
        services: Services,
        *,
        blocking: bool,
        clock: Callable[[], datetime] = utcnow,
        lease_seconds: float | None = None,
    ) -> None:
        self.services = services
        self.blocking = blocking
        self.clock = clock
        self.ttl = lease_seconds or services.settings.scheduler_lease_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.key = uuid.uuid4().hex
        self._valid_until: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        url = services.engine.url.render_as_string(hide_password=False)
        # Its own engine: the job store disposes of it when the scheduler shuts down.
        store = SQLAlchemyJobStore(engine=make_engine(url))
        self.jobs = BackgroundScheduler(
            timezone="UTC",
            jobstores={"default": store},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        _SCHEDULERS[self.key] = self

    @property
    def leading(self) -> bool:
        """Whether this scheduler holds a lease that is still live by its clock."""
        return self._valid_until is not None and self.clock() < self._valid_until

    @property
    def running(self) -> bool:
        """Whether its APScheduler is processing jobs."""
        return self._started and self.jobs.state == STATE_RUNNING

    def step(self) -> bool:
        """Take or renew the lease and start or pause the jobs to match; True if leading."""
        now = self.clock()
        if leases.acquire(self.services.engine, LEASE_KEY, self.owner, self.ttl, now):
            if not self.leading:
                logger.info("scheduler leads", extra={"owner": self.owner})
                self._lead()
            self._valid_until = now + timedelta(seconds=self.ttl)
            return True
        if self._valid_until is not None:
            logger.info("scheduler lease lost; waiting", extra={"owner": self.owner})
        self._valid_until = None
        if self.running:
            self.jobs.pause()
        return False

    def _lead(self) -> None:
        """Put this scheduler's jobs in the store (replacing its predecessor's) and run them."""
        for name, job in JOBS.items():
            self.jobs.add_job(
                "tutor.scheduler:run_job",
                job.trigger,
                args=[self.key, name],
                id=name,
                replace_existing=True,
                **job.options,
            )
        if not self._started:
            self.jobs.start()
            self._started = True
        else:
            self.jobs.resume()

    def run(self, name: str) -> None:
        """Run job ``name`` if this scheduler still leads."""
        if not self.leading:
            logger.info("job skipped: not the leading scheduler", extra={"job": name})
            return
        JOBS[name].run(self.services)

    def start(self) -> None:
        if not self.blocking:
            self._thread = threading.Thread(target=self._loop, name="tutor-scheduler", daemon=True)
            self._thread.start()
            return
        try:
            self._loop()
        finally:
            self._stand_down(wait=False)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # the database is away: keep the jobs only while the lease lives
                logger.exception("scheduler lease check failed")
                if not self.leading and self.running:
                    self.jobs.pause()
            self._stop.wait(self.ttl / 3)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the jobs and give the lease back, so another scheduler takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
        self._stand_down(wait=wait)

    def _stand_down(self, *, wait: bool) -> None:
        if self._started:
            self.jobs.shutdown(wait=wait)
            self._started = False
        if self._valid_until is not None:
            try:
                leases.release(self.services.engine, LEASE_KEY, self.owner, self.clock())
            except Exception:
                logger.exception("could not give the scheduler lease back; it runs out")
            self._valid_until = None
        _SCHEDULERS.pop(self.key, None)


def build_scheduler(
    services: Services,
    *,
    blocking: bool,
    clock: Callable[[], datetime] = utcnow,
    lease_seconds: float | None = None,
) -> LeadingScheduler:
    """The process's scheduler; it acts only while it holds the scheduler lease."""
    return LeadingScheduler(services, blocking=blocking, clock=clock, lease_seconds=lease_seconds)
