"""``python -m bench.retention [--learners N] [--days D] [--cards C] [--seed S] [--write]``.

A retention simulation: FSRS (the ``fsrs`` package, FSRS-6 default parameters, desired
retention 0.9, fuzzing off) against a fixed-interval Leitner schedule (boxes 1-5 with
intervals 1, 2, 4, 8 and 16 days; right moves a card up a box, wrong back to box 1), run on
the same simulated learners in the same run.

Learners. Every learner practises once a day at their own fixed time and meets 10 new cards
a day until all ``C`` cards are introduced; both schedules introduce the same cards on the
same days. At a session every due card is reviewed at the session's time; FSRS's learning
and relearning steps (minutes) are repeated within the same session, at the same time.

Hidden truth. Each card has a hidden difficulty (1-10; per card, shifted per learner), and
each learner-card pair a hidden stability multiplier drawn log-normally around 1 (a learner
factor times a card factor). The learner's real memory of a card is an FSRS-6 memory state
kept apart from whatever the schedule believes: a separate "truth" card per schedule and
learner-card pair, advanced by an FSRS-6 scheduler with the ratings the learner really
gives at the times of the reviews. After the first exposure its difficulty is set to the
hidden difficulty and its stability multiplied by the hidden multiplier, so the
scheduler's model is not the truth. The probability of recalling the card at a review is
the truth card's retrievability, ``R = (1 + FACTOR * t / S) ** DECAY`` with FSRS-6's
``FACTOR`` and ``DECAY`` (``Scheduler.get_card_retrievability``; sessions are whole days
apart, and a repeat within a session has ``t = 0``, so ``R = 1``). The Leitner arm's truth
is kept exactly the same way, so both schedules act on the same kind of memory.

Ratings. The first exposure of a new card is rated Again with a probability that grows
with the hidden difficulty (15 % to 50 %), otherwise Hard, Good or Easy. At a review the
learner recalls the card with probability ``R``; a miss is Again, a recall is Hard with
probability ``0.1 + 0.4 (1 - R)``, Easy with ``0.15 R^4``, otherwise Good.

Randomness comes from ``random.Random(seed)`` (the card difficulties and one seed per
learner); both schedules of a learner draw their answers from identical streams.

Reported per schedule: reviews in all (first exposures and in-session steps included),
reviews per learner per day over the run and over its last third (days 61-90 of the
default 90: the steady state, no new cards), the share of due reviews (a card seen on an
earlier day) answered correctly, and the retention at the end: the mean true recall
probability of every introduced card at the next session after the last day. The last
line is ``fsrs_retention=X leitner_retention=Y fsrs_load=A leitner_load=B`` with the
steady-state loads.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fsrs import Card, Rating, Scheduler

from bench import machine, markdown

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"

DESIRED_RETENTION = 0.9
NEW_PER_DAY = 10
LEITNER_INTERVALS = (1, 2, 4, 8, 16)
START = datetime(2025, 1, 6, tzinfo=UTC)
DAY = timedelta(days=1)
#: At most this many reviews of one card in one session (learning and relearning steps).
SESSION_REPEATS = 10
LEARNER_SIGMA = 0.25
CARD_SIGMA = 0.3
ARMS = ("fsrs", "leitner")


@dataclass(frozen=True, slots=True)
class Hidden:
    """What the learner's memory of one card really is, unknown to the schedules."""

    difficulty: float
    multiplier: float


@dataclass(frozen=True, slots=True)
class Arm:
    """One schedule's totals over all learners."""

    name: str
    daily: tuple[int, ...]  # reviews per day, summed over learners
    due_reviews: int
    due_correct: int
    retention_sum: float
    introductions: tuple[tuple[int, int, int], ...]  # (learner, day, card)

    @property
    def reviews(self) -> int:
        return sum(self.daily)

    @property
    def introduced(self) -> int:
        return len(self.introductions)

    @property
    def retention(self) -> float:
        return self.retention_sum / self.introduced if self.introductions else math.nan

    @property
    def correct_share(self) -> float:
        return self.due_correct / self.due_reviews if self.due_reviews else math.nan


