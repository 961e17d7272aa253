"""The nightly job: each learner's day turned into memory notes, at the learner's night.

For each learner who was active on their previous local day and has no
``memory_runs`` row for it, one transaction writes the day's notes and that row:

- recurring errors: every rule the grammar checks caught that day and have caught at
  least twice in all, with the total count, the number of days, and the latest
  examples;
- what helped: a drill said again with a clearly better score after its model answer
  was heard (audio), and reviews of the learner's own past mistakes answered right;
- progression: words learned past a milestone, a new level, a sound clearly better
  than before;
- preferences: voice notes (share of messages), the usual time of day, the favourite
  activity, over the last two weeks.

Then the learner's raw turns older than the retention window, in sessions already
summarised, are pruned (the turn rows; the session documents keep their summaries;
old inbox and outbox payloads are emptied).

Safe to rerun and to crash: a learner's notes and their run row commit together, so a
rerun skips learners already done and redoes none of their work twice; notes are
upserts on (learner, key) whose counts are recomputed from the records. Learners are
read in batches of ``batch_size`` ids (keyset pagination), so memory stays bounded
whatever the number of learners.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from memory import notes
from memory.embeddings import Embedder, EmbeddingError
from tutor.i18n import name_of
from tutor.models import (
    card_reviews,
    cards,
    conversations,
    error_events,
    inbox,
    learners,
    memory_runs,
    outbox,
    pronunciation_attempts,
    turns,
    utcnow,
)
from tutor.text import local_zone

logger = logging.getLogger(__name__)

NIGHT_STARTS = time(2, 0)  # local: the job acts on a learner from 02:00 ...
NIGHT_ENDS = time(6, 0)  # ... to 06:00, whichever run of the scheduler comes first
RECURRING = 2  # a rule caught this often in all is a recurring error
WORD_MILESTONES = (10, 25, 50, 100, 250, 500, 1000, 2000)
PREFERENCE_DAYS = 14
BETTER_BY = 15  # points of accuracy that count as clearly better
_TUTORING = ("conversation", "grammar", "vocabulary", "pronunciation", "lexicon")


@dataclass(slots=True)
class Report:
    """What one run did."""

    seen: int = 0
    done: int = 0
    skipped: int = 0  # already done for that day (another run, or before a crash)
    failed: int = 0  # left for the next run (the embedder was unavailable)
    notes: int = 0
    pruned_turns: int = 0
    seconds: float = 0.0
    days: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    profile: dict[str, Any]
    last_inbound_at: datetime | None


def due_day(profile: dict[str, Any], now: datetime, *, any_hour: bool) -> date | None:
    """The local day to summarise for a learner now: yesterday, during their night (or at
    any hour when run by hand); None outside their night."""
    local = now.astimezone(local_zone(profile.get("timezone")))
    if not any_hour and not NIGHT_STARTS <= local.time() < NIGHT_ENDS:
        return None
    return local.date() - timedelta(days=1)


def day_bounds(day: date, profile: dict[str, Any]) -> tuple[datetime, datetime]:
    """The UTC instants where the learner's local ``day`` starts and ends."""
    zone = local_zone(profile.get("timezone"))
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def candidates(engine: Engine, since: datetime, batch_size: int) -> Iterator[list[Candidate]]:
    """Learners with a message since ``since``, ``batch_size`` at a time, by id."""
    after = 0
    while True:
        query = (
            select(learners.c.id, learners.c.profile, learners.c.last_inbound_at)
            .where(learners.c.id > after, learners.c.last_inbound_at >= since)
            .order_by(learners.c.id)
            .limit(batch_size)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return
        yield [Candidate(int(r.id), dict(r.profile), r.last_inbound_at) for r in rows]
        after = int(rows[-1].id)


def run(
    engine: Engine,
    embedder: Embedder,
    *,
    now: datetime | None = None,
    any_hour: bool = False,
    retention_days: int = 90,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> Report:
    """Summarise every learner whose night it is (all of them with ``any_hour``)."""
    now = now or utcnow()
    began = datetime.now(UTC)
    report = Report()
    since = now - timedelta(days=2, hours=14)  # yesterday, in the farthest time zone
    if total is not None:
        total(_count(engine, since))
    for batch in candidates(engine, since, batch_size):
        for learner in batch:
            report.seen += 1
            day = due_day(learner.profile, now, any_hour=any_hour)
            if day is not None:
                _one(engine, embedder, learner, day, now, retention_days, report)
            if progress is not None:
                progress(1)
    report.seconds = (datetime.now(UTC) - began).total_seconds()
    return report


def _count(engine: Engine, since: datetime) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(learners)
                .where(learners.c.last_inbound_at >= since)
            )
            or 0
        )


