"""Hand-off from the webhook to the workers: Dramatiq on Redis, or an in-process pool.

The inbox table is the record of work; the queue only says "learner X has
something new". Losing a hand-off (Redis down, a crash) delays a message until
the sweeper finds it; it never loses one.

Dramatiq was chosen over RQ, Huey and Celery: it acknowledges a message only
after the actor returns and re-queues the unacknowledged messages of a worker
that stopped heart-beating (at-least-once), it runs threads rather than a
fork per job (a text turn costs milliseconds), its actors can be declared at
run time (nothing connects at import), and it is small enough to read.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

Drain = Callable[[str], int]
Sweep = Callable[[], int]


class TaskQueue(Protocol):
    """Tells the workers a learner has new messages; consumers run in ``tutor worker``."""

    def notify(self, learner_key: str) -> None:
        """Hand off; may raise if the broker is down (the sweeper covers for it)."""
        ...

    def run(self, drain: Drain, sweep: Sweep, stop: threading.Event, threads: int) -> None:
        """Consume until ``stop`` is set."""
        ...

    def close(self) -> None: ...


def _sweep_loop(sweep: Sweep, stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            sweep()
        except Exception:
            logger.exception("sweep failed; trying again next round")


class EmbeddedQueue:
    """An in-process pool: threads drain learners as they are notified.

    It also polls the inbox every ``poll_interval`` seconds, so a web process
    run separately (gunicorn on the embedded store) still gets its messages
    processed by ``tutor worker``.
    """

    def __init__(self, poll_interval: float = 0.5) -> None:
        self._keys: queue.Queue[str] = queue.Queue()
        self._poll_interval = poll_interval
        self._consuming = False

    def notify(self, learner_key: str) -> None:
        if self._consuming:  # a web-only process leaves its rows to the worker's poll
            self._keys.put(learner_key)

    def run(self, drain: Drain, sweep: Sweep, stop: threading.Event, threads: int) -> None:
        self._consuming = True
        pool = [
            threading.Thread(
                target=self._consume, args=(drain, stop), name=f"tutor-worker-{n}", daemon=True
            )
            for n in range(threads)
        ]
        pool.append(
            threading.Thread(
                target=_sweep_loop,
                args=(sweep, stop, self._poll_interval),
                name="tutor-sweeper",
                daemon=True,
            )
        )
        for thread in pool:
            thread.start()
        stop.wait()
        for thread in pool:
            thread.join(timeout=10)

    def _consume(self, drain: Drain, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                learner_key = self._keys.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                drain(learner_key)
            except Exception:
                logger.exception("drain failed; the sweeper will retry")

    def close(self) -> None:
        return None


class DramatiqQueue:
    """Dramatiq on Redis: one actor, ``drain_learner(learner_key)``, on queue ``inbox``."""

    ACTOR = "drain_learner"

    def __init__(
        self, redis_url: str, *, sweep_interval: float = 2.0, heartbeat_timeout_ms: int = 30_000
    ) -> None:
        import dramatiq
        import redis
        from dramatiq.brokers.redis import RedisBroker
        from dramatiq.middleware import AgeLimit, Retries, ShutdownNotifications, TimeLimit

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=10.0)
        self._broker = RedisBroker(  # type: ignore[no-untyped-call]
            client=client,
            namespace="tutor",
            heartbeat_timeout=heartbeat_timeout_ms,
            middleware=[
                AgeLimit(),
                TimeLimit(time_limit=300_000),
                ShutdownNotifications(),
                Retries(max_retries=3, min_backoff=500, max_backoff=10_000),
            ],
        )
        self._drain: Drain | None = None
        self._actor = dramatiq.Actor(
            self._perform,
            broker=self._broker,
            actor_name=self.ACTOR,
            queue_name="inbox",
            priority=0,
            options={},
        )
        self._sweep_interval = sweep_interval

    def _perform(self, learner_key: str) -> None:
        if self._drain is None:
            raise RuntimeError("this process does not consume the queue")
        self._drain(learner_key)

    def notify(self, learner_key: str) -> None:
        self._actor.send(learner_key)

    def run(self, drain: Drain, sweep: Sweep, stop: threading.Event, threads: int) -> None:
        import dramatiq

        self._drain = drain
        worker = dramatiq.Worker(self._broker, worker_threads=threads, worker_timeout=1000)
        worker.start()
        sweeper = threading.Thread(
            target=_sweep_loop,
            args=(sweep, stop, self._sweep_interval),
            name="tutor-sweeper",
            daemon=True,
        )
        sweeper.start()
        try:
            stop.wait()
        finally:
            worker.stop(timeout=10_000)
            sweeper.join(timeout=10)

    def close(self) -> None:
        self._broker.close()
