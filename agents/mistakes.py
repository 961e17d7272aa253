"""Recurring mistakes as review cards: the learner's own sentences, to put right again.

Error events (:mod:`tutor.error_events`) are grouped by the rule that found
them (a built-in check such as ``es-ser-estar`` or a curriculum grammar
point): a pattern seen ``THRESHOLD`` times becomes an FSRS card of its own
(``error:<rule>``). Its exercise shows one of the learner's past sentences
with the mistaken words in capitals and asks for them put right. "my
mistakes" lists the patterns; "that wasn't a mistake" after a correction
retires the pattern's card for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from agents.library import pick
from tutor import cards
from tutor.i18n import name_of, t
from tutor.models import cards as cards_table
from tutor.models import error_events

#: How often a pattern must be seen before it becomes a card.
THRESHOLD = 3
PREFIX = "error:"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One recurring mistake: its rule, taxonomy code, how often, and the latest example."""

    rule: str
    code: str
    count: int
    wrong: str
    correction: str
    sentence: str


def patterns(engine: Engine, learner_id: int) -> list[Pattern]:
    """The learner's mistakes grouped by rule, most frequent first."""
    grouped = (
        select(
            error_events.c.rule,
            func.count().label("count"),
            func.max(error_events.c.id).label("latest"),
        )
        .where(error_events.c.learner_id == learner_id)
        .group_by(error_events.c.rule)
        .subquery()
    )
    query = (
        select(grouped.c.count, error_events)
        .join(error_events, error_events.c.id == grouped.c.latest)
        .order_by(grouped.c.count.desc(), error_events.c.id.desc())
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        Pattern(
            rule=str(row.rule),
            code=str(row.code),
            count=int(row._mapping["count"]),
            wrong=str(row.wrong),
            correction=str(row.correction),
            sentence=str(row.sentence),
        )
        for row in rows
    ]


def sync(engine: Engine, learner_id: int, now: datetime) -> int:
    """Give each pattern seen often enough its card (once: a retired one stays retired)."""
    have = cards.item_keys(engine, learner_id)
    added = 0
    for pattern in patterns(engine, learner_id):
        key = PREFIX + pattern.rule
        if pattern.count >= THRESHOLD and key not in have:
            cards.add(engine, learner_id, key, kind="error", now=now)
            added += 1
    return added


def examples(engine: Engine, learner_id: int, rule: str, limit: int = 5) -> list[Pattern]:
    """The learner's latest mistakes under ``rule``."""
    query = (
        select(error_events)
        .where(error_events.c.learner_id == learner_id, error_events.c.rule == rule)
        .order_by(error_events.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        Pattern(str(r.rule), str(r.code), 1, str(r.wrong), str(r.correction), str(r.sentence))
        for r in rows
    ]


def exercise(
    engine: Engine, learner_id: int, rule: str, seed: str, lang: str
) -> tuple[str, str] | None:
    """The question built from one of the learner's own mistakes, and the expected fix."""
    found = [p for p in examples(engine, learner_id, rule) if p.wrong and p.wrong in p.sentence]
    if not found:
        return None
    chosen: Pattern = pick(found, seed)
    shown = chosen.sentence.replace(chosen.wrong, chosen.wrong.upper(), 1)
    return t(
        "mistake_exercise", lang, sentence=shown, wrong=chosen.wrong.upper()
    ), chosen.correction


def listing(engine: Engine, learner_id: int, lang: str) -> str:
    """ "my mistakes": the recurring patterns with a count and the latest example."""
    found = patterns(engine, learner_id)
    if not found:
        return t("mistakes_none", lang)
    retired = _retired(engine, learner_id)
    lines = [t("mistakes_header", lang)]
    for number, pattern in enumerate(found[:8], start=1):
        label = name_of("code", pattern.code, lang)
        mark = " (✗)" if PREFIX + pattern.rule in retired else ""
        lines.append(
            t(
                "mistakes_line",
                lang,
                number=number,
                label=label,
                count=pattern.count,
                wrong=pattern.wrong,
                right=pattern.correction,
            )
            + mark
        )
    lines.append(t("mistakes_footer", lang))
    return "\n".join(lines)


def dispute(engine: Engine, learner_id: int, rule: str, now: datetime) -> None:
    """The learner says a correction under ``rule`` was wrong: its pattern is never reviewed."""
    stored = cards.add(engine, learner_id, PREFIX + rule, kind="error", now=now)
    cards.retire(engine, stored.id, now=now)


def _retired(engine: Engine, learner_id: int) -> set[str]:
    query = select(cards_table.c.item_key).where(
        cards_table.c.learner_id == learner_id, cards_table.c.retired_at.is_not(None)
    )
    with engine.connect() as connection:
        return {str(key) for key in connection.execute(query).scalars()}