def _one(
    engine: Engine,
    embedder: Embedder,
    learner: Candidate,
    day: date,
    now: datetime,
    retention_days: int,
    report: Report,
) -> None:
    start, end = day_bounds(day, learner.profile)
    if learner.last_inbound_at is not None and learner.last_inbound_at < start:
        return  # nothing happened that day
    try:
        with engine.begin() as connection:
            if _done(connection, learner.id, day):
                report.skipped += 1
                return
            drafts = summarise_day(connection, learner, start, end, now)
            written = notes.write(connection, learner.id, drafts, embedder, now)
            connection.execute(
                memory_runs.insert().values(
                    learner_id=learner.id, day=day.isoformat(), done_at=now, notes=written
                )
            )
            report.pruned_turns += prune(connection, learner.id, now - timedelta(retention_days))
    except IntegrityError:
        report.skipped += 1  # another run finished this learner first
        return
    except EmbeddingError as exc:
        # The hosted embedder is down: nothing was written, the next run retries them.
        logger.warning("notes not embedded; learner left for the next run: %s", exc)
        report.failed += 1
        return
    report.done += 1
    report.notes += written
    report.days[day.isoformat()] += 1


def _done(connection: Connection, learner_id: int, day: date) -> bool:
    found = connection.scalar(
        select(memory_runs.c.id)
        .where(memory_runs.c.learner_id == learner_id, memory_runs.c.day == day.isoformat())
        .limit(1)
    )
    return found is not None


# What a day teaches --------------------------------------------------------------


def summarise_day(
    connection: Connection, learner: Candidate, start: datetime, end: datetime, now: datetime
) -> list[notes.Draft]:
    """The notes one day of a learner's records justify (their counts over all days)."""
    zone = local_zone(learner.profile.get("timezone"))
    drafts = [
        *_errors(connection, learner.id, start, end, zone),
        *_helped(connection, learner.id, start, end),
        *_progress(connection, learner, start, end),
        *_preferences(connection, learner.id, end, zone),
    ]
    return drafts


def _errors(
    connection: Connection, learner_id: int, start: datetime, end: datetime, zone: Any
) -> list[notes.Draft]:
    rules_today = [
        str(rule)
        for rule in connection.scalars(
            select(error_events.c.rule)
            .where(
                error_events.c.learner_id == learner_id,
                error_events.c.created_at >= start,
                error_events.c.created_at < end,
            )
            .distinct()
        )
    ]
    if not rules_today:
        return []
    rows = connection.execute(
        select(
            error_events.c.rule,
            error_events.c.code,
            error_events.c.category,
            error_events.c.wrong,
            error_events.c.correction,
            error_events.c.sentence,
            error_events.c.created_at,
        )
        .where(
            error_events.c.learner_id == learner_id,
            error_events.c.rule.in_(rules_today),
            error_events.c.created_at < end,
        )
        .order_by(error_events.c.id.desc())
    ).all()
    by_rule: dict[str, list[Any]] = {}
    for row in rows:
        by_rule.setdefault(str(row.rule), []).append(row)
    drafts = []
    for rule, events in by_rule.items():
        if len(events) < RECURRING:
            continue
        latest = events[0]
        examples = [
            {"wrong": e.wrong, "correction": e.correction, "sentence": e.sentence}
            for e in events[:3]
        ]
        days = len({e.created_at.astimezone(zone).date() for e in events})
        code = str(latest.code)
        text = " ".join(
            [
                name_of("code", code, "en"),
                name_of("code", code, "es"),
                str(latest.category).replace("_", " "),
                rule.replace("-", " "),
                *(f"{e['wrong']} {e['correction']} {e['sentence']}" for e in examples),
            ]
        )
        facts = {
            "rule": rule,
            "code": code,
            "count": len(events),
            "days": days,
            "examples": examples,
            "last_seen": events[0].created_at.isoformat(),
        }
        drafts.append(notes.Draft(f"error:{rule}", "error", facts, text))
    return drafts


