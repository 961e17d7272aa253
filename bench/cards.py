"""``python -m bench.cards [--learners N] [--cards C] [--queries Q] [--sqlite-only] [--pg-url URL]
[--write]``.

The due-card query at scale: ``N`` learners with ``C`` cards each are loaded into a fresh
SQLite file and a fresh PostgreSQL database (both built by ``tutor.migrate.upgrade``, so the
real indexes are measured), ``ANALYZE`` is run, and then ``Q`` calls of the real
``tutor.cards.due(engine, learner_id, now=now, limit=20)`` for learners drawn at random
(seeded) are timed after a warm-up of 50 calls, followed by ``Q`` calls of
``tutor.cards.next_due``. The target is a due-card query under 5 ms at the 95th percentile.

The cards are the same on both backends: each card's due time, retirement and fsrs fields
come from an integer hash of (learner id, card number), so ``due`` is spread evenly over
``[now - 30 days, now + 60 days)`` (about a third of the cards are due) and one card in
fifty is retired. PostgreSQL is filled with ``INSERT ... SELECT`` over ``generate_series``
in a database of its own (``tutor_bench_cards``, dropped and created again on each run and
dropped at the end), SQLite with a recursive-CTE ``INSERT ... SELECT`` with
``synchronous=OFF``, both in chunks of learners, one transaction each.

The last line is ``sqlite_p95_ms=X postgres_p95_ms=Y`` (``n/a`` for a backend not measured).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench import machine, markdown
from bench.stats import percentile
from tutor import cards as store
from tutor.db import make_engine
from tutor.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "tutor_bench_cards"
TARGET_MS = 5.0
LIMIT = 20
WARMUP = 50
DAY_SECONDS = 86_400
PAST_DAYS = 30
SPAN_DAYS = 90
RETIRED_ONE_IN = 50
CHUNK_ROWS = 1_000_000

Progress = Callable[[str], None]

# h1 and h2 are the shared hash: the same integers on SQLite and PostgreSQL.
_H1 = "((l.id * 7919 + n * 104729) * 48271) % 2147483647"
_H2 = "((h1 * 48271) % 2147483647)"

_SQLITE_CARDS = f"""
WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < :cards)
INSERT INTO cards (learner_id, kind, item_key, created_at, due, state, reps, lapses,
                   last_review, retired_at, card)
SELECT id, 'word', 'es-for-en@1:w' || n, :created,
       strftime('%Y-%m-%d %H:%M:%S', due_s, 'unixepoch') || '.000000',
       2, 1 + h2 % 12, h2 % 3,
       strftime('%Y-%m-%d %H:%M:%S', last_s, 'unixepoch') || '.000000',
       CASE WHEN h2 % {RETIRED_ONE_IN} = 0 THEN :retired END,
       json_object(
           'card_id', id * 1000000 + n, 'state', 2, 'step', NULL,
           'stability', round(1 + (h2 % 5000) / 100.0, 2),
           'difficulty', round(1 + (h2 / 5000 % 900) / 100.0, 2),
           'due', strftime('%Y-%m-%dT%H:%M:%S', due_s, 'unixepoch') || '+00:00',
           'last_review', strftime('%Y-%m-%dT%H:%M:%S', last_s, 'unixepoch') || '+00:00')
FROM (
    SELECT id, n, h2, due_s, due_s - (1 + h2 % 30) * {DAY_SECONDS} AS last_s
    FROM (
        SELECT id, n, h1, {_H2} AS h2,
               :base + h1 % {SPAN_DAYS * DAY_SECONDS} - {PAST_DAYS * DAY_SECONDS} AS due_s
        FROM (
            SELECT l.id AS id, n, {_H1} AS h1
            FROM learners AS l CROSS JOIN numbers
            WHERE l.id BETWEEN :low AND :high
        )
    )
)
ORDER BY id, n
"""

_PG_CARDS = f"""
INSERT INTO cards (learner_id, kind, item_key, created_at, due, state, reps, lapses,
                   last_review, retired_at, card)
