"""Worker overhead per text message on the instant-reply path (rules and onboarding, no model).

N inbox rows across many Telegram learners are stored first (as the webhook
would), then processed in this process on one thread, in one of three ways:
``task`` calls ``Worker.drain(learner)`` once per message (one Dramatiq task, or
one embedded notification, per webhook), ``drain`` once per learner (the least
work possible), ``sweep`` calls ``Worker.sweep()`` until nothing is left (the
embedded worker's poll). Replies go to the fake Bot API in a child process. CPU is
``time.process_time()`` of this process, so it counts the worker's own work
(Python, drivers, the HTTP send) but not PostgreSQL's, Redis's or the fake's,
which are reported beside it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from bench import procs, profile, rig, updates
from bench.fake import FakeTelegramProcess
from tests.support import payloads
from tutor import inbox, logs
from tutor.messages import Channel, Inbound, Kind
from tutor.services import Services, build_services
from tutor.settings import Settings
from tutor.worker import Worker

TARGET_CPU_MS = 5.0
BACKENDS = {"sqlite": "SQLite + embedded store", "postgres": "PostgreSQL + Redis"}
MODES = ("task", "drain", "sweep")
_user_ids = itertools.count(700_000_000)
_update_ids = itertools.count(50_000_000)


@dataclass(frozen=True)
class Options:
    messages: int = 2000
    learners: int = 400
    warmup: int = 100
    backends: tuple[str, ...] = ("sqlite", "postgres")
    modes: tuple[str, ...] = MODES
    profile_messages: int = 400


@dataclass
class Measurement:
    backend: str
    mode: str
    messages: int
    learners: int
    processed: int
    replies_sent: int
    cpu_seconds: float
    wall_seconds: float
    statements: int
    commits: int
    checkouts: int
    redis_commands: int | None
    others_cpu: dict[str, float]
    unrelated_cores: float  # the machine's CPU use outside this benchmark, on average

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / self.processed * 1000 if self.processed else 0.0

    @property
    def wall_ms(self) -> float:
        return self.wall_seconds / self.processed * 1000 if self.processed else 0.0

    def per_message(self, value: float) -> float:
        return value / self.processed if self.processed else 0.0

    @property
    def meets_target(self) -> bool:
        return 0 < self.cpu_ms < TARGET_CPU_MS and self.processed == self.messages


@dataclass
class Profile:
    backend: str
    messages: int
    groups: list[profile.Share]
    steps: list[profile.Share]
    functions: list[profile.Functions]


@dataclass
class Result:
    options: Options
    measurements: list[Measurement] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)

    @property
    def disturbance(self) -> float:
        return max((m.unrelated_cores for m in self.measurements), default=0.0)


# Inbox rows ----------------------------------------------------------------------------------


def inbounds(messages: int, learners: int) -> list[Inbound]:
    """Telegram text messages as the webhook stores them, learners taking turns."""
    users = [next(_user_ids) for _ in range(learners)]
    found = []
    for index in range(messages):
        user_id = users[index % learners]
        text = updates.text_for(index, learners)
        update_id = next(_update_ids)
        raw = payloads.telegram_text(user_id, text, update_id=update_id)
        found.append(
            Inbound(
                channel=Channel.TELEGRAM,
                chat_id=str(user_id),
                learner_key=f"telegram:{user_id}",
                provider_message_id=str(update_id),
                kind=Kind.COMMAND if text.startswith("/") else Kind.TEXT,
                text=text,
                language_hint="en",
                sent_at=datetime.now(UTC),
                raw=raw,
            )
        )
    return found


def preload(services: Services, messages: list[Inbound]) -> list[str]:
    """Store the rows; each one's learner key, in arrival order (one hand-off each)."""
    for message in messages:
        inbox.accept(services.engine, message, logs.new_correlation_id())
    return [message.learner_key for message in messages]


# Counting what a message costs outside this process ---------------------------------------------