@dataclass(frozen=True, slots=True)
class Result:
    learners: int
    days: int
    cards: int
    seed: int
    fsrs: Arm
    leitner: Arm

    @property
    def steady(self) -> tuple[int, int]:
        """The last third of the run as 0-based day indexes ``[first, end)``."""
        return self.days - max(1, self.days // 3), self.days

    def load(self, arm: Arm) -> float:
        return arm.reviews / (self.learners * self.days)

    def steady_load(self, arm: Arm) -> float:
        first, end = self.steady
        return sum(arm.daily[first:end]) / (self.learners * (end - first))


@dataclass(slots=True)
class _Tally:
    daily: list[int]
    due_reviews: int = 0
    due_correct: int = 0
    retention_sum: float = 0.0
    introduced: list[tuple[int, int]] = field(default_factory=list)  # (day, card)


def _first_rating(rng: random.Random, hidden: Hidden) -> Rating:
    again = 0.15 + 0.35 * (hidden.difficulty - 1) / 9
    easy = 0.12 * (10 - hidden.difficulty) / 9
    u = rng.random()
    if u < again:
        return Rating.Again
    if u < again + 0.1:
        return Rating.Hard
    if u > 1 - easy:
        return Rating.Easy
    return Rating.Good


def _rating(rng: random.Random, recall: float) -> Rating:
    if rng.random() >= recall:
        return Rating.Again
    v = rng.random()
    if v < 0.1 + 0.4 * (1 - recall):
        return Rating.Hard
    if v > 1 - 0.15 * recall**4:
        return Rating.Easy
    return Rating.Good


def _day(moment: datetime, first: datetime) -> int:
    """The index of the first session at or after ``moment``."""
    delta = moment - first
    return delta.days + (1 if delta.seconds or delta.microseconds else 0)


class _Truth:
    """The learner's real memory of each card under one schedule."""

    def __init__(self, scheduler: Scheduler, hidden: Sequence[Hidden]) -> None:
        self.scheduler = scheduler
        self.hidden = hidden
        self.cards: dict[int, Card] = {}

    def first(self, item: int, rating: Rating, when: datetime) -> None:
        card, _ = self.scheduler.review_card(Card(card_id=item + 1), rating, when)
        assert card.stability is not None
        card.stability *= self.hidden[item].multiplier
        card.difficulty = self.hidden[item].difficulty
        self.cards[item] = card

    def recall(self, item: int, when: datetime) -> float:
        return self.scheduler.get_card_retrievability(self.cards[item], current_datetime=when)

    def review(self, item: int, rating: Rating, when: datetime) -> None:
        self.cards[item], _ = self.scheduler.review_card(self.cards[item], rating, when)

    def retention(self, when: datetime) -> float:
        return sum(self.recall(item, when) for item in self.cards)


def _schedule(days: int, cards: int) -> list[list[int]]:
    """Which cards each day introduces (the same for every learner and schedule)."""
    return [
        list(range(day * NEW_PER_DAY, min(cards, (day + 1) * NEW_PER_DAY))) for day in range(days)
    ]


def _run_fsrs(
    rng: random.Random, hidden: Sequence[Hidden], days: int, cards: int, first: datetime
) -> _Tally:
    scheduler = Scheduler(desired_retention=DESIRED_RETENTION, enable_fuzzing=False)
    truth = _Truth(Scheduler(enable_fuzzing=False), hidden)
    model: dict[int, Card] = {}
    due: dict[int, list[int]] = {}
    tally = _Tally(daily=[0] * days)
    for day, new in enumerate(_schedule(days, cards)):
        when = first + day * DAY
        next_session = when + DAY
        reviewed = 0
        queue: list[tuple[int, int]] = []  # (card, reviews of it this session)
        for item in sorted(due.pop(day, ())):
            recall = truth.recall(item, when)
            rating = _rating(rng, recall)
            tally.due_reviews += 1
            tally.due_correct += rating != Rating.Again
            truth.review(item, rating, when)
            model[item], _ = scheduler.review_card(model[item], rating, when)
            reviewed += 1
            queue.append((item, 1))
        for item in new:
            tally.introduced.append((day, item))
            rating = _first_rating(rng, hidden[item])
            truth.first(item, rating, when)
            model[item], _ = scheduler.review_card(Card(card_id=item + 1), rating, when)
            reviewed += 1
            queue.append((item, 1))
        while queue:
            later: list[tuple[int, int]] = []
            for item, count in queue:
                card = model[item]
                if card.due >= next_session or count >= SESSION_REPEATS:
                    due.setdefault(_day(card.due, first), []).append(item)
                    continue
                rating = _rating(rng, truth.recall(item, when))
                truth.review(item, rating, when)
                model[item], _ = scheduler.review_card(card, rating, when)
                reviewed += 1
                later.append((item, count + 1))
            queue = later
        tally.daily[day] = reviewed
    tally.retention_sum = truth.retention(first + days * DAY)
    return tally


def _run_leitner(
    rng: random.Random, hidden: Sequence[Hidden], days: int, cards: int, first: datetime
) -> _Tally:
    truth = _Truth(Scheduler(enable_fuzzing=False), hidden)
    box: dict[int, int] = {}
    due: dict[int, list[int]] = {}
    tally = _Tally(daily=[0] * days)
    for day, new in enumerate(_schedule(days, cards)):
        when = first + day * DAY
        reviewed = 0
        for item in sorted(due.pop(day, ())):
            rating = _rating(rng, truth.recall(item, when))
            correct = rating != Rating.Again
            tally.due_reviews += 1
            tally.due_correct += correct
            truth.review(item, rating, when)
            box[item] = min(box[item] + 1, len(LEITNER_INTERVALS)) if correct else 1
            due.setdefault(day + LEITNER_INTERVALS[box[item] - 1], []).append(item)
            reviewed += 1
        for item in new:
            tally.introduced.append((day, item))
            truth.first(item, _first_rating(rng, hidden[item]), when)
            box[item] = 1
            due.setdefault(day + LEITNER_INTERVALS[0], []).append(item)
            reviewed += 1
        tally.daily[day] = reviewed
    tally.retention_sum = truth.retention(first + days * DAY)
    return tally


def _learner(seed: int, difficulties: Sequence[float], days: int) -> dict[str, _Tally]:
    """Both schedules for one learner, from the learner's own seed."""
    draw = random.Random(seed)
    factor = draw.lognormvariate(0.0, LEARNER_SIGMA)
    shift = draw.gauss(0.0, 1.0)
    hidden = [
        Hidden(
            difficulty=min(10.0, max(1.0, base + shift + draw.gauss(0.0, 0.5))),
            multiplier=factor * draw.lognormvariate(0.0, CARD_SIGMA),
        )
        for base in difficulties
    ]
    first = START + timedelta(hours=draw.randrange(6, 22), minutes=draw.randrange(60))
    answers = draw.getrandbits(64)
    cards = len(difficulties)
    return {
        "fsrs": _run_fsrs(random.Random(answers), hidden, days, cards, first),
        "leitner": _run_leitner(random.Random(answers), hidden, days, cards, first),
    }


def simulate(learners: int = 200, days: int = 90, cards: int = 300, seed: int = 0) -> Result:
    """Run both schedules on the same ``learners`` simulated learners."""
    master = random.Random(seed)
    difficulties = tuple(min(10.0, max(1.0, master.gauss(5.5, 2.0))) for _ in range(cards))
    seeds = [master.getrandbits(64) for _ in range(learners)]
    tallies = [_learner(learner_seed, difficulties, days) for learner_seed in seeds]
    arms = {
        name: Arm(
            name=name,
            daily=tuple(sum(t[name].daily[day] for t in tallies) for day in range(days)),
            due_reviews=sum(t[name].due_reviews for t in tallies),
            due_correct=sum(t[name].due_correct for t in tallies),
            retention_sum=math.fsum(t[name].retention_sum for t in tallies),
            introductions=tuple(
                (learner, day, item)
                for learner, t in enumerate(tallies)
                for day, item in t[name].introduced
            ),
        )
        for name in ARMS
    }
    return Result(learners, days, cards, seed, arms["fsrs"], arms["leitner"])


def table(result: Result) -> str:
    first, end = result.steady
    rows = [
        (
            label,
            arm.introduced,
            arm.reviews,
            f"{result.load(arm):.2f}",
            f"{result.steady_load(arm):.2f}",
            f"{arm.correct_share:.3f}",
            f"{arm.retention:.3f}",
        )
        for label, arm in (
            (f"FSRS-6 (desired retention {DESIRED_RETENTION})", result.fsrs),
            ("Leitner (1, 2, 4, 8, 16 days)", result.leitner),
        )
    ]
    return markdown.table(
        [
            "Schedule",
            "Cards introduced",
            "Reviews",
            "Reviews per learner-day",
            f"Reviews per learner-day, days {first + 1}-{end}",
            "Due reviews correct",
            "Retention at end",
        ],
        rows,
    )


def summary(result: Result) -> str:
    return (
        f"fsrs_retention={result.fsrs.retention:.3f} "
        f"leitner_retention={result.leitner.retention:.3f} "
        f"fsrs_load={result.steady_load(result.fsrs):.2f} "
        f"leitner_load={result.steady_load(result.leitner):.2f}"
    )


def _machine() -> str:
    cpu = machine._first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
    cores = len(os.sched_getaffinity(0))
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{cores} cores, {cpu}, {python}, fsrs {machine._version('fsrs')}"


def _command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python -m bench.retention --learners {args.learners} --days {args.days} "
        f"--cards {args.cards} --seed {args.seed} --write"
    )


