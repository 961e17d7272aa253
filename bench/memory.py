"""``python -m bench.memory [--learners 100000] [--days 30] [--backend sqlite|postgresql|both]
[--queries 2000] [--write]``.

The memory tier at scale. ``N`` synthetic learners with ``--days`` days of history each are
generated (seeded, the same rows on both backends) into a base database built by
``tutor.migrate.upgrade``: a SQLite file under ``var/bench/`` and a PostgreSQL database
``bench_memory_base_<key>``, reused while the parameters match. Each measurement runs on a
copy (``bench_memory_run``), so the base stays as generated.

Per backend:

1. the nightly job (``memory.nightly.run(..., any_hour=True)``) over every learner, in a
   child process: wall time, learners/s, peak RSS and CPU seconds of the child (and of the
   PostgreSQL server), notes written, turns pruned;
2. context assembly: ``HotMemory.recent_turns`` (a local Redis, primed from SQL) plus
   ``memory.context.assemble`` with a real message, for ``--queries`` random learners;
3. resumability: the notes and runs are deleted, the job is run again and SIGKILLed at
   about 30 % of the clean run's wall time, then run to the end; the notes and
   ``memory_runs`` must equal the clean run's.

The data. Learners live in 24 time zones; each has a level, 2-4 "weak" grammar rules, a
preferred time of day, a favourite activity and a share of voice notes. They practise a
few times a week (sessions of 5-30 turns, 30-150 s apart) and always on their local
"yesterday"; 30 % of them also have one or two sessions 95-120 days old, which the job's
90-day retention prunes. Sessions are closed, with the document the worker writes and a
summary shaped like ``memory.sessions.facts``; turns carry inbound and reply documents
shaped like ``Inbound.to_dict`` and ``Reply.to_dict``; errors, card reviews and
pronunciation attempts are written at the turns' times. Rows are loaded in chunks of
learners, in time order within a chunk, so one learner's rows are spread over the tables
as in production.

The last line is ``sqlite_p95_ms=X postgres_p95_ms=Y sqlite_ms_per_learner=A
postgres_ms_per_learner=B`` (``n/a`` for a backend not measured).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import pickle
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from bench import machine, markdown
from bench.stats import percentile
from memory import context, nightly
from memory.embeddings import HashingEmbedder
from memory.hot import HotMemory
from tutor import learners as learner_store
from tutor.db import make_engine
from tutor.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
VAR = ROOT / "var" / "bench"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # fixed, so a generated database is reusable
IDLE = timedelta(minutes=30)
TARGET_MS = 5.0
CHUNK = 2_000  # learners per load transaction
PRIMED = 10_000  # learners whose hot turns are put in Redis
KILL_AT = 0.3
VM_USD_PER_HOUR = 0.0832  # an on-demand 2-vCPU, 8 GiB VM (AWS m6i.large, us-east-1, 2026)
VERSION = 1  # of the generator: a change makes new base databases

ZONES = (
    "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Mexico_City", "America/Bogota", "America/New_York", "America/Caracas",
    "America/Argentina/Buenos_Aires", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London",
    "Europe/Madrid", "Europe/Athens", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi",
    "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney",
    "Pacific/Noumea", "Pacific/Auckland",
)  # fmt: skip
# (rule, category, code, wrong, correction, sentence)
RULES = (
    ("es-gender-agreement", "gender_agreement", "GENDER", "la problema", "el problema",
     "Tengo la problema con mi coche."),
    ("es-ser-estar", "ser_estar", "SER_ESTAR", "soy cansado", "estoy cansado",
     "Hoy soy cansado porque trabajé mucho."),
    ("es-por-para", "por_para", "PREP", "por ti", "para ti", "Este regalo es por ti."),
    ("es-article-before-noun", "article", "ART", "la agua", "el agua", "La agua está fría."),
    ("es-subject-verb", "verb_conjugation", "VERB_FORM", "ellos va", "ellos van",
     "Ellos va al cine los sábados."),
    ("es-gustar", "gustar", "VERB_FORM", "yo gusto", "me gusta", "Yo gusto el café."),
    ("es-personal-a", "personal_a", "PREP", "visito mi abuela", "visito a mi abuela",
     "Cada domingo visito mi abuela."),
    ("es-accent-context", "accent", "ACCENT", "esta bien", "está bien", "Sí, esta bien."),
    ("es-preterite-imperfect", "preterite_imperfect", "VERB_FORM", "cuando fui niño",
     "cuando era niño", "Cuando fui niño vivía en Madrid."),
    ("es-predicate-agreement", "number_agreement", "NUMBER", "las casas es bonito",
     "las casas son bonitas", "Las casas es bonito aquí."),
)  # fmt: skip
MESSAGES = (
    "Ayer fui al mercado con mi hermana y compramos frutas.",
    "No sé cómo se dice 'appointment' en español.",
    "Me gusta mucho cocinar pero no tengo tiempo.",
    "¿Puedes explicarme otra vez la diferencia entre ser y estar?",
    "Mañana voy a visitar a mis abuelos en el campo.",
    "Estoy aprendiendo español para mi trabajo.",
)
REPLIES = (
    "¡Muy bien! Una pequeña corrección: «el problema», es masculino.",
    "Perfecto. ¿Y qué más hiciste ayer?",
    "Casi: decimos «estoy cansado», porque es un estado.",
    "Good question! Here is the next card.",
)
AGENTS = ("conversation", "grammar", "vocabulary", "pronunciation", "lexicon")
DRILLS = (("trilled-r-01", "trilled_r"), ("j-sound-01", "j_sound"), ("tapped-r-01", "tapped_r"),
          ("vowels-a-e-01", "vowel_a"))  # fmt: skip
WORDS = tuple(f"palabra{n}" for n in range(200))
LEVELS = ("A1", "A2", "B1", "B2")
PART_HOURS = (8, 14, 20, 21)  # morning, afternoon, evening (sessions end before midnight)

Say = Callable[[str], None]


# Synthetic data ------------------------------------------------------------------------


def _stamp(value: datetime) -> str:
    """A UTC instant as both back ends accept it in bulk (SQLite: SQLAlchemy's format)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(slots=True)
class Rows:
    """One chunk of learners' rows, by table, in each table's column order."""

    learners: list[tuple[Any, ...]] = field(default_factory=list)
    conversations: list[tuple[Any, ...]] = field(default_factory=list)
    turns: list[tuple[Any, ...]] = field(default_factory=list)
    error_events: list[tuple[Any, ...]] = field(default_factory=list)
    cards: list[tuple[Any, ...]] = field(default_factory=list)
    card_reviews: list[tuple[Any, ...]] = field(default_factory=list)
    pronunciation_attempts: list[tuple[Any, ...]] = field(default_factory=list)


COLUMNS = {
    "learners": "id, key, channel, chat_id, profile, state, created_at, updated_at, "
    "last_inbound_at",
    "conversations": "id, learner_id, started_at, last_turn_at, closed_at, document, summary",
    "turns": "learner_id, conversation_id, agent, inbound, reply, created_at",
    "error_events": "learner_id, created_at, code, category, rule, source, wrong, correction, "
    "span_start, span_end, sentence",
    "cards": "id, learner_id, kind, item_key, created_at, due, state, reps, lapses, "
    "last_review, card",
    "card_reviews": "card_id, learner_id, reviewed_at, exercise, verdict, rating, response_ms, "
    "request_id, log",
    "pronunciation_attempts": "learner_id, created_at, drill_id, language, transcript, "
    "accuracy, completeness, fluency, words, sounds",
}
# Tables sorted by their time column within a chunk (column index), so rows interleave.
TIME_COLUMN = {"turns": 5, "error_events": 1, "card_reviews": 2, "pronunciation_attempts": 1}


@dataclass(frozen=True, slots=True)
class Shape:
    learners: int
    days: int
    seed: int

    @property
    def key(self) -> str:
        raw = f"v{VERSION}:{self.learners}:{self.days}:{self.seed}:{NOW.isoformat()}"
        return hashlib.sha1(raw.encode()).hexdigest()[:10]


@dataclass(slots=True)
class _Ids:
    conversation: int = 0
    card: int = 0
    review: int = 0


def _session_days(rng: random.Random, yesterday: date, days: int) -> list[date]:
    per_week = rng.choice((1, 2, 2, 3))
    recent = [
        yesterday - timedelta(days=n) for n in range(days, 0, -1) if rng.random() < per_week / 7
    ]
    old = []
    if rng.random() < 0.3:  # history older than the 90-day retention window
        old = sorted(
            yesterday - timedelta(days=rng.randint(95, 120)) for _ in range(rng.randint(1, 2))
        )
    return [*old, *recent, yesterday]


# JSON written from templates (json.dumps per turn would triple the generation time); the
# test checks that they decode to what Inbound.to_dict, Reply.to_dict and turn_summary give.
_TEXTS = {message: _json(message) for message in ("", *MESSAGES)}
_REPLY_TEXTS = [_json(reply) for reply in REPLIES]
_REPLIES = [
    f'[{{"text":{text},"options":[],"voice_url":null,"image_url":null,"template":null,'
    f'"invoice":null}}]'
    for text in _REPLY_TEXTS
]
_INBOUND = (
    '{{"channel":"telegram","chat_id":"{chat}","learner_key":"telegram:{chat}",'
    '"provider_message_id":"{chat}:{message_id}","kind":"{kind}","text":{text},'
    '"media":{media},"button":null,"callback_id":null,"language_hint":null,'
    '"sent_at":"{at}"}}'
)
_MEDIA = (
    '{{"media_id":"v{media_id:x}","mime_type":"audio/ogg","duration_seconds":{seconds},'
    '"size_bytes":null,"is_voice":true}}'
)
_SUMMARY = '{{"at":"{at}","agent":"{agent}","kind":"{kind}","text":{text},"reply":[{reply}]}}'


def _learner(learner_id: int, shape: Shape, ids: _Ids, out: Rows) -> None:
    rng = random.Random(f"{shape.seed}:{learner_id}")
    zone_name = ZONES[learner_id % len(ZONES)]
    profile = {
        "timezone": zone_name,
        "level": rng.choice(LEVELS),
        "target": "es",
        "explain": "en",
        "onboarded": True,
    }
    yesterday = nightly.due_day(profile, NOW, any_hour=True)
    assert yesterday is not None
    weak = rng.sample(range(len(RULES)), rng.randint(2, 4))
    part_hour = rng.choice(PART_HOURS)
    voice_share = rng.choice((0.0, 0.0, 0.1, 0.5))
    favourite = rng.choice(AGENTS)
    speaks = rng.random() < 0.4
    chat = str(100_000_000 + learner_id)
    created = NOW - timedelta(days=130)
    # Cards: words (most in review) and one error card per weak rule.
    card_ids: list[tuple[int, str, str]] = []
    for n in range(rng.randint(5, 60)):
        ids.card += 1
        word = WORDS[(learner_id + n * 7) % len(WORDS)]
        state = 2 if rng.random() < 0.8 else 1
        card_ids.append((ids.card, "word", f"es-for-en@1:{word}"))
        out.cards.append(_card(ids.card, learner_id, "word", f"es-for-en@1:{word}", state, created))
    for index in weak:
        ids.card += 1
        item = f"error:{RULES[index][0]}"
        card_ids.append((ids.card, "error", item))
        out.cards.append(_card(ids.card, learner_id, "error", item, 2, created))
    last_inbound = created
    random_ = rng.random
    for day in _session_days(rng, yesterday, shape.days):
        start_day, _ = nightly.day_bounds(day, profile)
        # Naive UTC inside the loop: isoformat is the cheapest way to the stored strings.
        at = first = (start_day + timedelta(hours=part_hour, minutes=rng.randint(-50, 20))).replace(
            tzinfo=None
        )
        ids.conversation += 1
        session = ids.conversation
        parts: list[str] = []
        errors: list[tuple[str, str, str, str]] = []  # rule, code, wrong, correction
        reviews: list[tuple[int, str, str]] = []
        spoken: list[int] = []
        agents: Counter[str] = Counter()
        for _ in range(rng.randint(5, 30)):
            at += timedelta(seconds=rng.randint(30, 150))
            agent = favourite if random_() < 0.5 else rng.choice(AGENTS)
            kind = "voice" if random_() < voice_share else "text"
            message = rng.choice(MESSAGES)
            said = "" if kind == "voice" else message
            iso = at.isoformat() + "+00:00"
            stamp = at.isoformat(" ") + ".000000"
            media = "null"
            if kind == "voice":
                media = _MEDIA.format(
                    media_id=rng.getrandbits(40), seconds=round(rng.uniform(2, 15), 1)
                )
            inbound = _INBOUND.format(
                chat=chat, message_id=rng.getrandbits(32), kind=kind, text=_TEXTS[said],
                media=media, at=iso,
            )  # fmt: skip
            reply = rng.randrange(len(REPLIES))
            parts.append(
                _SUMMARY.format(
                    at=iso, agent=agent, kind=kind, text=_TEXTS[said], reply=_REPLY_TEXTS[reply]
                )
            )
            agents[agent] += 1
            out.turns.append((learner_id, session, agent, inbound, _REPLIES[reply], stamp))
            if kind == "text" and random_() < 0.15:
                rule, category, code, wrong, correction, sentence = RULES[
                    weak[0] if random_() < 0.5 else rng.choice(weak)
                ]
                errors.append((rule, code, wrong, correction))
                out.error_events.append(
                    (learner_id, stamp, code, category, rule, "rules", wrong, correction,
                     0, len(wrong), sentence)
                )  # fmt: skip
            if (agent == "vocabulary" and random_() < 0.3) or (
                agent == "grammar" and random_() < 0.15
            ):
                card_id, card_kind, item = rng.choice(card_ids)
                rating = rng.choice((1, 3, 3, 3, 4))
                ids.review += 1
                reviews.append((rating, card_kind, item))
                out.card_reviews.append(
                    (card_id, learner_id, stamp, "translate", "right" if rating >= 3 else "wrong",
                     rating, rng.randint(2_000, 20_000), f"bench-{shape.seed}-{ids.review}",
                     f'{{"card_id":{card_id},"rating":{rating},"review_datetime":"{iso}",'
                     '"review_duration":null}')
                )  # fmt: skip
            if speaks and agent == "pronunciation" and kind == "voice":
                drill, sound = DRILLS[learner_id % len(DRILLS)]
                accuracy = min(100, rng.randint(40, 70) + 10 * len(spoken))
                spoken.append(accuracy)
                out.pronunciation_attempts.append(
                    (learner_id, stamp, drill, "es", message[:80], accuracy, 90, 80,
                     _json([{"word": w, "score": accuracy, "heard": w}
                            for w in message.split()[:6]]),
                     _json({sound: accuracy}))
                )  # fmt: skip
        begun = first.isoformat() + "+00:00"
        out.conversations.append(
            (session, learner_id, first.isoformat(" ") + ".000000", stamp, stamp,
             '{"version":1,"turns":[' + ",".join(parts) + "]}",
             _json(_summary(begun, iso, len(parts), errors, reviews, spoken, agents)))
        )  # fmt: skip
        last_inbound = at.replace(tzinfo=UTC)
    out.learners.append(
        (learner_id, f"telegram:{chat}", "telegram", chat, _json(profile), "{}", _stamp(created),
         _stamp(last_inbound), _stamp(last_inbound))
    )  # fmt: skip


def _card(
    card_id: int, learner_id: int, kind: str, item: str, state: int, created: datetime
) -> tuple[Any, ...]:
    due = NOW + timedelta(days=card_id % 20 - 5)
    return (
        card_id, learner_id, kind, item, _stamp(created), _stamp(due), state, 3, 0,
        _stamp(due - timedelta(days=4)),
        _json({"card_id": card_id, "state": state, "step": None, "stability": 4.2,
               "difficulty": 5.1, "due": due.isoformat(), "last_review": None}),
    )  # fmt: skip


def _summary(
    start: str,
    end: str,
    turns: int,
    errors: list[tuple[str, str, str, str]],
    reviews: list[tuple[int, str, str]],
    spoken: list[int],
    agents: Counter[str],
) -> dict[str, Any]:
    """What ``memory.sessions.facts`` would say about the session."""
    by_rule: dict[str, dict[str, Any]] = {}
    for rule, code, wrong, correction in reversed(errors):  # newest first, as facts reads
        entry = by_rule.setdefault(rule, {"rule": rule, "code": code, "count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < 2:
            entry["examples"].append({"wrong": wrong, "correction": correction})
    return {
        "open": False,
        "start": start,
        "end": end,
        "turns": turns,
        "agents": dict(agents.most_common()),
        "errors": sorted(by_rule.values(), key=lambda e: (-e["count"], e["rule"])),
        "reviews": {
            "total": len(reviews),
            "right": sum(1 for r in reviews if r[0] >= 3),
            "words": sorted(
                {item.split(":", 1)[-1] for _, kind, item in reviews if kind == "word"}
            )[:10],
        },
        "pronunciation": {
            "attempts": len(spoken),
            "accuracy": round(sum(spoken) / len(spoken)) if spoken else None,
        },
    }


def generate(shape: Shape, chunk: int = CHUNK) -> Iterator[tuple[int, Rows]]:
    """The learners' rows, ``chunk`` learners at a time (and how many learners so far)."""
    ids = _Ids()
    for low in range(1, shape.learners + 1, chunk):
        rows = Rows()
        high = min(shape.learners, low + chunk - 1)
        for learner_id in range(low, high + 1):
            _learner(learner_id, shape, ids, rows)
        for name, column in TIME_COLUMN.items():
            getattr(rows, name).sort(key=lambda row, c=column: row[c])
        yield high, rows


# Loading -------------------------------------------------------------------------------


class Target(Protocol):
    """A base database being filled."""

    name: str

    def write(self, rows: Rows) -> None: ...

    def finish(self) -> None: ...

    def size(self) -> int: ...


class SqliteTarget:
    name = "SQLite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.raw = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=OFF",
            "cache_size=-524288",
            "temp_store=MEMORY",
        ):
            self.raw.execute(f"PRAGMA {pragma}")

    def write(self, rows: Rows) -> None:
        self.raw.execute("BEGIN")
        for table, columns in COLUMNS.items():
            marks = ", ".join("?" * len(columns.split(",")))
            self.raw.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", getattr(rows, table)
            )
        self.raw.execute("COMMIT")

    def finish(self) -> None:
        self.raw.execute("ANALYZE")
        self.raw.execute("CREATE TABLE bench_memory_done (done INTEGER)")
        self.raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.raw.close()

    def size(self) -> int:
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())