def _helped(
    connection: Connection, learner_id: int, start: datetime, end: datetime
) -> list[notes.Draft]:
    drafts = []
    attempts = connection.execute(
        select(pronunciation_attempts.c.drill_id, pronunciation_attempts.c.accuracy)
        .where(
            pronunciation_attempts.c.learner_id == learner_id,
            pronunciation_attempts.c.created_at >= start,
            pronunciation_attempts.c.created_at < end,
            pronunciation_attempts.c.drill_id.is_not(None),
        )
        .order_by(pronunciation_attempts.c.id)
    ).all()
    first: dict[str, int] = {}
    best_gain: tuple[int, str, int, int] | None = None
    for attempt in attempts:
        drill = str(attempt.drill_id)
        if drill not in first:
            first[drill] = int(attempt.accuracy)
            continue
        gain = int(attempt.accuracy) - first[drill]
        if gain >= BETTER_BY and (best_gain is None or gain > best_gain[0]):
            best_gain = (gain, drill, first[drill], int(attempt.accuracy))
    if best_gain is not None:
        _, drill, before, after = best_gain
        facts = {"what": "audio", "drill": drill, "before": before, "after": after}
        text = (
            "listening to the spoken model answer and repeating it helped pronunciation "
            "escuchar la respuesta modelo y repetirla ayudó con la pronunciación audio voice "
            f"{drill.replace('-', ' ')}"
        )
        drafts.append(notes.Draft("helped:audio", "helped", facts, text))
    reviewed = connection.execute(
        select(cards.c.item_key, card_reviews.c.rating)
        .join(cards, cards.c.id == card_reviews.c.card_id)
        .where(
            card_reviews.c.learner_id == learner_id,
            card_reviews.c.reviewed_at >= start,
            card_reviews.c.reviewed_at < end,
            cards.c.kind == "error",
        )
    ).all()
    right = [r for r in reviewed if r.rating >= 3]
    if right:
        rules = sorted({str(r.item_key).removeprefix("error:") for r in right})
        facts = {"what": "reviews", "right": len(right), "total": len(reviewed), "rules": rules}
        text = (
            "reviewing my own past mistakes helped; repasar mis propios errores ayudó "
            + " ".join(rule.replace("-", " ") for rule in rules)
        )
        drafts.append(notes.Draft("helped:reviews", "helped", facts, text))
    return drafts


def _progress(
    connection: Connection, learner: Candidate, start: datetime, end: datetime
) -> list[notes.Draft]:
    drafts = []
    learned = int(
        connection.scalar(
            select(func.count())
            .select_from(cards)
            .where(cards.c.learner_id == learner.id, cards.c.kind == "word", cards.c.state == 2)
        )
        or 0
    )
    reached = [m for m in WORD_MILESTONES if m <= learned]
    if reached:
        facts = {"what": "words", "count": reached[-1]}
        text = f"words learned vocabulary progress palabras aprendidas vocabulario {reached[-1]}"
        drafts.append(notes.Draft("progress:words", "progress", facts, text))
    level = learner.profile.get("level")
    if level:
        facts = {"what": "level", "level": str(level)}
        text = f"level {level} progress nivel {level} progreso CEFR"
        drafts.append(notes.Draft("progress:level", "progress", facts, text))
    today = _sound_means(connection, learner.id, start, end)
    before = _sound_means(connection, learner.id, start - timedelta(days=30), start)
    for sound, mean in sorted(today.items()):
        earlier = before.get(sound)
        if earlier is not None and mean - earlier >= BETTER_BY:
            facts = {"what": "sound", "sound": sound, "before": earlier, "after": mean}
            text = (
                f"pronunciation of {name_of('sound', sound, 'en')} improved; "
                f"mejoró la pronunciación de {name_of('sound', sound, 'es')}"
            )
            drafts.append(notes.Draft(f"progress:sound:{sound}", "progress", facts, text))
    return drafts