def _section(result: Result, args: argparse.Namespace, seconds: float) -> str:
    first, end = result.steady
    return "\n".join(
        [
            "## Spaced repetition: FSRS against Leitner (simulated retention)",
            "",
            f"Measures how much the learner remembers and how many reviews it costs under "
            f"FSRS-6 (the `fsrs` package, default parameters, desired retention "
            f"{DESIRED_RETENTION}, fuzzing off) and under a Leitner schedule (boxes of 1, 2, "
            f"4, 8 and 16 days), both run on the same {result.learners} simulated learners "
            f"over {result.days} days, each meeting {NEW_PER_DAY} new cards a day until "
            f"{result.cards}. A learner's real memory of each card follows FSRS-6 with a "
            "hidden card difficulty and a hidden log-normal stability multiplier the "
            "schedules do not know (see the docstring of `bench/retention.py`). Reviews "
            "count first exposures and in-session steps; due reviews are those of cards seen "
            "on an earlier day; retention at end is the mean true recall probability of all "
            "introduced cards at the next session after the last day. The loads in the last "
            f"line are those of days {first + 1}-{end}, when no new cards arrive.",
            "",
            f"Command: `{_command(args)}`. Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
            f"{seconds:.1f} s on {_machine()}.",
            "",
            table(result),
            "",
            f"`{summary(result)}`",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.retention", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--cards", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.learners < 1 or args.days < 1 or args.cards < 1:
        parser.error("--learners, --days and --cards must be at least 1")
    started = time.perf_counter()
    result = simulate(args.learners, args.days, args.cards, args.seed)
    seconds = time.perf_counter() - started
    print(table(result))
    print()
    print(
        f"{result.learners} learners, {result.days} days, {result.cards} cards, seed "
        f"{result.seed}: {seconds:.1f} s"
    )
    if args.write:
        markdown.write_block(DOC, "retention", _section(result, args, seconds))
        print(f"wrote the retention section of {DOC.relative_to(ROOT)}")
    print(summary(result))


if __name__ == "__main__":
    main()