SELECT id, 'word', 'es-for-en@1:w' || n, :created, due, 2, 1 + h2 % 12, h2 % 3, last_review,
       CASE WHEN h2 % {RETIRED_ONE_IN} = 0 THEN CAST(:retired AS timestamptz) END,
       jsonb_build_object(
           'card_id', id * 1000000 + n, 'state', 2, 'step', NULL,
           'stability', round(1 + (h2 % 5000) / 100.0, 2),
           'difficulty', round(1 + (h2 / 5000 % 900) / 100.0, 2),
           'due', to_char(due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
           'last_review', to_char(last_review AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'))
FROM (
    SELECT id, n, h2, due, due - make_interval(days => (1 + h2 % 30)::int) AS last_review
    FROM (
        SELECT id, n, {_H2} AS h2,
               to_timestamp(:base + h1 % {SPAN_DAYS * DAY_SECONDS} - {PAST_DAYS * DAY_SECONDS})
                   AS due
        FROM (
            SELECT l.id AS id, n::bigint AS n, {_H1} AS h1
            FROM learners AS l CROSS JOIN generate_series(1, :cards) AS n
            WHERE l.id BETWEEN :low AND :high
        ) AS hashed
    ) AS timed
) AS rows
ORDER BY id, n
"""


@dataclass(frozen=True, slots=True)
class Loaded:
    """A filled database: its engine, learners, and what loading cost."""

    engine: Engine
    learner_ids: tuple[int, ...]
    cards: int
    due_now: int
    retired: int
    load_seconds: float
    analyze_seconds: float
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Measured:
    """Latencies in ms of ``due`` and ``next_due``, and what ``due`` returned."""

    due_ms: tuple[float, ...]
    next_due_ms: tuple[float, ...]
    samples: tuple[tuple[int, tuple[store.StoredCard, ...]], ...]

    def due_p(self, q: float) -> float:
        return percentile(sorted(self.due_ms), q)

    def next_due_p(self, q: float) -> float:
        return percentile(sorted(self.next_due_ms), q)


@dataclass(frozen=True, slots=True)
class Result:
    """One backend's run."""

    backend: str
    learners: int
    cards_per_learner: int
    loaded: Loaded
    measured: Measured


def base_time(now: datetime | None = None) -> datetime:
    """The benchmark's ``now``: whole seconds, UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def _chunks(first: int, last: int, per_chunk: int) -> Iterator[tuple[int, int]]:
    low = first
    while low <= last:
        high = min(last, low + per_chunk - 1)
        yield low, high
        low = high + 1


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _counts(engine: Engine, now: datetime) -> tuple[int, int, int]:
    with engine.connect() as connection:
        total = int(connection.execute(text("SELECT count(*) FROM cards")).scalar_one())
        retired = int(
            connection.execute(
                text("SELECT count(*) FROM cards WHERE retired_at IS NOT NULL")
            ).scalar_one()
        )
    from sqlalchemy import func, select

    from tutor.models import cards

    query = select(func.count()).where(cards.c.due <= now, cards.c.retired_at.is_(None))
    with engine.connect() as connection:
        due_now = int(connection.execute(query).scalar_one())
    return total, due_now, retired


def _learner_ids(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id FROM learners ORDER BY id")).scalars()
        return tuple(int(value) for value in rows)


def _insert_learners(engine: Engine, learners: int, now: datetime) -> None:
    from sqlalchemy import insert

    from tutor.models import learners as table

    rows = [
        {
            "key": f"telegram:bench{index}",
            "channel": "telegram",
            "chat_id": f"bench{index}",
            "profile": {},
            "state": {},
            "created_at": now,
            "updated_at": now,
        }
        for index in range(1, learners + 1)
    ]
    with engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(insert(table), rows[start : start + 10_000])


def _sqlite_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(
    path: Path, learners: int, cards: int, now: datetime, progress: Progress | None = None
) -> Loaded:
    """A fresh SQLite file at ``path`` with ``learners`` x ``cards`` cards."""
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    started = time.perf_counter()
    _insert_learners(engine, learners, now)
    ids = _learner_ids(engine)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=OFF")
        raw.execute("PRAGMA cache_size=-262144")
        raw.execute("PRAGMA temp_store=MEMORY")
        per_chunk = max(1, CHUNK_ROWS // cards)
        params = {
            "cards": cards,
            "created": _sqlite_stamp(now - timedelta(days=120)),
            "retired": _sqlite_stamp(now - timedelta(days=1)),
            "base": int(now.timestamp()),
        }
        done = 0
        for low, high in _chunks(ids[0], ids[-1], per_chunk):
            raw.execute("BEGIN")
            raw.execute(_SQLITE_CARDS, {**params, "low": low, "high": high})
            raw.execute("COMMIT")
            done += (high - low + 1) * cards
            elapsed = time.perf_counter() - started
            _say(
                progress,
                f"  sqlite: {done:,} / {learners * cards:,} cards, {elapsed:.0f} s "
                f"({done / elapsed:,.0f} rows/s)",
            )
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        raw.execute("ANALYZE")
        analyze_seconds = time.perf_counter() - started
    finally:
        raw.close()
    engine.dispose()
    total, due_now, retired = _counts(engine, now)
    size = sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )
    return Loaded(engine, ids, total, due_now, retired, load_seconds, analyze_seconds, size)


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, or None when it can."""
    try:
        with psycopg.connect(_libpq(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # any failure to connect means: skip PostgreSQL
        return str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    return None


def _recreate_database(url: str, name: str, *, create: bool = True) -> None:
    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            connection.execute(f'CREATE DATABASE "{name}"')


def load_postgres(
    url: str, learners: int, cards: int, now: datetime, progress: Progress | None = None
) -> Loaded:
    """A fresh database ``tutor_bench_cards`` next to ``url``'s, with ``learners`` x ``cards``."""
    _recreate_database(url, BENCH_DATABASE)
    bench_url = make_url(url).set(database=BENCH_DATABASE).render_as_string(hide_password=False)
    engine = make_engine(bench_url)
    upgrade(engine)
    started = time.perf_counter()
    _insert_learners(engine, learners, now)
    ids = _learner_ids(engine)
    per_chunk = max(1, CHUNK_ROWS // cards)
    params = {
        "cards": cards,
        "created": now - timedelta(days=120),
        "retired": now - timedelta(days=1),
        "base": int(now.timestamp()),
    }
    done = 0
    for low, high in _chunks(ids[0], ids[-1], per_chunk):
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL synchronous_commit = off"))
            connection.execute(text(_PG_CARDS), {**params, "low": low, "high": high})
        done += (high - low + 1) * cards
        elapsed = time.perf_counter() - started
        _say(
            progress,
            f"  postgres: {done:,} / {learners * cards:,} cards, {elapsed:.0f} s "
            f"({done / elapsed:,.0f} rows/s)",
        )
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text("ANALYZE learners"))
        connection.execute(text("ANALYZE cards"))
    analyze_seconds = time.perf_counter() - started
    total, due_now, retired = _counts(engine, now)
    with engine.connect() as connection:
        size = int(
            connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )
    return Loaded(engine, ids, total, due_now, retired, load_seconds, analyze_seconds, size)


def drop_postgres(url: str) -> None:
    """Remove the benchmark's database."""
    _recreate_database(url, BENCH_DATABASE, create=False)


def measure(
    engine: Engine,
    learner_ids: Sequence[int],
    queries: int,
    now: datetime,
    *,
    seed: int = 0,
    warmup: int = WARMUP,
) -> Measured:
    """Time ``queries`` calls each of ``cards.due`` and ``cards.next_due`` for random learners."""
    rng = random.Random(seed)
    for learner in (rng.choice(learner_ids) for _ in range(warmup)):
        store.due(engine, learner, now=now, limit=LIMIT)
        store.next_due(engine, learner)
    chosen = [rng.choice(learner_ids) for _ in range(queries)]
    due_ms: list[float] = []
    samples: list[tuple[int, tuple[store.StoredCard, ...]]] = []
    clock = time.perf_counter
    for learner in chosen:
        started = clock()
        found = store.due(engine, learner, now=now, limit=LIMIT)
        due_ms.append((clock() - started) * 1000)
        samples.append((learner, tuple(found)))
    next_ms: list[float] = []
    for learner in chosen:
        started = clock()
        store.next_due(engine, learner)
        next_ms.append((clock() - started) * 1000)
    return Measured(tuple(due_ms), tuple(next_ms), tuple(samples))


def _size(value: int) -> str:
    return f"{value / 1024**3:.2f} GiB" if value >= 1024**3 else f"{value / 1024**2:.1f} MiB"


def _trio(p50: float, p95: float, p99: float) -> str:
    return f"{p50:.2f} / {p95:.2f} / {p99:.2f}"


def table(results: Sequence[Result]) -> str:
    rows = []
    for result in results:
        loaded, measured = result.loaded, result.measured
        p95 = measured.due_p(95)
        rows.append(
            (
                result.backend,
                f"{result.learners:,} × {result.cards_per_learner:,}",
                f"{loaded.cards:,}",
                f"{loaded.due_now:,} ({loaded.due_now / max(1, loaded.cards):.0%})",
                f"{loaded.retired:,}",
                f"{loaded.load_seconds:.0f} s",
                f"{loaded.analyze_seconds:.1f} s",
                _size(loaded.size_bytes),
                len(measured.due_ms),
                _trio(measured.due_p(50), p95, measured.due_p(99)),
                _trio(measured.next_due_p(50), measured.next_due_p(95), measured.next_due_p(99)),
                "**met**" if p95 < TARGET_MS else "**missed**",
            )
        )
    return markdown.table(
        [
            "Backend",
            "Learners × cards",
            "Card rows",
            "Due now (unretired)",
            "Retired",
            "Load",
            "ANALYZE",
            "Database size",
            "Queries",
            "`due()` p50 / p95 / p99 ms",
            "`next_due()` p50 / p95 / p99 ms",
            f"p95 < {TARGET_MS:g} ms",
        ],
        rows,
    )


def summary(results: Sequence[Result]) -> str:
    found = {result.backend: result.measured.due_p(95) for result in results}

    def show(name: str) -> str:
        return f"{found[name]:.2f}" if name in found else "n/a"

    return f"sqlite_p95_ms={show('SQLite')} postgres_p95_ms={show('PostgreSQL')}"


def _machine(postgres: str) -> str:
    cpu = machine._first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
    memory = machine._first("/proc/meminfo", r"^MemTotal:\s*(\d+)")
    cores = len(os.sched_getaffinity(0))
    python = f"{platform.python_implementation()} {platform.python_version()}"
    ram = f"{int(memory) / 1024**2:.1f} GiB RAM" if memory.isdigit() else "? RAM"
    return (
        f"{cores} cores, {cpu}, {ram}, {python}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres}, SQLAlchemy {machine._version('sqlalchemy')}, "
        f"psycopg {machine._version('psycopg')}"
    )


def _command(args: argparse.Namespace) -> str:
    parts = [
        ".venv/bin/python -m bench.cards",
        f"--learners {args.learners}",
        f"--cards {args.cards}",
        f"--queries {args.queries}",
    ]
    if args.sqlite_only:
        parts.append("--sqlite-only")
    return " ".join([*parts, "--write"])


def _postgres_version(url: str) -> str:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=5) as connection:
            row = connection.execute("SHOW server_version").fetchone()
    except Exception:  # the version is only for the machine line
        return "not measured"
    return str(row[0]).split()[0] if row else "?"


def _section(
    results: Sequence[Result], args: argparse.Namespace, notes: Sequence[str], postgres: str
) -> str:
    sizes = {(result.learners, result.cards_per_learner) for result in results}
    measured = ", ".join(f"{n:,} learners × {c:,} cards" for n, c in sorted(sizes))
    rows = ", ".join(f"{r.loaded.cards:,} card rows on {r.backend}" for r in results)
    return "\n".join(
        [
            "## Due-card query (SQLite and PostgreSQL)",
            "",
            "Measures `tutor.cards.due(engine, learner_id, now=now, limit=20)` (the learner's "
            "unretired cards with `due <= now`, ordered by `due, id`, over the index "
            "`ix_cards_learner_id_due`) and `tutor.cards.next_due` on tables built by "
            "`tutor.migrate.upgrade` and filled with "
            f"{measured} ({rows}); "
            f"`due` is spread evenly over the 30 days before and the 60 days after `now`, so "
            f"about a third of the cards are due, and one in {RETIRED_ONE_IN} is retired. After "
            f"`ANALYZE` and {WARMUP} warm-up calls, each function is called {args.queries} times "
            "for learners drawn at random (seed 0), through the real engine from "
            "`tutor.db.make_engine`, measured in the same process (wall time, including "
            "SQLAlchemy and building the fsrs cards). The target from the issue: 10,000 "
            f"learners × 2,000 cards, the due-card query under {TARGET_MS:g} ms p95 per learner "
            "on SQLite and on PostgreSQL. The PostgreSQL server is the machine's own (fsync on), "
            "in a database of the benchmark's own that is dropped at the end; the SQLite file "
            "is a temporary one, queried in WAL mode with `synchronous=NORMAL` as in production.",
            *(["", *notes] if notes else []),
            "",
            f"Command: `{_command(args)}`. Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
            f"{_machine(postgres)}.",
            "",
            table(results),
            "",
            f"`{summary(results)}`",
            "",
        ]
    )


@contextmanager
def _sqlite_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tutor-bench-cards-") as directory:
        yield Path(directory) / "cards.db"


def run_sqlite(
    path: Path,
    learners: int,
    cards: int,
    queries: int,
    now: datetime,
    *,
    seed: int = 0,
    warmup: int = WARMUP,
    progress: Progress | None = None,
) -> Result:
    """Load and measure SQLite at ``path``."""
    loaded = load_sqlite(path, learners, cards, now, progress)
    try:
        measured = measure(
            loaded.engine, loaded.learner_ids, queries, now, seed=seed, warmup=warmup
        )
    finally:
        loaded.engine.dispose()
    return Result("SQLite", learners, cards, loaded, measured)


def run_postgres(
    url: str,
    learners: int,
    cards: int,
    queries: int,
    now: datetime,
    *,
    seed: int = 0,
    warmup: int = WARMUP,
    progress: Progress | None = None,
) -> Result:
    """Load and measure PostgreSQL in a database of the benchmark's own next to ``url``'s."""
    try:
        loaded = load_postgres(url, learners, cards, now, progress)
        try:
            measured = measure(
                loaded.engine, loaded.learner_ids, queries, now, seed=seed, warmup=warmup
            )
        finally:
            loaded.engine.dispose()
    finally:
        drop_postgres(url)
    return Result("PostgreSQL", learners, cards, loaded, measured)


def _print(message: str) -> None:
    print(message, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cards", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--cards", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TUTOR_BENCH_PG_URL", DEFAULT_PG_URL),
        help="a PostgreSQL server to create the benchmark database on "
        "(default: $TUTOR_BENCH_PG_URL, else %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.learners < 1 or args.cards < 1 or args.queries < 1:
        parser.error("--learners, --cards and --queries must be at least 1")
    now = base_time()
    started = time.perf_counter()
    results: list[Result] = []
    notes: list[str] = []
    postgres = "not measured"
    if args.sqlite_only:
        notes.append("PostgreSQL was not measured in this run (`--sqlite-only`).")
    else:
        problem = postgres_problem(args.pg_url)
        if problem is not None:
            message = (
                f"PostgreSQL at {make_url(args.pg_url)!r} is unreachable ({problem}): skipped."
            )
            print(message, file=sys.stderr, flush=True)
            notes.append(f"PostgreSQL was not measured in this run: {message}")
        else:
            postgres = _postgres_version(args.pg_url)
            _print(f"PostgreSQL {postgres}: {args.learners:,} learners × {args.cards:,} cards")
            results.append(
                run_postgres(
                    args.pg_url,
                    args.learners,
                    args.cards,
                    args.queries,
                    now,
                    seed=args.seed,
                    progress=_print,
                )
            )
    _print(f"SQLite {sqlite3.sqlite_version}: {args.learners:,} learners × {args.cards:,} cards")
    with _sqlite_file() as path:
        results.append(
            run_sqlite(
                path, args.learners, args.cards, args.queries, now, seed=args.seed, progress=_print
            )
        )
    results.sort(key=lambda result: result.backend != "SQLite")
    print()
    print(table(results))
    print()
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.write:
        markdown.write_block(DOC, "cards", _section(results, args, notes, postgres))
        print(f"wrote the cards section of {DOC.relative_to(ROOT)}")
    print(summary(results))


if __name__ == "__main__":
    main()
