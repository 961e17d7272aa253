"""``python -m bench.reminders [--learners N] [--pg-url URL] [--seed S]``.

One simulated day of practice reminders: ``N`` learners (100,000 by default) spread over 24
time zones (one per hour of offset), half on Telegram and half on WhatsApp, each with a
random practice time (about two in five fall inside the default quiet hours, 22:00-08:00,
and move to their end), 60% with due cards, and a last message at a random moment of the
three days before. The learners are written with ``executemany`` into a fresh SQLite file
(and a PostgreSQL database when ``--pg-url`` names one), ``next_reminder_at`` set as the
product sets it, and then the real :func:`tutor.reminders.run_due` is called once per
simulated minute from 00:00 to 24:00 UTC with that minute as its clock, with a WhatsApp
reminder template configured.

Checked against the stored rows afterwards: every queued reminder was decided within 5
minutes of its slot (the learner's chosen time, or the end of quiet hours), none was
decided inside the learner's quiet hours, none went to WhatsApp as free-form text more
than 24 hours after the learner's last message, and no learner got two in one local day.
Prints a markdown table; the last line is ``on_time=X quiet=Y window=Z``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fsrs import Card
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.engine import make_url

from bench.stats import percentile
from tutor.db import make_engine
from tutor.migrate import upgrade
from tutor.models import cards, learners, outbox, reminders
from tutor.reminder_times import Policy, next_due, zone_name
from tutor.reminders import WHATSAPP_WINDOW, run_due

ZONES = (
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Mexico_City",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Azores",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Auckland",
)
START = datetime(2026, 3, 10, tzinfo=UTC)
ON_TIME = timedelta(minutes=5)
CHUNK = 10_000


@dataclass
class Result:
    backend: str
    learners: int
    load_seconds: float
    minute_seconds: list[float] = field(default_factory=list)
    queued: int = 0
    templates: int = 0
    on_time: int = 0
    in_quiet: int = 0
    outside_window: int = 0
    twice_a_day: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def _learner(n: int, rng: random.Random, policy: Policy) -> dict[str, Any]:
    whatsapp = n % 2 == 1
    zone = ZONES[n % len(ZONES)]
    profile = {
        "onboarded": True,
        "explanation_language": "en" if n % 3 else "es",
        "timezone": zone,
        "practice_time": f"{rng.randrange(24):02d}:{rng.randrange(60):02d}",
    }
    channel, chat = ("whatsapp", f"5511{n:09d}") if whatsapp else ("telegram", str(10**9 + n))
    last = START - timedelta(seconds=rng.randrange(3 * 86_400))
    return {
        "key": f"{channel}:{chat}",
        "channel": channel,
        "chat_id": chat,
        "profile": profile,
        "state": {},
        "created_at": START - timedelta(days=60),
        "updated_at": START,
        "last_inbound_at": last,
        "next_reminder_at": next_due(
            profile, START - timedelta(minutes=1), channel=channel, chat_id=chat, policy=policy
        ),
    }


def load(engine: Engine, count: int, seed: int, policy: Policy) -> None:
    rng = random.Random(seed)
    card = Card(due=START - timedelta(days=1)).to_dict()
    for first in range(0, count, CHUNK):
        rows = [_learner(n, rng, policy) for n in range(first, min(count, first + CHUNK))]
        with engine.begin() as connection:
            connection.execute(insert(learners), rows)
            ids = connection.execute(
                select(learners.c.id).where(learners.c.id > first).order_by(learners.c.id)
            ).scalars()
            due = [
                {
                    "learner_id": learner_id,
                    "kind": "word",
                    "item_key": f"es@1:w{k}",
                    "created_at": START - timedelta(days=10),
                    "due": START - timedelta(hours=k + 1),
                    "state": 2,
                    "reps": 1,
                    "lapses": 0,
                    "card": card,
                }
                for learner_id in list(ids)[: len(rows)]
                if rng.random() < 0.6
                for k in range(3)
            ]
            if due:
                connection.execute(insert(cards), due)


def simulate(engine: Engine, policy: Policy, result: Result) -> None:
    for minute in range(24 * 60 + 1):
        now = START + timedelta(minutes=minute)
        started = time.perf_counter()
        report = run_due(engine, now, policy)
        result.minute_seconds.append(time.perf_counter() - started)
        result.skipped.update(report.skipped)


def check(engine: Engine, policy: Policy, result: Result) -> None:
    query = select(
        reminders.c.learner_id,
        reminders.c.scheduled_for,
        reminders.c.created_at,
        learners.c.profile,
        learners.c.channel,
        learners.c.chat_id,
        learners.c.last_inbound_at,
        outbox.c.reply,
    ).select_from(
        reminders.join(learners, learners.c.id == reminders.c.learner_id).join(
            outbox, outbox.c.id == reminders.c.outbox_id
        )
    )
    days: Counter[tuple[int, str]] = Counter()
    with engine.connect() as connection:
        for row in connection.execute(query.where(reminders.c.status == "queued")):
            result.queued += 1
            zone = _zone(zone_name(row.profile, row.channel, row.chat_id))
            local = row.created_at.astimezone(zone)
            days[(row.learner_id, local.date().isoformat())] += 1
            result.on_time += abs(row.created_at - row.scheduled_for) <= ON_TIME
            result.in_quiet += policy.quiet(local.time())
            template = row.reply.get("template") is not None
            result.templates += template
            silent = row.last_inbound_at is None or (
                row.created_at - row.last_inbound_at >= WHATSAPP_WINDOW
            )
            result.outside_window += row.channel == "whatsapp" and silent and not template
    result.twice_a_day = sum(1 for count in days.values() if count > 1)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def run(url: str, backend: str, count: int, seed: int) -> Result:
    engine = make_engine(url)
    upgrade(engine)
    policy = Policy(template="practice_reminder")
    started = time.perf_counter()
    load(engine, count, seed, policy)
    if backend == "sqlite":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    result = Result(backend, count, time.perf_counter() - started)
    simulate(engine, policy, result)
    check(engine, policy, result)
    engine.dispose()
    return result


def table(results: list[Result]) -> str:
    lines = [
        "| backend | learners | queued | on time (≤5 min) | in quiet hours | WhatsApp free-form "
        "outside 24 h | twice in a day | templates | skipped | run_due per minute p50 / p95 / "
        "max | day simulated in |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |",
    ]
    for r in results:
        times = sorted(r.minute_seconds)
        skipped = ", ".join(f"{reason} {n:,}" for reason, n in sorted(r.skipped.items()))
        share = 100 * r.on_time / r.queued if r.queued else 0.0
        lines.append(
            f"| {r.backend} | {r.learners:,} | {r.queued:,} | {share:.1f}% | {r.in_quiet} | "
            f"{r.outside_window} | {r.twice_a_day} | {r.templates:,} | {skipped} | "
            f"{percentile(times, 50) * 1000:.0f} / {percentile(times, 95) * 1000:.0f} / "
            f"{times[-1] * 1000:.0f} ms | {sum(times):.0f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default="", help="an empty PostgreSQL database to fill")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'reminders.sqlite3'}"
        results.append(run(url, "sqlite", args.learners, args.seed))
    if args.pg_url:
        assert make_url(args.pg_url).get_backend_name() == "postgresql"
        results.append(run(args.pg_url, "postgresql", args.learners, args.seed))
    print(table(results))  # noqa: T201
    worst = results[0]
    share = worst.on_time / worst.queued if worst.queued else 0.0
    print(  # noqa: T201
        f"on_time={share:.4f} quiet={worst.in_quiet} window={worst.outside_window}"
    )


if __name__ == "__main__":
    main()
