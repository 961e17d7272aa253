"""What the soak samples while it runs: queue depth from the database, CPU and RSS per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from bench import procs
from tutor.models import inbox, outbox, utcnow


@dataclass(frozen=True, slots=True)
class Depth:
    at: float  # seconds since the load started
    inbox_pending: int
    outbox_due: int
    outbox_pending: int


@dataclass
class Usage:
    """One process (with everything below it) over the run."""

    name: str
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    peak_cores: float = 0.0  # the busiest sampling interval
    rss_start: float = 0.0
    rss_peak: float = 0.0
    rss_end: float = 0.0
    processes: int = 1

    @property
    def cpu(self) -> float:
        return self.cpu_end - self.cpu_start


def depth(engine: Engine, at: float) -> Depth:
    now = utcnow()
    with engine.connect() as connection:
        waiting = connection.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
        ).scalar_one()
        rows = connection.execute(
            select(
                func.count(),
                func.count().filter(outbox.c.next_attempt_at <= now),
            )
            .select_from(outbox)
            .where(outbox.c.status == "pending")
        ).one()
    return Depth(at, int(waiting), int(rows[1]), int(rows[0]))


def memory_of(pids: list[int], shared_once: bool) -> float:
    """MiB resident in ``pids``: summed RSS, or for PostgreSQL (``shared_once``) each
    process's private memory plus the shared buffers counted once."""
    found = [m for pid in pids if (m := procs.memory(pid)) is not None]
    if not shared_once:
        return sum(m.rss for m in found)
    return sum(m.anon + m.file for m in found) + max((m.shmem for m in found), default=0.0)


@dataclass
class Watch:
    """Samples every ``interval`` s in a thread until stopped."""

    engine: Engine
    groups: dict[str, Callable[[], list[int]]]  # name -> the pids it covers now
    roots: dict[str, int]  # name -> the pid whose tree CPU is counted
    shared_once: frozenset[str] = frozenset()
    alone: frozenset[str] = frozenset()  # CPU of the root itself, not of its children
    interval: float = 5.0
    depths: list[Depth] = field(default_factory=list)
    usage: dict[str, Usage] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0
    _last: float = 0.0
    _machine_start: float = 0.0
    machine_busy: float = 0.0  # CPU seconds the whole machine spent between start and stop
    #: (seconds since the start, cores the watched processes used, cores anything else used)
    cores: list[tuple[float, float, float]] = field(default_factory=list)
    _machine_last: float = 0.0

    def start(self, started: float) -> None:
        self._started = started
        self._last = time.monotonic()
        self._machine_start = self._machine_last = procs.machine_cpu_seconds()[0]
        for name in self.groups:
            usage = Usage(name)
            usage.cpu_start = usage.cpu_end = self._cpu(name)
            usage.rss_start = usage.rss_peak = usage.rss_end = self._rss(name)
            self.usage[name] = usage
        self._thread = threading.Thread(target=self._loop, name="soak-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._sample()
        self.machine_busy = procs.machine_cpu_seconds()[0] - self._machine_start

    def _cpu(self, name: str) -> float:
        if name in self.alone:
            return procs.cpu_seconds(self.roots[name])
        return procs.tree_cpu_seconds(self.roots[name])

    def _rss(self, name: str) -> float:
        return memory_of(self.groups[name](), name in self.shared_once)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        elapsed = time.time() - self._started
        try:
            self.depths.append(depth(self.engine, elapsed))
        except Exception as exc:  # noqa: BLE001 - a missed sample is reported, not fatal
            self.errors.append(f"{elapsed:.0f} s: {type(exc).__name__}")
        now = time.monotonic()
        span, self._last = now - self._last, now
        machine = procs.machine_cpu_seconds()[0]
        busy, self._machine_last = machine - self._machine_last, machine
        ours = 0.0
        for name, usage in self.usage.items():
            before = usage.cpu_end
            usage.cpu_end = max(usage.cpu_end, self._cpu(name))
            ours += usage.cpu_end - before
            if span > 1.0:
                usage.peak_cores = max(usage.peak_cores, (usage.cpu_end - before) / span)
            pids = self.groups[name]()
            usage.processes = max(usage.processes, len(pids))
            usage.rss_end = memory_of(pids, name in self.shared_once)
            usage.rss_peak = max(usage.rss_peak, usage.rss_end)
        if span > 1.0:
            self.cores.append((elapsed, ours / span, max(0.0, busy - ours) / span))