class PostgresTarget:
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self.raw = psycopg.connect(_libpq(url))
        self.raw.execute("SET synchronous_commit = off")
        self.raw.execute("SET TIME ZONE 'UTC'")  # the bulk timestamps are UTC without a zone

    def write(self, rows: Rows) -> None:
        with self.raw.cursor() as cursor:
            for table, columns in COLUMNS.items():
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in getattr(rows, table):
                        copy.write_row(row)
        self.raw.commit()

    def finish(self) -> None:
        self.raw.commit()
        self.raw.autocommit = True
        for table in ("conversations", "cards", "learners"):
            self.raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        self.raw.execute("VACUUM ANALYZE")
        self.raw.execute("CREATE TABLE bench_memory_done (done INTEGER)")
        self.raw.close()

    def size(self) -> int:
        return int(self.raw.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _sa_url(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _admin(url: str, *statements: str) -> None:
    with psycopg.connect(_libpq(url), autocommit=True, connect_timeout=5) as connection:
        for statement in statements:
            connection.execute(statement)


def _pg_has(url: str, database: str) -> bool:
    try:
        with psycopg.connect(_libpq(url, database), connect_timeout=5) as connection:
            found = connection.execute("SELECT to_regclass('bench_memory_done')").fetchone()
    except psycopg.OperationalError:
        return False
    return bool(found and found[0])


def _sqlite_has(path: Path) -> bool:
    if not path.exists():
        return False
    with sqlite3.connect(path) as raw:
        return bool(
            raw.execute("SELECT 1 FROM sqlite_master WHERE name='bench_memory_done'").fetchone()
        )


@dataclass(frozen=True, slots=True)
class Base:
    """A generated database: where it is, how big, what it holds, what loading cost."""

    backend: str
    location: str  # SQLite path or PostgreSQL database name
    size_bytes: int
    counts: dict[str, int]
    load_seconds: float | None  # None: reused from an earlier run


def sqlite_base_path(shape: Shape, folder: Path = VAR) -> Path:
    return folder / f"memory-{shape.key}.sqlite3"


def pg_base_name(shape: Shape) -> str:
    return f"bench_memory_base_{shape.key}"


def ensure_bases(
    shape: Shape, backends: Sequence[str], pg_url: str, folder: Path = VAR, say: Say = print
) -> dict[str, tuple[str, float | None]]:
    """Generate whichever base databases are missing (in parallel, the same rows)."""
    targets: list[tuple[str, str]] = []
    found: dict[str, tuple[str, float | None]] = {}
    if "sqlite" in backends:
        path = sqlite_base_path(shape, folder)
        if _sqlite_has(path):
            found["sqlite"] = (str(path), None)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            engine.dispose()
            targets.append(("sqlite", str(path)))
    if "postgresql" in backends:
        name = pg_base_name(shape)
        if _pg_has(pg_url, name):
            found["postgresql"] = (name, None)
        else:
            _admin(
                pg_url,
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                f'CREATE DATABASE "{name}"',
            )
            engine = make_engine(_sa_url(pg_url, name))
            upgrade(engine)
            engine.dispose()
            targets.append(("postgresql", _sa_url(pg_url, name)))
    if not targets:
        return found
    say(f"generating {shape.learners:,} learners x {shape.days} days into "
        f"{', '.join(kind for kind, _ in targets)}, one process each")  # fmt: skip
    if len(targets) == 1:
        kind, location = targets[0]
        found[kind] = (_base_location(kind, shape, folder), _fill(kind, location, shape))
        return found
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(targets), mp_context=context) as pool:
        futures = {kind: pool.submit(_fill, kind, location, shape) for kind, location in targets}
        for kind, future in futures.items():
            found[kind] = (_base_location(kind, shape, folder), future.result())
    return found


def _base_location(kind: str, shape: Shape, folder: Path) -> str:
    return str(sqlite_base_path(shape, folder)) if kind == "sqlite" else pg_base_name(shape)


def _fill(kind: str, location: str, shape: Shape) -> float:
    """Generate every learner into one base database; the seconds it took."""
    started = time.perf_counter()
    target: Target = SqliteTarget(Path(location)) if kind == "sqlite" else PostgresTarget(location)
    for done, rows in generate(shape):
        target.write(rows)
        if done == min(shape.learners, CHUNK) or done % (CHUNK * 10) == 0 or done == shape.learners:
            size = target.size()
            print(
                f"  {target.name}: {done:,} / {shape.learners:,} learners, "
                f"{time.perf_counter() - started:.0f} s, {_size(size)} "
                f"(~{_size(size * shape.learners // done)} when done)",
                flush=True,
            )
    target.finish()
    return time.perf_counter() - started


def count_rows(engine: Engine) -> dict[str, int]:
    tables = ("learners", "conversations", "turns", "error_events", "cards", "card_reviews",
              "pronunciation_attempts", "memory_notes", "memory_runs")  # fmt: skip
    with engine.connect() as connection:
        return {
            t: int(connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in tables
        }


# Copies to measure on ------------------------------------------------------------------


def sqlite_copy(base: Path, target: Path) -> str:
    for stale in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        stale.unlink(missing_ok=True)
    shutil.copyfile(base, target)
    return f"sqlite:///{target}"


def postgres_copy(pg_url: str, base: str, name: str) -> str:
    _admin(
        pg_url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{base}"',
    )
    return _sa_url(pg_url, name)


def _copy(backend: str, location: str, purpose: str, pg_url: str) -> str:
    """A fresh copy of a base database to measure on (``purpose``: run | resume)."""
    if backend == "sqlite":
        return sqlite_copy(Path(location), Path(location).parent / f"memory-{purpose}.sqlite3")
    return postgres_copy(pg_url, location, f"bench_memory_{purpose}")


def _drop(url: str, pg_url: str) -> None:
    if url.startswith("sqlite"):
        stale = Path(url.removeprefix("sqlite:///"))
        for path in (stale, Path(f"{stale}-wal"), Path(f"{stale}-shm")):
            path.unlink(missing_ok=True)
    else:
        _admin(pg_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


# The nightly job in a child process ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nightly:
    """One run of the job in a child process."""

    seen: int
    done: int
    skipped: int
    notes: int
    pruned_turns: int
    wall_seconds: float
    cpu_seconds: float  # the child's user + system time
    server_cpu_seconds: float  # PostgreSQL's processes meanwhile (0 on SQLite)
    peak_rss_mib: float
    killed: bool = False
    statements: int = 0  # SQL statements the job sent (transactions' BEGIN/COMMIT not counted)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it finished first


def postmaster_pid(url: str) -> int | None:
    """The PID of the PostgreSQL server at ``url`` when it runs on this machine."""
    try:
        with psycopg.connect(_libpq(url), connect_timeout=5) as connection:
            row = connection.execute("SHOW data_directory").fetchone()
        return int((Path(str(row[0])) / "postmaster.pid").read_text().split()[0]) if row else None
    except (psycopg.Error, OSError, ValueError):
        return None


def _server_cpu(postmaster: int | None) -> float:
    """CPU seconds of the PostgreSQL server (the postmaster, its live children and the
    children it reaped) so far; 0 when unknown."""
    if postmaster is None:
        return 0.0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class _Peak(threading.Thread):
    """Samples a child's VmHWM (the peak RSS of its own address space) until it exits.

    ``ru_maxrss`` from ``wait4`` is no good here: Linux carries the parent's high-water
    mark over into the child at exec, so a child of a big parent reports the parent's size.
    """

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.kib = pid, every, 0
        self._done = threading.Event()

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while not self._done.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.kib = max(self.kib, int(line.split()[1]))
            except (OSError, ValueError, IndexError):
                pass  # exited (or a zombie without memory): keep the last sample
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_nightly(
    url: str,
    *,
    kill_after: float | None = None,
    batch_size: int = 500,
    postmaster: int | None = None,
) -> Nightly:
    """``memory.nightly.run`` over every learner in a child process; SIGKILL it after
    ``kill_after`` seconds when given."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        argv = [sys.executable, "-m", "bench.memory", "--child", url, result.name, str(batch_size)]
        server = _server_cpu(postmaster)
        started = time.perf_counter()
        child = subprocess.Popen(argv, cwd=ROOT)
        timer = None
        if kill_after is not None:
            timer = threading.Timer(kill_after, _kill, (child.pid,))
            timer.start()
        peak = _Peak(child.pid)
        peak.start()
        _, status, usage = os.wait4(child.pid, 0)
        peak.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if timer is not None:
            timer.cancel()
        server = _server_cpu(postmaster) - server
        killed = child.returncode == -signal.SIGKILL
        if child.returncode != 0 and not killed:
            raise RuntimeError(f"the nightly child failed with exit code {child.returncode}")
        report = json.loads(Path(result.name).read_text() or "{}") if not killed else {}
    return Nightly(
        seen=report.get("seen", 0),
        done=report.get("done", 0),
        skipped=report.get("skipped", 0),
        notes=report.get("notes", 0),
        pruned_turns=report.get("pruned_turns", 0),
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        server_cpu_seconds=server,
        peak_rss_mib=peak.kib / 1024,
        killed=killed,
        statements=report.get("statements", 0),
    )


def _child(url: str, out: str, batch_size: int) -> None:
    engine = make_engine(url)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    report = nightly.run(engine, HashingEmbedder(), now=NOW, any_hour=True, batch_size=batch_size)
    engine.dispose()
    found = {k: v for k, v in asdict(report).items() if k != "days"}
    Path(out).write_text(_json({**found, "statements": statements}))


def memory_totals(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT (SELECT count(*) FROM memory_notes), (SELECT count(*) FROM memory_runs)")
        ).one()
    engine.dispose()
    return int(found[0]), int(found[1])


def forget_memory(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM memory_notes"))
        connection.execute(text("DELETE FROM memory_runs"))
    engine.dispose()


@dataclass(frozen=True, slots=True)
class Resumed:
    learners: int
    killed: Nightly
    done_when_killed: int
    rerun: Nightly
    notes: int
    runs: int
    clean_notes: int
    clean_runs: int

    @property
    def same(self) -> bool:
        return (self.notes, self.runs) == (self.clean_notes, self.clean_runs)


def resume_check(
    url: str, clean: Nightly, clean_totals: tuple[int, int], say: Say, postmaster: int | None = None
) -> Resumed:
    """Forget the memory, kill a run part-way, run again: same notes and runs as clean?"""
    forget_memory(url)
    killed = run_nightly(url, kill_after=clean.wall_seconds * KILL_AT, postmaster=postmaster)
    _, done = memory_totals(url)
    say(f"  killed after {killed.wall_seconds:.0f} s with {done:,} learners done; running again")
    rerun = run_nightly(url, postmaster=postmaster)
    notes, runs = memory_totals(url)
    return Resumed(clean.done, killed, done, rerun, notes, runs, *clean_totals)


# Context assembly ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    ms: tuple[float, ...]
    hits: int
    notes_found: int

    def p(self, q: float) -> float:
        return percentile(sorted(self.ms), q)


def measure_assembly(
    url: str, redis_url: str, learners: int, queries: int, *, seed: int = 0, primed: int = PRIMED
) -> Latency:
    """Prime Redis for ``primed`` learners (the measured ones among them), then time
    ``HotMemory.recent_turns`` + ``context.assemble`` for ``queries`` random learners."""
    import redis

    rng = random.Random(seed)
    chosen = [rng.randint(1, learners) for _ in range(queries)]
    extra = [rng.randint(1, learners) for _ in range(max(0, primed - len(set(chosen))))]
    namespace = f"bench-memory-{os.getpid()}"
    client = redis.Redis.from_url(redis_url)
    hot = HotMemory(client, namespace=namespace)
    engine = make_engine(url)
    embedder = HashingEmbedder()
    key = {n: f"telegram:{100_000_000 + n}" for n in {*chosen, *extra}}
    try:
        for learner_id in sorted(key):
            hot.prime(key[learner_id], learner_store.recent_turns(engine, learner_id, 15))
        for learner_id in chosen[:50]:  # warm-up
            _assemble(engine, hot, embedder, learner_id, key[learner_id], MESSAGES[0])
        clock = time.perf_counter
        timings, hits, notes_found = [], 0, 0
        for index, learner_id in enumerate(chosen):
            began = clock()
            recent, memory = _assemble(
                engine, hot, embedder, learner_id, key[learner_id], MESSAGES[index % len(MESSAGES)]
            )
            timings.append((clock() - began) * 1000)
            hits += recent is not None
            notes_found += len(memory.notes)
    finally:
        for learner_key in key.values():
            hot.forget(learner_key)
        client.close()
        engine.dispose()
    return Latency(tuple(timings), hits, notes_found)


def _assemble(
    engine: Engine,
    hot: HotMemory,
    embedder: HashingEmbedder,
    learner_id: int,
    learner_key: str,
    message: str,
) -> tuple[list[dict[str, Any]] | None, context.Memory]:
    recent = hot.recent_turns(learner_key)
    with engine.connect() as connection:
        memory = context.assemble(
            connection, learner_id, message, embedder, now=NOW, idle=IDLE, k=3
        )
    return recent, memory


# One backend, the report ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    backend: str
    base: Base
    clean: Nightly
    totals: tuple[int, int]
    latency: Latency
    resumed: Resumed | None


def run_backend(
    backend: str,
    shape: Shape,
    base: tuple[str, float | None],
    resume_base: tuple[str, float | None] | None,
    args: argparse.Namespace,
    say: Say = print,
) -> Result:
    """Measure one backend on copies of its base databases."""
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    location, load_seconds = base
    say(f"{name}: copying the base database")
    url = _copy(backend, location, "run", args.pg_url)
    base_url = f"sqlite:///{location}" if backend == "sqlite" else _sa_url(args.pg_url, location)
    engine = make_engine(base_url)
    counts = count_rows(engine)
    if backend == "sqlite":
        size = Path(location).stat().st_size
    else:
        with engine.connect() as connection:
            query = text("SELECT pg_database_size(current_database())")
            size = int(connection.execute(query).scalar_one())
    engine.dispose()
    say(f"{name}: the nightly job over {shape.learners:,} learners")
    postmaster = postmaster_pid(args.pg_url) if backend == "postgresql" else None
    clean = run_nightly(url, postmaster=postmaster)
    totals = memory_totals(url)
    say(f"  {name}: {clean.wall_seconds:.0f} s, {clean.done:,} done, {clean.notes:,} notes, "
        f"{clean.pruned_turns:,} turns pruned, peak RSS {clean.peak_rss_mib:.0f} MiB")  # fmt: skip
    say(f"{name}: context assembly for {args.queries:,} learners")
    latency = measure_assembly(url, args.redis_url, shape.learners, args.queries, seed=args.seed)
    say(f"  {name}: p50 {latency.p(50):.2f} ms, p95 {latency.p(95):.2f} ms, "
        f"p99 {latency.p(99):.2f} ms")  # fmt: skip
    resumed = None
    if resume_base is not None:
        resume_url, resume_clean, resume_totals = url, clean, totals
        if resume_base != base:
            _drop(url, args.pg_url)
            resume_url = _copy(backend, resume_base[0], "resume", args.pg_url)
            resume_clean = run_nightly(resume_url, postmaster=postmaster)
            resume_totals = memory_totals(resume_url)
        say(f"{name}: kill at ~{KILL_AT:.0%} and resume")
        resumed = resume_check(resume_url, resume_clean, resume_totals, say, postmaster)
        say(f"  {name}: notes {resumed.notes:,} / {resumed.clean_notes:,}, runs "
            f"{resumed.runs:,} / {resumed.clean_runs:,}: "
            f"{'same' if resumed.same else 'DIFFERENT'}")  # fmt: skip
        _drop(resume_url, args.pg_url)
    if getattr(args, "keep", False) and resume_base in (None, base):
        say(f"{name}: kept the measured copy at {url} (--context-only times it again)")
    else:
        _drop(url, args.pg_url)
    return Result(
        name, Base(name, location, size, counts, load_seconds), clean, totals, latency, resumed
    )


def cpu_ms_per_learner(result: Result) -> float:
    clean = result.clean
    return 1000 * (clean.cpu_seconds + clean.server_cpu_seconds) / max(1, clean.done)


def usd_per_million(result: Result) -> float:
    """On a 2-vCPU VM at ``VM_USD_PER_HOUR``, per million learners, counting CPU time."""
    cpu_hours = cpu_ms_per_learner(result) * 1_000_000 / 1000 / 3600
    return cpu_hours / 2 * VM_USD_PER_HOUR


def _size(value: int) -> str:
    return f"{value / 1024**3:.2f} GiB" if value >= 1024**3 else f"{value / 1024**2:.1f} MiB"


def data_table(results: Sequence[Result]) -> str:
    rows = []
    for r in results:
        c = r.base.counts
        rows.append((
            r.backend, f"{c['learners']:,}", f"{c['conversations']:,}", f"{c['turns']:,}",
            f"{c['error_events']:,}", f"{c['cards']:,}", f"{c['card_reviews']:,}",
            f"{c['pronunciation_attempts']:,}", _size(r.base.size_bytes),
            "reused" if r.base.load_seconds is None else f"{r.base.load_seconds:.0f} s",
        ))  # fmt: skip
    return markdown.table(
        ["Backend", "Learners", "Sessions", "Turns", "Error events", "Cards", "Card reviews",
         "Pronunciation attempts", "Database size", "Generate + load"],
        rows,
    )  # fmt: skip


def nightly_table(results: Sequence[Result]) -> str:
    rows = []
    for r in results:
        n = r.clean
        server = f"{n.server_cpu_seconds:.0f} s" if r.backend == "PostgreSQL" else "(in process)"
        rows.append((
            r.backend, f"{n.done:,}", f"{n.wall_seconds:.0f} s", f"{n.done / n.wall_seconds:,.0f}",
            f"{n.cpu_seconds:.0f} s", server, f"{cpu_ms_per_learner(r):.2f}",
            f"{n.statements / max(1, n.done):.1f}", f"{n.peak_rss_mib:.0f} MiB", f"{n.notes:,}",
            f"{n.pruned_turns:,}", f"${usd_per_million(r):.2f}",
        ))  # fmt: skip
    return markdown.table(
        ["Backend", "Learners done", "Wall", "Learners/s", "Job CPU", "Database CPU",
         "CPU ms / learner", "SQL statements / learner", "Peak RSS (job)", "Notes written",
         "Turns pruned", "VM cost per million learners"],
        rows,
    )  # fmt: skip


def latency_table(results: Sequence[Result]) -> str:
    rows = []
    for r in results:
        lat = r.latency
        rows.append((
            r.backend, len(lat.ms), f"{lat.hits:,}", f"{lat.notes_found / max(1, len(lat.ms)):.1f}",
            f"{lat.p(50):.2f} / {lat.p(95):.2f} / {lat.p(99):.2f}",
            "**met**" if lat.p(95) < TARGET_MS else "**missed**",
        ))  # fmt: skip
    return markdown.table(
        ["Backend", "Learners timed", "Hot-tier hits", "Notes per call", "p50 / p95 / p99 ms",
         f"p95 < {TARGET_MS:g} ms"],
        rows,
    )  # fmt: skip


def resume_table(results: Sequence[Result]) -> str:
    rows = []
    for r in results:
        s = r.resumed
        if s is None:
            continue
        rows.append((
            r.backend, f"{s.learners:,}", f"{s.killed.wall_seconds:.0f} s",
            f"{s.done_when_killed:,}",
            f"{s.rerun.wall_seconds:.0f} s ({s.rerun.done:,} done, {s.rerun.skipped:,} skipped)",
            f"{s.notes:,} / {s.clean_notes:,}", f"{s.runs:,} / {s.clean_runs:,}",
            "**same**" if s.same else "**different**",
        ))  # fmt: skip
    return markdown.table(
        ["Backend", "Learners", "Killed (SIGKILL) after", "Learners done by then", "Rerun",
         "Notes: resumed / clean", "memory_runs: resumed / clean", "Verdict"],
        rows,
    )  # fmt: skip


def summary(results: Sequence[Result]) -> str:
    found = {r.backend: r for r in results}

    def show(name: str, value: Callable[[Result], float]) -> str:
        return f"{value(found[name]):.2f}" if name in found else "n/a"

    return (
        f"sqlite_p95_ms={show('SQLite', lambda r: r.latency.p(95))} "
        f"postgres_p95_ms={show('PostgreSQL', lambda r: r.latency.p(95))} "
        f"sqlite_ms_per_learner={show('SQLite', cpu_ms_per_learner)} "
        f"postgres_ms_per_learner={show('PostgreSQL', cpu_ms_per_learner)}"
    )


def _command(args: argparse.Namespace) -> str:
    parts = [".venv/bin/python -m bench.memory", f"--learners {args.learners}",
             f"--days {args.days}", f"--backend {args.backend}",
             f"--queries {args.queries}"]  # fmt: skip
    if args.no_resume:
        parts.append("--no-resume")
    elif args.resume_learners:
        parts.append(f"--resume-learners {args.resume_learners}")
    if args.parallel:
        parts.append("--parallel")
    return " ".join([*parts, "--write"])


def _machine_line() -> str:
    cpu = machine._first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
    memory_kib = machine._first("/proc/meminfo", r"^MemTotal:\s*(\d+)")
    ram = f"{int(memory_kib) / 1024**2:.1f} GiB RAM" if memory_kib.isdigit() else "? RAM"
    return (
        f"{len(os.sched_getaffinity(0))} cores, {cpu}, {ram}, {platform.python_implementation()} "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL "
        f"{machine._postgres()} (fsync on, shared_buffers 128 MB), Redis {machine._redis()}, "
        f"SQLAlchemy {machine._version('sqlalchemy')}, psycopg {machine._version('psycopg')}"
    )


def explain(results: Sequence[Result], args: argparse.Namespace) -> str:
    """The figures in words: what bounds the job, what it costs, what the latency means."""
    words = []
    for r in results:
        n = r.clean
        per_learner = n.statements / max(1, n.done)
        million_hours = cpu_ms_per_learner(r) * 1_000_000 / 3_600_000
        words.append(
            f"On {r.backend} the job did {n.done / n.wall_seconds:,.0f} learners/s: "
            f"{cpu_ms_per_learner(r):.1f} CPU-ms per learner"
            + (f" ({1000 * n.server_cpu_seconds / max(1, n.done):.1f} of them in the server)"
               if r.backend == "PostgreSQL" else "")
            + f", {per_learner:.0f} SQL statements per learner, one transaction each; "
            f"a million learners would take {million_hours:.1f} CPU-hours, "
            f"${usd_per_million(r):.2f} of a 2-vCPU VM at ${VM_USD_PER_HOUR}/hour."
        )  # fmt: skip
    lat = ", ".join(f"{r.backend} p95 {r.latency.p(95):.2f} ms" for r in results)
    met = all(r.latency.p(95) < TARGET_MS for r in results)
    each = sum(r.clean.notes for r in results) / max(1, sum(r.clean.done for r in results))
    rss = "; ".join(f"{r.backend} {r.clean.peak_rss_mib:.0f} MiB" for r in results)
    return " ".join([
        *words,
        "The embedder is the offline `HashingEmbedder`, so the job makes no API calls and has "
        "no per-learner API cost; a hosted embedder would add its price for the notes written "
        f"(about {each:.1f} a learner a night, a few dozen tokens each). Peak RSS of the job: "
        f"{rss} (learners are read 500 ids at a time and each is its own transaction, so "
        "it should not grow with their number). In production the "
        "scheduler gives the job only the learners whose local night it is, so a night of "
        f"{args.learners:,} learners in 24 time zones is about 1/24 of this run each hour. "
        f"Context assembly ({lat}) {'meets' if met else 'misses'} the {TARGET_MS:g} ms target: "
        "two indexed queries (the last sessions' summaries without their documents, the "
        "learner's notes with their vectors), one embedding of the message and the Redis "
        "pipeline for the hot turns.",
    ])  # fmt: skip


def section(runs: Sequence[Run], args: argparse.Namespace) -> str:
    results = [run.result for run in runs]
    notes = list(dict.fromkeys(note for run in runs for note in run.notes))
    commands = [
        f"`{run.command}` ({run.result.backend}: {run.seconds / 60:.0f} minutes, "
        f"{'including' if run.result.base.load_seconds else 'excluding'} generating the data; "
        f"run {run.when})"
        for run in runs
    ]
    return "\n".join([
        "## Memory tier at scale: the nightly job and context assembly",
        "",
        f"{args.learners:,} synthetic learners with {args.days} days of history each "
        "(`bench/memory.py`, seeded, the same rows on both back ends): 24 time zones, "
        "a few sessions a week of 5-30 turns plus one on the learner's local yesterday, closed "
        "with their summaries; 2-4 recurring grammar rules each, card reviews, pronunciation "
        "attempts for 40 % of them, and for 30 % one or two sessions 95-120 days old that the "
        "job's 90-day retention prunes. The nightly job `memory.nightly.run(engine, "
        "HashingEmbedder(), any_hour=True)` runs over every learner in a child process on a "
        "fresh copy of the generated database; its CPU comes from `wait4`, its peak RSS "
        "from its own `VmHWM`, the "
        "PostgreSQL server's CPU from `/proc` (live and reaped backends). Context assembly is "
        "what the worker does before a turn: `HotMemory.recent_turns` on the local Redis "
        f"(primed from SQL for {PRIMED:,} learners, the timed ones among them) plus "
        "`memory.context.assemble` (the last sessions' summaries and the 3 most relevant "
        "notes for a real Spanish message) on a pooled connection, for learners drawn at "
        "random after the nightly run wrote their notes; the target is p95 < "
        f"{TARGET_MS:g} ms. Resumability: the notes and runs are deleted, the job is "
        f"SIGKILLed at about {KILL_AT:.0%} of the clean run's wall time and run again.",
        *(line for note in notes for line in ("", note)),
        "",
        explain(results, args),
        "",
        f"Command{'s' if len(commands) > 1 else ''}: {'; '.join(commands)}. On "
        f"{_machine_line()}.",
        "",
        "### The data",
        "",
        data_table(results),
        "",
        "### The nightly job",
        "",
        nightly_table(results),
        "",
        "### Context assembly (hot turns + memory)",
        "",
        latency_table(results),
        "",
        "### Killed part-way and resumed",
        "",
        resume_table(results),
        "",
        f"`{summary(results)}`",
        "",
    ])  # fmt: skip


@dataclass(frozen=True, slots=True)
class Run:
    """One back end's measurement with how it was made, kept under var/bench/."""

    result: Result
    command: str
    seconds: float
    when: str
    notes: tuple[str, ...] = ()


def _run_file(backend: str) -> Path:
    return VAR / f"memory-result-{backend}.pickle"


def save_run(run: Run) -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    backend = "sqlite" if run.result.backend == "SQLite" else "postgresql"
    _run_file(backend).write_bytes(pickle.dumps((run.result.base.counts["learners"], run)))


class _Unpickler(pickle.Unpickler):
    """Reads runs saved by ``python -m bench.memory``, whose classes live in ``__main__``."""

    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(__name__ if module == "__main__" else module, name)


def load_run(backend: str, shape: Shape) -> Run | None:
    """The last saved measurement of ``backend`` on data of ``shape``'s size, if any."""
    path = _run_file(backend)
    if not path.exists():
        return None
    try:
        with path.open("rb") as file:
            learners, run = _Unpickler(file).load()
    except Exception:  # an older format: measure again
        return None
    return run if learners == shape.learners and isinstance(run, Run) else None


def _print(message: str) -> None:
    print(message, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        _child(argv[1], argv[2], int(argv[3]))
        return
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-resume", action="store_true", help="skip the kill-and-resume check")
    parser.add_argument(
        "--resume-learners",
        type=int,
        default=0,
        help="learners in the kill-and-resume check's own database (default: --learners)",
    )
    parser.add_argument(
        "--parallel", action="store_true", help="measure the two back ends at the same time"
    )
    parser.add_argument(
        "--note", action="append", default=[], help="a sentence for the report (repeatable)"
    )
    parser.add_argument("--pg-url", default=os.environ.get("TUTOR_BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument(
        "--redis-url", default=os.environ.get("TUTOR_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    )
    parser.add_argument("--write", action="store_true", help="also update docs/BENCHMARKS.md")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the measured copy (with the job's notes) for --context-only; needs --no-resume",
    )
    parser.add_argument(
        "--context-only",
        action="store_true",
        help="only time context assembly again, on the copy an earlier --keep run left",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    shape = Shape(args.learners, args.days, args.seed)
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    if args.context_only:
        for backend in backends:
            url = (
                f"sqlite:///{ROOT / 'var' / 'bench' / 'memory-run.sqlite3'}"
                if backend == "sqlite"
                else _sa_url(args.pg_url, "bench_memory_run")
            )
            latency = measure_assembly(
                url, args.redis_url, shape.learners, args.queries, seed=args.seed
            )
            print(f"{backend}: context assembly for {args.queries:,} learners: "
                  f"p50 {latency.p(50):.2f} ms, p95 {latency.p(95):.2f} ms, "
                  f"p99 {latency.p(99):.2f} ms")  # fmt: skip
        return
    bases = ensure_bases(shape, backends, args.pg_url, say=_print)
    resume_bases: dict[str, tuple[str, float | None] | None] = dict.fromkeys(backends)
    if not args.no_resume:
        resume_shape = Shape(args.resume_learners or args.learners, args.days, args.seed)
        resume_bases = {**ensure_bases(resume_shape, backends, args.pg_url, say=_print)}
    if args.parallel and len(backends) > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(backends), mp_context=context) as pool:
            futures = [
                pool.submit(run_backend, b, shape, bases[b], resume_bases[b], args, _print)
                for b in backends
            ]
            results = [future.result() for future in futures]
    else:
        results = [run_backend(b, shape, bases[b], resume_bases[b], args, _print) for b in backends]
    seconds = time.perf_counter() - started
    notes = list(args.note)
    if args.days != 30:
        notes.append(
            f"The learners have {args.days} days of history, not the 30 of the issue, so that "
            "generating the data fits the time the run had; the job reads one day, a 14-day "
            "preference window and the day's rules' error events, so a longer history mostly "
            "grows the tables (a 30-day history is about 1.7 times the rows)."
        )
    if args.parallel and len(backends) > 1:
        notes.append(
            "Both back ends were measured at the same time (`--parallel`), each job on one of "
            "the 2 cores with the PostgreSQL server and Redis sharing them: wall times and "
            "latencies are those of a busy machine; CPU per learner is not affected much."
        )
    if not args.no_resume and args.resume_learners and args.resume_learners != args.learners:
        notes.append(
            f"The kill-and-resume check runs on a database of its own with "
            f"{args.resume_learners:,} learners (the same generator), after a clean run there."
        )
    for piece in (data_table, nightly_table, latency_table, resume_table):
        print()
        print(piece(results))
    print(f"\ntotal {seconds:.0f} s")
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    runs = [Run(result, _command(args), seconds, when, tuple(notes)) for result in results]
    for run in runs:
        save_run(run)
    if args.write:
        # A back end measured by an earlier invocation with the same data joins the block.
        kept = [r for r in (load_run(b, shape) for b in ("sqlite", "postgresql")) if r]
        chosen = {r.result.backend: r for r in [*kept, *runs]}
        ordered = sorted(chosen.values(), key=lambda r: r.result.backend != "SQLite")
        markdown.write_block(DOC, "memory", section(ordered, args))
        print(f"wrote the memory section of {DOC.relative_to(ROOT)}")
    print(summary(results))


if __name__ == "__main__":
    main()
