"""Webhook acknowledgement under load: signed Telegram updates into gunicorn at a fixed rate.

Runs against gunicorn (the repository's ``gunicorn.conf.py``) on PostgreSQL +
Redis with the Dramatiq queue: first with no worker (acknowledgement alone),
then with ``tutor worker`` processing at the same time (the real situation),
after which it reports how far behind the worker was and how long it took to
catch up, then (unless skipped) with the worker's CPU share lowered by
renicing it. A last step runs the same handler in-process under cProfile to
show where a request's CPU goes.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

import httpx

from bench import handler, procs, rig, updates
from bench.fake import FakeTelegramProcess
from bench.loadgen import OpenLoop, Run, Sample
from bench.stats import Summary
from tests.support.stack import Stack

TARGET_P95_MS = 10.0
TARGET_RATE = 300.0


@dataclass(frozen=True)
class Options:
    rate: float = TARGET_RATE
    duration: float = 30.0
    warmup: float = 3.0
    learners: int = 2000
    connections: int = 64
    drain_timeout: float = 60.0
    profile_requests: int = 1500
    ack_only: bool = True
    worker_nice: int = 10  # a third run with the worker at this niceness; 0 skips it


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    requests: int
    latency: Summary
    backlog: int | None


@dataclass
class Phase:
    name: str
    worker_nice: int | None  # None: no worker ran
    offered_rate: float
    duration: float
    run: Run
    latency: Summary
    service: Summary
    send_lag: Summary
    errors: dict[str, int]
    cpu: dict[str, float]
    windows: list[Window]
    server_buckets: dict[float, float]
    server_mean_ms: float
    rows_stored: int
    backlog_at_end: int | None = None
    accepted_at_end: int = 0  # inbox rows of the whole run, warm-up included
    replies_waiting_at_end: int | None = None
    inbox_drained_after: float | None = None
    all_sent_after: float | None = None
    drain_timeout: float = 0.0
    backlog_left: int | None = None
    worker_rss_mb: float | None = None
    web_rss_mb: list[float] = field(default_factory=list)

    @property
    def with_worker(self) -> bool:
        return self.worker_nice is not None

    @property
    def other_cores(self) -> float:
        """Cores used by processes outside the benchmark during the measured window."""
        busy = self.cpu.get("machine busy", 0.0)
        known = sum(used for name, used in self.cpu.items() if not name.startswith("machine"))
        return max(0.0, busy - known) / (self.run.wall_seconds or 1.0)

    @property
    def ok(self) -> int:
        return sum(1 for sample in self.run.samples if sample.ok)

    @property
    def achieved_rate(self) -> float:
        return self.ok / self.run.wall_seconds if self.run.wall_seconds else 0.0

    @property
    def meets_target(self) -> bool:
        return (
            self.latency.p95 < TARGET_P95_MS
            and not self.errors
            and self.achieved_rate >= 0.98 * self.offered_rate
        )


@dataclass
class Result:
    options: Options
    phases: list[Phase]
    handler: handler.HandlerProfile | None
    postgres: str
    redis: str
    gunicorn: str

    @property
    def disturbance(self) -> float:
        return max((phase.other_cores for phase in self.phases), default=0.0)


# One run ----------------------------------------------------------------------------


def _cpu(stack: Stack, backends: rig.Backends, fake: FakeTelegramProcess) -> dict[str, float]:
    assert stack.web is not None
    found = {
        "gunicorn (2 workers × 4 threads)": procs.tree_cpu_seconds(stack.web.pid),
        "PostgreSQL": procs.tree_cpu_seconds(backends.postgres_pid()),
        "Redis": procs.cpu_seconds(backends.redis_pid()),
        "fake Telegram": procs.tree_cpu_seconds(fake.pid),
    }
    for worker in stack.workers:
        found["tutor worker"] = procs.tree_cpu_seconds(worker.pid)
    found["machine busy"], found["machine total"] = procs.machine_cpu_seconds()
    return found


_SAMPLE = re.compile(
    r"^tutor_webhook_seconds_(?P<kind>bucket|sum|count)\{(?P<labels>[^}]*)\} (?P<v>\S+)$"
)


def _server_histogram(url: str) -> dict[str, float]:
    """The app's own ``tutor_webhook_seconds`` histogram for Telegram, from /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if 'channel="telegram"' not in line:
            continue
        if (match := _SAMPLE.match(line)) is None:
            continue
        key = match["kind"]
        if key == "bucket":
            le = re.search(r'le="([^"]+)"', match["labels"])
            if le is None:
                continue
            key = le.group(1)
        found[key] = found.get(key, 0.0) + float(match["v"])
    return found