def _sound_means(
    connection: Connection, learner_id: int, start: datetime, end: datetime
) -> dict[str, int]:
    totals: dict[str, list[int]] = {}
    for (sounds,) in connection.execute(
        select(pronunciation_attempts.c.sounds).where(
            pronunciation_attempts.c.learner_id == learner_id,
            pronunciation_attempts.c.created_at >= start,
            pronunciation_attempts.c.created_at < end,
        )
    ):
        for sound, value in dict(sounds or {}).items():
            totals.setdefault(str(sound), []).append(int(value))
    return {sound: round(sum(v) / len(v)) for sound, v in totals.items()}


def _preferences(
    connection: Connection, learner_id: int, end: datetime, zone: Any
) -> list[notes.Draft]:
    rows = connection.execute(
        select(turns.c.agent, turns.c.inbound["kind"].as_string(), turns.c.created_at).where(
            turns.c.learner_id == learner_id,
            turns.c.created_at >= end - timedelta(days=PREFERENCE_DAYS),
            turns.c.created_at < end,
        )
    ).all()
    if len(rows) < 5:
        return []
    drafts = []
    voice = sum(1 for r in rows if r[1] in ("voice", "audio"))
    if voice >= 3 and voice / len(rows) >= 0.3:
        facts = {"what": "voice", "share": round(100 * voice / len(rows))}
        text = "prefers voice notes speaking audio prefiere notas de voz hablar"
        drafts.append(notes.Draft("preference:voice", "preference", facts, text))
    parts = Counter(_part_of_day(r.created_at.astimezone(zone).hour) for r in rows)
    part, count = parts.most_common(1)[0]
    if count / len(rows) >= 0.6:
        facts = {"what": "time", "part": part}
        text = f"usually practises in the {part} suele practicar por la {part} time hora"
        drafts.append(notes.Draft("preference:time", "preference", facts, text))
    activities = Counter(str(r.agent) for r in rows if r.agent in _TUTORING)
    if activities:
        agent, used = activities.most_common(1)[0]
        if used >= 5:
            facts = {"what": "activity", "agent": agent}
            text = f"favourite activity {agent} actividad favorita"
            drafts.append(notes.Draft("preference:activity", "preference", facts, text))
    return drafts


def _part_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    if 18 <= hour < 23:
        return "evening"
    return "night"


# Retention -----------------------------------------------------------------------


def prune(connection: Connection, learner_id: int, cutoff: datetime) -> int:
    """Delete the learner's turns older than ``cutoff`` in summarised sessions; empty the
    old sessions' turn lists and the old inbox and outbox payloads. Returns turns pruned."""
    old_sessions = select(conversations.c.id).where(
        conversations.c.learner_id == learner_id,
        conversations.c.last_turn_at < cutoff,
        conversations.c.summary.is_not(None),
        conversations.c.closed_at.is_not(None),
    )
    session_ids = [int(i) for i in connection.scalars(old_sessions)]
    if not session_ids:
        return 0
    old_turns = and_(turns.c.learner_id == learner_id, turns.c.conversation_id.in_(session_ids))
    inbox_ids = [int(i) for i in connection.scalars(select(turns.c.inbox_id).where(old_turns)) if i]
    pruned = connection.execute(delete(turns).where(old_turns)).rowcount or 0
    connection.execute(
        update(conversations)
        .where(conversations.c.id.in_(session_ids))
        .values(document={"version": 1, "turns": [], "pruned": True})
    )
    for chunk in _chunks(inbox_ids, 500):
        connection.execute(update(inbox).where(inbox.c.id.in_(chunk)).values(message={}, raw=None))
        connection.execute(
            update(outbox)
            .where(outbox.c.inbox_id.in_(chunk), outbox.c.status != "pending")
            .values(reply={})
        )
    return int(pruned)


def _chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for index in range(0, len(values), size):
        yield values[index : index + size]