@contextmanager
def counted(engine: Engine) -> Iterator[dict[str, int]]:
    """Counts SQL statements, commits and pool checkouts on ``engine`` inside the block."""
    counts = {"statements": 0, "commits": 0, "checkouts": 0}

    def statement(*_args: Any) -> None:
        counts["statements"] += 1

    def commit(*_args: Any) -> None:
        counts["commits"] += 1

    def checkout(*_args: Any) -> None:
        counts["checkouts"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    event.listen(engine, "checkout", checkout)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
        event.remove(engine, "checkout", checkout)


def _redis_commands(services: Services) -> int | None:
    try:
        return int(services.redis.info("stats")["total_commands_processed"])
    except Exception:  # the embedded store keeps no such statistics
        return None


def _others(backends: rig.Backends | None, fake: FakeTelegramProcess) -> dict[str, float]:
    found = {"fake Telegram": procs.tree_cpu_seconds(fake.pid)}
    if backends is not None:
        found["PostgreSQL"] = procs.tree_cpu_seconds(backends.postgres_pid())
        found["Redis"] = procs.cpu_seconds(backends.redis_pid())
    return found


# One measurement ----------------------------------------------------------------------------


def settings_for(
    backend: str, backends: rig.Backends | None, fake: FakeTelegramProcess, directory: Path
) -> Settings:
    # sweep_stale_seconds=0: sweep() takes every pending row, not only old ones.
    if backend == "postgres":
        assert backends is not None
        backends.flush_redis()
        database, redis_url = backends.database(), backends.redis.url
    else:
        database, redis_url = f"sqlite:///{directory / 'var' / 'tutor.sqlite3'}", ""
    return rig.settings(directory / "var", fake.url, database, redis_url, sweep_stale_seconds=0)


def drive(worker: Worker, mode: str, keys: list[str]) -> int:
    """Process the stored rows as ``mode`` says; ``keys`` holds one learner key per row."""
    if mode == "task":  # one Dramatiq task (or embedded notification) per message
        return sum(worker.drain(key) for key in keys)
    if mode == "drain":  # one drain per learner: the least work the worker can do
        return sum(worker.drain(key) for key in dict.fromkeys(keys))
    processed = 0
    while done := worker.sweep():
        processed += done
    return processed


def measure(
    backend: str,
    mode: str,
    options: Options,
    backends: rig.Backends | None,
    fake: FakeTelegramProcess,
    directory: Path,
) -> Measurement:
    settings = settings_for(backend, backends, fake, directory / f"{backend}-{mode}")
    services = build_services(settings)
    try:
        worker = Worker(services)
        warm_keys = preload(services, inbounds(options.warmup, max(1, options.warmup // 5)))
        drive(worker, mode, warm_keys)
        keys = preload(services, inbounds(options.messages, options.learners))
        rig.say(f"worker/{backend}/{mode}: {options.messages} messages, {len(set(keys))} learners")
        sent_before, others_before = fake.sent(), _others(backends, fake)
        machine_before = procs.machine_cpu_seconds()[0]
        commands_before = _redis_commands(services)
        with counted(services.engine) as counts:
            cpu, wall = time.process_time(), time.perf_counter()
            processed = drive(worker, mode, keys)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        commands_after = _redis_commands(services)
        others = _others(backends, fake)
        machine = procs.machine_cpu_seconds()[0] - machine_before
        others_cpu = {name: others[name] - others_before[name] for name in others}
        pending = inbox.counts(services.engine)["pending"]
        if pending:
            raise RuntimeError(f"{pending} inbox rows still pending after the run")
        return Measurement(
            backend=BACKENDS[backend],
            mode=mode,
            messages=options.messages,
            learners=len(set(keys)),
            processed=processed,
            replies_sent=fake.sent() - sent_before,
            cpu_seconds=cpu,
            wall_seconds=wall,
            statements=counts["statements"],
            commits=counts["commits"],
            checkouts=counts["checkouts"],
            redis_commands=(
                commands_after - commands_before
                if commands_after is not None and commands_before is not None
                else None
            ),
            others_cpu=others_cpu,
            unrelated_cores=max(0.0, machine - cpu - sum(others_cpu.values())) / wall,
        )
    finally:
        services.close()


# Where it goes -------------------------------------------------------------------------------

STEPS: dict[str, profile.Target] = {
    "leases: acquire, renew, release": (
        ("tutor/leases.py", "acquire"),
        ("tutor/leases.py", "release"),
    ),
    "inbox.pending + has_pending (reading the rows)": (
        ("tutor/inbox.py", "next_pending"),  # its name before commit 89edd56
        ("tutor/inbox.py", "pending"),
        ("tutor/inbox.py", "has_pending"),
    ),
    "learners.load_or_create": (("tutor/learners.py", "load_or_create"),),
    "hot memory (recent_turns, prime, remember)": (
        ("memory/hot.py", "recent_turns"),
        ("memory/hot.py", "prime"),
        ("memory/hot.py", "remember"),
    ),
    "learners.recent_turns (SQL fallback on a cache miss)": (
        ("tutor/learners.py", "recent_turns"),
    ),
    "dispatcher.dispatch (the instant reply)": (("tutor/dispatcher.py", "dispatch"),),
    "turn transaction: mark_done, save_turn, outbox.add": (
        ("tutor/inbox.py", "mark_done"),
        ("tutor/learners.py", "save_turn"),
        ("tutor/outbox.py", "add"),
    ),
    "sender.deliver (outbox read, HTTP send, update)": (("tutor/outbox.py", "deliver"),),
    "logging (records + JSON formatting)": (("logging/__init__.py", "_log"),),
}


def profile_worker(
    backend: str,
    options: Options,
    backends: rig.Backends | None,
    fake: FakeTelegramProcess,
    directory: Path,
) -> Profile:
    settings = settings_for(backend, backends, fake, directory / f"{backend}-profile")
    services = build_services(settings)
    try:
        worker = Worker(services)
        drive(worker, "task", preload(services, inbounds(options.warmup, 20)))
        keys = preload(services, inbounds(options.profile_messages, options.profile_messages // 5))
        rig.say(f"worker/{backend}/profile: {options.profile_messages} messages under cProfile")
        stats = profile.profile(lambda: drive(worker, "task", keys))
    finally:
        services.close()
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    return Profile(
        backend=BACKENDS[backend],
        messages=options.profile_messages,
        groups=profile.by_group(stats),
        steps=profile.inclusive(stats, STEPS, total),
        functions=profile.hottest(stats),
    )


def run(options: Options) -> Result:
    result = Result(options)
    with FakeTelegramProcess() as fake, rig.workdir("worker") as tmp:
        for backend in options.backends:
            with _backends_for(backend) as backends, rig.service_logs(tmp / f"{backend}.log"):
                for mode in options.modes:
                    result.measurements.append(measure(backend, mode, options, backends, fake, tmp))
                if options.profile_messages:
                    result.profiles.append(profile_worker(backend, options, backends, fake, tmp))
    return result


@contextmanager
def _backends_for(backend: str) -> Iterator[rig.Backends | None]:
    if backend == "postgres":
        with rig.backends() as backends:
            yield backends
    else:
        yield None