def _windows(samples: list[Sample], backlog: list[tuple[float, int]], width: float) -> list[Window]:
    found = []
    end = max((sample.due for sample in samples), default=0.0)
    for index in range(math.ceil((end + 1e-9) / width)):
        start = index * width
        inside = [s.latency for s in samples if start <= s.due < start + width and s.ok]
        waiting = [count for at, count in backlog if at <= start + width]
        found.append(
            Window(start, len(inside), Summary.of(inside), waiting[-1] if waiting else None)
        )
    return found


async def _drive(
    port: int,
    warm: list[bytes],
    measured: list[bytes],
    options: Options,
    snapshot: Callable[[], dict[str, float]],
    backlog: Callable[[], int] | None,
) -> tuple[Run, dict[str, float], list[tuple[float, int]]]:
    generator = OpenLoop("127.0.0.1", port, max_connections=options.connections)
    samples: list[tuple[float, int]] = []

    async def watch(started: float) -> None:
        assert backlog is not None
        while True:
            await asyncio.sleep(1.0)
            count = await asyncio.to_thread(backlog)
            samples.append((time.monotonic() - started, count))

    try:
        await generator.warm(16)
        await generator.run(warm, options.rate)
        before = snapshot()
        watcher = asyncio.create_task(watch(time.monotonic())) if backlog else None
        run = await generator.run(measured, options.rate)
        if watcher is not None:
            watcher.cancel()
        after = snapshot()
    finally:
        generator.close()
    return run, {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}, samples


def _drain(store: rig.Store, timeout: float) -> tuple[float | None, float | None, int]:
    """Seconds until the inbox is empty, until every reply is sent; what is left at timeout."""
    started = time.monotonic()
    inbox_empty: float | None = None
    pending_in = 0
    while (elapsed := time.monotonic() - started) < timeout:
        pending_in, pending_out = store.pending()
        if pending_in == 0 and inbox_empty is None:
            inbox_empty = elapsed
        if pending_in == 0 and pending_out == 0:
            return inbox_empty, elapsed, 0
        time.sleep(0.25)
    return inbox_empty, None, pending_in


