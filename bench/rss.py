"""Resident memory of the gunicorn web workers: at start, after warm-up, after N requests.

gunicorn runs with the repository's ``gunicorn.conf.py`` (2 gthread workers,
app built in each worker after fork) on PostgreSQL + Redis. The figures are
VmRSS (and its anonymous / file-backed split) from /proc/<pid>/status of each
worker child of the gunicorn master, sampled once a second under load.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from bench import procs, rig, updates
from bench.fake import FakeTelegramProcess
from bench.loadgen import OpenLoop

TARGET_MB = 120.0  # megabytes of 10^6 bytes: the stricter reading (114.4 MiB)
MB_PER_MIB = 1.048576


@dataclass(frozen=True)
class Options:
    requests: int = 10_000
    rate: float = 400.0
    warmup: int = 1000
    learners: int = 5000
    connections: int = 64


@dataclass
class WorkerMemory:
    pid: int
    started: procs.Memory
    warmed: procs.Memory
    loaded: procs.Memory | None

    @property
    def growth(self) -> float:
        """MiB gained between warm-up and the end of the measured requests."""
        return 0.0 if self.loaded is None else self.loaded.rss - self.warmed.rss


@dataclass
class Result:
    options: Options
    workers: list[WorkerMemory]
    master: procs.Memory | None
    timeline: list[tuple[float, int, list[float]]] = field(default_factory=list)
    recycled: bool = False
    errors: int = 0
    achieved_rate: float = 0.0
    metrics_scrapes: int = 0

    @property
    def peak_mb(self) -> float:
        return self.peak_mib * MB_PER_MIB

    @property
    def peak_mib(self) -> float:
        values = [w.loaded.rss for w in self.workers if w.loaded is not None]
        values += [rss for _at, _done, sample in self.timeline for rss in sample]
        return max(values, default=0.0)

    @property
    def disturbance(self) -> float:
        return 0.0  # memory does not depend on how busy the CPU is

    @property
    def meets_target(self) -> bool:
        return 0 < self.peak_mb < TARGET_MB and not self.recycled


def _memories(pids: list[int]) -> dict[int, procs.Memory]:
    return {pid: memory for pid in pids if (memory := procs.memory(pid)) is not None}


async def _load(
    port: int,
    url: str,
    warm: list[bytes],
    measured: list[bytes],
    options: Options,
    pids: list[int],
) -> tuple[dict[int, procs.Memory], int, float, list[tuple[float, int, list[float]]], int]:
    generator = OpenLoop("127.0.0.1", port, max_connections=options.connections)
    timeline: list[tuple[float, int, list[float]]] = []
    scrapes = 0

    async def watch(started: float) -> None:
        nonlocal scrapes
        while True:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - started
            rss = [memory.rss for memory in _memories(pids).values()]
            timeline.append((elapsed, min(options.requests, int(elapsed * options.rate)), rss))
            if len(timeline) % 5 == 0:  # a Prometheus scrape every 5 s, as in production
                await asyncio.to_thread(httpx.get, f"{url}/metrics", timeout=10)
                scrapes += 1

    try:
        await generator.warm(16)
        await generator.run(warm, options.rate)
        for path in ("/healthz", "/readyz", "/metrics", "/metrics"):
            await asyncio.to_thread(httpx.get, f"{url}{path}", timeout=10)
        warmed = _memories(pids)
        watcher = asyncio.create_task(watch(time.monotonic()))
        run = await generator.run(measured, options.rate)
        watcher.cancel()
    finally:
        generator.close()
    errors = sum(1 for sample in run.samples if not sample.ok)
    rate = (len(run.samples) - errors) / run.wall_seconds if run.wall_seconds else 0.0
    return warmed, errors, rate, timeline, scrapes


def run(options: Options) -> Result:
    with rig.backends() as backends, FakeTelegramProcess() as fake, rig.workdir("rss") as tmp:
        url = backends.database()
        env = rig.stack_env(url, backends.redis.url, fake.url)
        with rig.running_stack(env, tmp) as stack:
            pids = rig.wait_for_workers(stack, 2)
            time.sleep(1.0)  # each worker builds the app after fork
            started = _memories(pids)
            encoded = updates.bodies(options.warmup + options.requests, options.learners, 7_000_000)
            all_requests = updates.requests(stack.port, encoded)
            rig.say(
                f"rss: {options.warmup} warm-up then {options.requests} requests "
                f"at {options.rate:g}/s; workers {pids}"
            )
            warmed, errors, rate, timeline, scrapes = asyncio.run(
                _load(
                    stack.port,
                    stack.url,
                    all_requests[: options.warmup],
                    all_requests[options.warmup :],
                    options,
                    pids,
                )
            )
            loaded = _memories(pids)
            now = rig.gunicorn_workers(stack)
            assert stack.web is not None
            return Result(
                options=options,
                workers=[
                    WorkerMemory(pid, started[pid], warmed[pid], loaded.get(pid))
                    for pid in pids
                    if pid in started and pid in warmed
                ],
                master=procs.memory(stack.web.pid),
                timeline=timeline,
                recycled=sorted(now) != sorted(pids),
                errors=errors,
                achieved_rate=rate,
                metrics_scrapes=scrapes,
            )
