"""``python -m bench.pacing [--telegram N] [--whatsapp N] [--processes P] [--seconds-budget S]``.

The morning burst of reminders, sent in real time: ``N`` Telegram chats (450 by default,
4 messages each) and ``N`` WhatsApp users (60 by default, 12 messages each), far more
than the platforms take at once, are queued in the outbox of a fresh SQLite database and
delivered by real :class:`tutor.outbox.Sender` instances in ``P`` processes (``--threads``
each, every send behind the learner's lease as the worker takes it), each process with
its own Redis client to one shared Redis (``TUTOR_BENCH_REDIS_URL``, default
``redis://127.0.0.1:6379/15``; the buckets live under a key prefix of this run only,
deleted afterwards), against the fake Telegram and WhatsApp servers of ``tests/fakes``.

The limits are the settings' (``TUTOR_PACE_*``). When the slowest bucket would need more
than ``--seconds-budget`` to drain the burst, every rate is multiplied by the same
factor (bursts unchanged) and the limits below are checked at those scaled rates.

Measured at the fake servers from each request's arrival time:

- the most requests in any window (1 s for the senders and Telegram chats, the pair
  limit's interval for a WhatsApp user) against the token bucket's allowance
  ``burst + rate x window``;
- the bucket's peak: the most messages any run of consecutive requests holds beyond what
  the rate refilled during it (``count - rate x span``), which must stay within ``burst``;
- for a WhatsApp user, the spacing of the messages beyond the burst: the k-th no sooner
  than ``k - burst`` intervals after the first;
- every outbox row sent exactly once: each message carries its row's tag, so lost rows
  (not sent, or never seen by the fake) and duplicates (seen twice) are counted.

A request reaches the fake a little after its token was taken, so arrival times may
crowd by that delay: a limit counts as held within ``rate x 0.05 s`` of its allowance.
Prints markdown tables; the last line is
``telegram_max_per_s=X whatsapp_user_min_interval_s=Y lost=Z duplicated=W limits_held=yes``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue as queue_module
import re
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import Engine, func, insert, select

from tests.fakes.server import RecordedRequest
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, FakeWhatsApp
from tutor import leases
from tutor import outbox as outbox_rows
from tutor.channels.base import ChannelAdapter
from tutor.channels.telegram import TelegramClient
from tutor.channels.whatsapp import WhatsAppClient
from tutor.db import make_engine
from tutor.messages import Channel, Reply
from tutor.migrate import upgrade
from tutor.models import learners, outbox, utcnow
from tutor.pacing import Limits, Pacer, Rate
from tutor.settings import Settings

DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
#: How much later than its token a request may reach the fake and still count as paced.
JITTER = 0.05
#: Learners each sending thread looks at per pass: the whole burst, so WhatsApp users
#: (whose keys sort after every Telegram chat) are not left until Telegram is done.
DUE_LIMIT = 5_000
TAG = re.compile(r"\[(m\d+)\]")


@dataclass(frozen=True)
class Plan:
    """What one run queues and the limits it sends under."""

    telegram: int
    telegram_messages: int
    whatsapp: int
    whatsapp_messages: int
    limits: Limits
    speed: float


@dataclass
class Check:
    """One limit as measured at a fake server."""

    name: str
    rate: Rate
    window: float
    per_recipient: bool = False  # else the sender's: every request of the channel
    worst_window: int = 0
    peak: float = 0.0  # the most any run of requests held beyond the rate's refill

    @property
    def allowance(self) -> float:
        return self.rate.burst + self.rate.per_second * self.window

    @property
    def held(self) -> bool:
        slack = self.rate.per_second * JITTER
        return (
            self.worst_window <= self.allowance + slack
            and self.peak <= self.rate.burst + slack + 1e-9
        )


@dataclass
class ChannelResult:
    name: str
    learners: int
    rows: int
    sent: int = 0
    requests: int = 0
    lost: int = 0
    duplicated: int = 0
    span: float = 0.0
    checks: list[Check] = field(default_factory=list)
    #: WhatsApp: the shortest per-message spacing beyond the pair limit's burst
    #: (:func:`spacing_after_burst`), over every user.
    user_min_interval: float | None = None


# The plan -------------------------------------------------------------------------


def drain_seconds(rate: Rate, messages: int) -> float:
    """Seconds a bucket needs to let ``messages`` through, starting full."""
    return max(0.0, messages - rate.burst) / rate.per_second


def plan(args: argparse.Namespace) -> Plan:
    """The run's limits: the settings', sped up when the slowest drain exceeds the budget."""
    base = Limits.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    needed = max(
        drain_seconds(base.telegram, args.telegram * args.telegram_messages),
        drain_seconds(base.telegram_chat, args.telegram_messages),
        drain_seconds(base.whatsapp, args.whatsapp * args.whatsapp_messages),
        drain_seconds(base.whatsapp_user, args.whatsapp_messages),
    )
    speed = max(1.0, needed / args.seconds_budget)

    def fast(rate: Rate) -> Rate:
        return Rate(rate.per_second * speed, rate.burst)

    limits = Limits(
        telegram=fast(base.telegram),
        telegram_chat=fast(base.telegram_chat),
        whatsapp=fast(base.whatsapp),
        whatsapp_user=fast(base.whatsapp_user),
    )
    return Plan(
        args.telegram, args.telegram_messages, args.whatsapp, args.whatsapp_messages, limits, speed
    )


def queue(engine: Engine, run: Plan) -> None:
    """The learners and their reminders, all due now, each text tagged with its number.

    WhatsApp users wrote an hour ago, so free-form text is inside their 24-hour window.
    """
    now = utcnow()
    people = [("telegram", str(10**9 + n), run.telegram_messages) for n in range(run.telegram)]
    people += [("whatsapp", f"5511{n:09d}", run.whatsapp_messages) for n in range(run.whatsapp)]
    number = 0
    with engine.begin() as connection:
        connection.execute(
            insert(learners),
            [
                {
                    "key": f"{channel}:{chat}",
                    "channel": channel,
                    "chat_id": chat,
                    "profile": {"onboarded": True},
                    "state": {},
                    "created_at": now - timedelta(days=30),
                    "updated_at": now,
                    "last_inbound_at": now - timedelta(hours=1),
                }
                for channel, chat, _ in people
            ],
        )
        for channel, chat, count in people:
            replies = []
            for _ in range(count):
                number += 1
                replies.append(Reply(text=f"Time for your practice! [m{number}]"))
            outbox_rows.add(
                connection,
                inbox_id=None,
                learner_key=f"{channel}:{chat}",
                channel=Channel(channel),
                chat_id=chat,
                replies=tuple(replies),
                correlation_id=f"bench-{number}",
            )


# The senders (one per process, several threads each) -------------------------------


@dataclass(frozen=True)
class Job:
    """What a sending process needs; picklable for a spawned child."""

    database_url: str
    redis_url: str
    namespace: str
    telegram_url: str
    whatsapp_url: str
    limits: Limits
    threads: int
    deadline_seconds: float


def send_process(job: Job, go: ProcessEvent, results: Any) -> None:
    """One process: its own engine, HTTP client, Redis client, pacer and Sender."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = make_engine(job.database_url)
    http = httpx.Client(timeout=settings.send_timeout_seconds)
    channels: dict[Channel, ChannelAdapter] = {
        Channel.TELEGRAM: TelegramClient(
            job.telegram_url, DEFAULT_TOKEN, http, settings.send_timeout_seconds
        ),
        Channel.WHATSAPP: WhatsAppClient(
            job.whatsapp_url,
            DEFAULT_PHONE_NUMBER_ID,
            DEFAULT_ACCESS_TOKEN,
            http,
            settings.send_timeout_seconds,
        ),
    }
    client = redis.Redis.from_url(job.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    pacer = Pacer(
        client, job.limits, whatsapp_sender=DEFAULT_PHONE_NUMBER_ID, namespace=job.namespace
    )
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def count(channel: str, outcome: str) -> None:
        with lock:
            outcomes[f"{channel} {outcome}"] += 1

    sender = outbox_rows.Sender(
        engine,
        channels,
        max_attempts=settings.send_max_attempts,
        base_backoff=settings.send_backoff_seconds,
        max_backoff=settings.send_max_backoff_seconds,
        retry_window=settings.send_retry_window_seconds,
        on_result=count,
        pacer=pacer,
        inline_limit=settings.learner_lease_seconds / 3,
    )
    go.wait()
    deadline = time.monotonic() + job.deadline_seconds
    owner = f"bench:{os.getpid()}"
    workers = [
        threading.Thread(
            target=_send_loop,
            args=(engine, sender, f"{owner}:{n}", settings.learner_lease_seconds, deadline),
        )
        for n in range(job.threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(dict(outcomes))
    client.close()
    http.close()
    engine.dispose()


def _send_loop(
    engine: Engine, sender: outbox_rows.Sender, owner: str, ttl: float, end: float
) -> None:
    """What the worker's sweep does for replies: take each due learner's lease and deliver."""
    while time.monotonic() < end:
        keys = outbox_rows.due_learners(engine, limit=DUE_LIMIT)
        if not keys:
            if not _pending(engine):
                return
            time.sleep(0.05)
            continue
        for key in _spread(keys, owner):
            if time.monotonic() >= end:
                return
            if not leases.acquire(engine, key, owner, ttl):
                continue  # another sender has this learner
            try:
                sender.deliver(key, renew=partial(leases.acquire, engine, key, owner, ttl))
            finally:
                leases.release(engine, key, owner)


def _spread(keys: list[str], owner: str) -> list[str]:
    """The keys rotated by a per-thread offset, so senders rarely reach for the same lease."""
    offset = hash(owner) % len(keys)
    return keys[offset:] + keys[:offset]


def _pending(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        return int(connection.execute(query).scalar_one())


# Measuring at the fakes ----------------------------------------------------------------


def worst_window(times: Sequence[float], window: float) -> int:
    """The most of ``times`` (sorted) inside any half-open window of ``window`` seconds."""
    best, first = 0, 0
    for last, moment in enumerate(times):
        while moment - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


def bucket_peak(times: Sequence[float], rate: float) -> float:
    """max over runs i..j of ``(j - i + 1) - rate x (t_j - t_i)``: a bucket of this rate
    lets the requests through iff its burst is at least this much."""
    best, lowest = 0.0, float("inf")
    for index, moment in enumerate(times):
        level = index - rate * moment
        lowest = min(lowest, level)
        best = max(best, level - lowest + 1)
    return best


def spacing_after_burst(times: Sequence[float], burst: float) -> float | None:
    """The shortest spacing, since the first message, of a message beyond the burst:
    min over k > burst of ``(t_k - t_1) / (k - burst)``, or None when none went beyond.

    A bucket full at the first message lets the k-th through no sooner than
    ``(k - burst)`` intervals later; a message held back longer lets the bucket refill, so
    two may then go together, which the gap between neighbours would wrongly flag.
    """
    first = times[0] if times else 0.0
    spacings = [
        (moment - first) / (number - burst)
        for number, moment in enumerate(times, 1)
        if number > burst
    ]
    return min(spacings) if spacings else None


def measure(
    requests: Iterable[tuple[str, str, float]], checks: list[Check]
) -> tuple[dict[str, list[float]], list[str], list[float]]:
    """Group (recipient, tag, arrival) by recipient and fill ``checks``."""
    by_recipient: dict[str, list[float]] = defaultdict(list)
    tags: list[str] = []
    everything: list[float] = []
    for recipient, tag, moment in requests:
        by_recipient[recipient].append(moment)
        tags.append(tag)
        everything.append(moment)
    everything.sort()
    for times in by_recipient.values():
        times.sort()
    for check in checks:
        groups = list(by_recipient.values()) if check.per_recipient else [everything]
        for times in groups:
            check.worst_window = max(check.worst_window, worst_window(times, check.window))
            check.peak = max(check.peak, bucket_peak(times, check.rate.per_second))
    return by_recipient, tags, everything


def telegram_requests(requests: list[RecordedRequest]) -> list[tuple[str, str, float]]:
    found = []
    for request in requests:
        body = request.json if isinstance(request.json, dict) else {}
        match = TAG.search(str(body.get("text", "")))
        if request.path.endswith("/sendMessage") and match:
            found.append((str(body.get("chat_id")), match.group(1), request.received_at))
    return found


def whatsapp_requests(requests: list[RecordedRequest]) -> list[tuple[str, str, float]]:
    found = []
    for request in requests:
        body = request.json if isinstance(request.json, dict) else {}
        match = TAG.search(str(body.get("text", {}).get("body", "")))
        if request.path.endswith("/messages") and match:
            found.append((str(body.get("to")), match.group(1), request.received_at))
    return found


def tally(engine: Engine, channel: str, result: ChannelResult, tags: list[str]) -> None:
    """Rows sent, rows lost (not sent, or never at the fake) and rows seen twice or more."""
    seen = Counter(tags)
    with engine.connect() as connection:
        rows = connection.execute(
            select(outbox.c.status, outbox.c.reply).where(outbox.c.channel == channel)
        ).all()
    for status, reply in rows:
        match = TAG.search(str(reply.get("text", "")))
        tag = match.group(1) if match else ""
        result.sent += status == "sent"
        result.lost += status != "sent" or seen[tag] == 0
        result.duplicated += max(0, seen[tag] - 1)


# The run ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> tuple[Plan, list[ChannelResult], float, Counter[str]]:
    chosen = plan(args)
    redis_url = os.environ.get("TUTOR_BENCH_REDIS_URL", DEFAULT_REDIS)
    namespace = f"bench:pace:{uuid.uuid4().hex[:12]}"
    store = redis.Redis.from_url(redis_url)
    store.ping()
    outcomes: Counter[str] = Counter()
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeTelegram() as telegram,
        FakeWhatsApp() as whatsapp,
    ):
        url = f"sqlite:///{Path(folder) / 'pacing.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        queue(engine, chosen)
        job = Job(
            url,
            redis_url,
            namespace,
            telegram.url,
            whatsapp.url + "/v23.0",
            chosen.limits,
            args.threads,
            deadline_seconds=3 * args.seconds_budget + 30,
        )
        context = multiprocessing.get_context("spawn")
        go = context.Event()
        results = context.Queue()
        processes = [
            context.Process(target=send_process, args=(job, go, results), name=f"sender-{n}")
            for n in range(args.processes)
        ]
        for process in processes:
            process.start()
        time.sleep(0.5)  # let the children import before the clock starts
        started = time.time()
        go.set()
        _collect(processes, results, outcomes)
        wall = time.time() - started
        channel_results = [
            _result(engine, "telegram", chosen, telegram_requests(telegram.requests), started),
            _result(engine, "whatsapp", chosen, whatsapp_requests(whatsapp.requests), started),
        ]
        engine.dispose()
    for key in store.scan_iter(match=f"{namespace}:*"):
        store.delete(key)
    store.close()
    return chosen, channel_results, wall, outcomes


def _collect(processes: list[Any], results: Any, outcomes: Counter[str]) -> None:
    """Each process's outcome counts; a process that died without them is reported."""
    reported = 0
    while reported < len(processes):
        try:
            outcomes.update(results.get(timeout=1.0))
            reported += 1
        except queue_module.Empty:
            if not any(process.is_alive() for process in processes):
                break
    for process in processes:
        process.join(timeout=30)
        if process.exitcode != 0:
            outcomes[f"{process.name} exit code {process.exitcode}"] += 1


def _result(
    engine: Engine,
    channel: str,
    chosen: Plan,
    requests: list[tuple[str, str, float]],
    started: float,
) -> ChannelResult:
    limits = chosen.limits
    if channel == "telegram":
        result = ChannelResult(
            "Telegram", chosen.telegram, chosen.telegram * chosen.telegram_messages
        )
        result.checks = [
            Check("Telegram, the bot (all chats)", limits.telegram, 1.0),
            Check("Telegram, the bot, sustained", limits.telegram, 10.0),
            Check("Telegram, one chat (worst chat)", limits.telegram_chat, 1.0, True),
        ]
    else:
        result = ChannelResult(
            "WhatsApp", chosen.whatsapp, chosen.whatsapp * chosen.whatsapp_messages
        )
        result.checks = [
            Check("WhatsApp, the business number", limits.whatsapp, 1.0),
            Check("WhatsApp, the business number, sustained", limits.whatsapp, 10.0),
            Check(
                "WhatsApp, one user: pair limit (worst user)",
                limits.whatsapp_user,
                1 / limits.whatsapp_user.per_second,
                True,
            ),
        ]
    by_recipient, tags, everything = measure(requests, result.checks)
    result.requests = len(everything)
    result.span = everything[-1] - started if everything else 0.0
    tally(engine, channel, result, tags)
    if channel == "whatsapp":
        gaps = [
            spacing_after_burst(times, limits.whatsapp_user.burst)
            for times in by_recipient.values()
        ]
        known = [gap for gap in gaps if gap is not None]
        result.user_min_interval = min(known) if known else None
    return result


def tables(chosen: Plan, results: list[ChannelResult], wall: float, outcomes: Counter[str]) -> str:
    lines = [
        f"Rates x{chosen.speed:.2f} of the settings' (bursts unchanged); "
        f"allowance = burst + rate x window; held within rate x {JITTER} s of arrival jitter.",
        "",
        "| channel | learners | outbox rows | sent | requests at the fake | lost | duplicated "
        "| last request after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.learners:,} | {r.rows:,} | {r.sent:,} | {r.requests:,} | {r.lost} "
            f"| {r.duplicated} | {r.span:.1f} s |"
        )
    lines += [
        "",
        "| limit | rate, burst | window | allowance | worst window | bucket peak (≤ burst) "
        "| held |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        for c in r.checks:
            lines.append(
                f"| {c.name} | {c.rate.per_second:.3g}/s, {c.rate.burst:g} | {c.window:.3g} s "
                f"| {c.allowance:.1f} | {c.worst_window} | {c.peak:.2f} "
                f"| {'yes' if c.held else 'NO'} |"
            )
    whatsapp = results[1]
    gap = whatsapp.user_min_interval
    interval = 1 / chosen.limits.whatsapp_user.per_second
    lines += [
        "",
        f"WhatsApp per user, message k beyond the burst of "
        f"{chosen.limits.whatsapp_user.burst:g} came at least (k - burst) x {_seconds(gap)} "
        f"after the first (pair limit: one per {interval:.2f} s).",
        f"Wall time {wall:.1f} s. Sender outcomes: "
        + ", ".join(f"{key} {n:,}" for key, n in sorted(outcomes.items())),
    ]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--telegram", type=int, default=450, help="Telegram chats")
    parser.add_argument("--telegram-messages", type=int, default=4)
    parser.add_argument("--whatsapp", type=int, default=60, help="WhatsApp users")
    parser.add_argument("--whatsapp-messages", type=int, default=12)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="sending threads per process")
    parser.add_argument("--seconds-budget", type=float, default=60.0)
    args = parser.parse_args(argv)
    chosen, results, wall, outcomes = run(args)
    print(tables(chosen, results, wall, outcomes))  # noqa: T201
    telegram, whatsapp = results
    gap = whatsapp.user_min_interval
    print(  # noqa: T201
        f"telegram_max_per_s={telegram.checks[0].worst_window} "
        f"whatsapp_user_min_interval_s={'n/a' if gap is None else f'{gap:.2f}'} "
        f"lost={telegram.lost + whatsapp.lost} "
        f"duplicated={telegram.duplicated + whatsapp.duplicated} "
        f"limits_held={'yes' if all(c.held for r in results for c in r.checks) else 'no'}"
    )


if __name__ == "__main__":
    main()