def _wait_worker_ready(stack: Stack, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "worker started" in stack.logs():
            time.sleep(0.5)  # the consumer threads start right after the banner
            return
        time.sleep(0.1)
    raise RuntimeError("tutor worker did not start")


def _start_worker(stack: Stack, niceness: int) -> None:
    worker = stack.start_worker()
    _wait_worker_ready(stack)
    if niceness:
        procs.renice(worker.pid, niceness)  # threads started later inherit it


def _catch_up(phase: Phase, stack: Stack, store: rig.Store, options: Options) -> None:
    """How far behind the worker is now, and how long it takes to catch up."""
    phase.backlog_at_end, phase.replies_waiting_at_end = store.pending()
    phase.accepted_at_end = sum(store.counts().values())
    rig.say(f"webhook/{phase.name}: {phase.backlog_at_end} messages behind")
    if options.drain_timeout:
        drained, sent, left = _drain(store, options.drain_timeout)
        phase.inbox_drained_after, phase.all_sent_after = drained, sent
        phase.drain_timeout, phase.backlog_left = options.drain_timeout, left
    memory = procs.memory(stack.workers[0].pid)
    phase.worker_rss_mb = memory.rss if memory else None


def run_phase(
    name: str,
    backends: rig.Backends,
    fake: FakeTelegramProcess,
    options: Options,
    directory: Path,
    first_update_id: int,
    worker_nice: int | None,
) -> Phase:
    """One measured run; ``worker_nice`` None runs no worker, else its niceness."""
    with_worker = worker_nice is not None
    backends.flush_redis()
    url = backends.database()
    store = rig.Store(url)
    env = rig.stack_env(url, backends.redis.url, fake.url)
    (directory / name).mkdir(parents=True)
    try:
        with rig.running_stack(env, directory / name) as stack:
            rig.wait_for_workers(stack, 2)
            if worker_nice is not None:
                _start_worker(stack, worker_nice)
            warm_count = int(options.warmup * options.rate)
            count = int(options.duration * options.rate)
            encoded = updates.bodies(warm_count + count, options.learners, first_update_id)
            all_requests = updates.requests(stack.port, encoded)
            histogram_before = _server_histogram(stack.url)
            rig.say(
                f"webhook/{name}: {count} requests at {options.rate:g}/s "
                f"after {warm_count} warm-up requests"
            )
            run, cpu, backlog = asyncio.run(
                _drive(
                    stack.port,
                    all_requests[:warm_count],
                    all_requests[warm_count:],
                    options,
                    lambda: _cpu(stack, backends, fake),
                    (lambda: store.pending()[0]) if with_worker else None,
                )
            )
            cpu["load generator (this process)"] = run.client_cpu_seconds
            histogram = _server_histogram(stack.url)
            phase = _phase(name, worker_nice, options, run, cpu, backlog, histogram_before,
                           histogram)  # fmt: skip
            phase.web_rss_mb = [
                memory.rss
                for pid in rig.gunicorn_workers(stack)
                if (memory := procs.memory(pid)) is not None
            ]
            if with_worker:
                _catch_up(phase, stack, store, options)
            phase.rows_stored = sum(store.counts().values()) - warm_count
    finally:
        store.close()
    return phase


def _phase(
    name: str,
    worker_nice: int | None,
    options: Options,
    run: Run,
    cpu: dict[str, float],
    backlog: list[tuple[float, int]],
    histogram_before: dict[str, float],
    histogram: dict[str, float],
) -> Phase:
    errors: dict[str, int] = {}
    for sample in run.samples:
        if not sample.ok:
            key = sample.error or f"HTTP {sample.status}"
            errors[key] = errors.get(key, 0) + 1
    ok = [sample for sample in run.samples if sample.ok]
    delta = {key: histogram.get(key, 0.0) - histogram_before.get(key, 0.0) for key in histogram}
    total = delta.get("count", 0.0) or 1.0
    buckets = {float(le): delta[le] / total for le in delta if le not in ("sum", "count", "+Inf")}
    return Phase(
        name=name,
        worker_nice=worker_nice,
        offered_rate=options.rate,
        duration=options.duration,
        run=run,
        latency=Summary.of([sample.latency for sample in ok]),
        service=Summary.of([sample.service for sample in ok]),
        send_lag=Summary.of([sample.sent - sample.due for sample in run.samples]),
        errors=errors,
        cpu=cpu,
        windows=_windows(run.samples, backlog, 5.0),
        server_buckets=dict(sorted(buckets.items())),
        server_mean_ms=delta.get("sum", 0.0) / total * 1000,
        rows_stored=0,
    )


# Entry point ------------------------------------------------------------------------------


def gunicorn_version() -> str:
    return metadata.version("gunicorn")


def run(options: Options) -> Result:
    phases = []
    with rig.backends() as backends, FakeTelegramProcess() as fake, rig.workdir("webhook") as tmp:
        if options.ack_only:
            phases.append(run_phase("ack-only", backends, fake, options, tmp, 1_000_000, None))
        phases.append(run_phase("with-worker", backends, fake, options, tmp, 3_000_000, 0))
        if options.worker_nice:
            name = f"with-worker-nice-{options.worker_nice}"
            no_drain = replace(options, drain_timeout=0.0)
            phases.append(
                run_phase(name, backends, fake, no_drain, tmp, 5_000_000, options.worker_nice)
            )
        in_process = (
            handler.profile_handler(backends, fake, options.profile_requests, tmp)
            if options.profile_requests
            else None
        )
        return Result(
            options=options,
            phases=phases,
            handler=in_process,
            postgres=backends.postgres_version(),
            redis=backends.redis_version(),
            gunicorn=gunicorn_version(),
        )
