"""The due-card benchmark, on SQLite with tiny sizes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from bench import cards as bench
from tutor.db import make_engine

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_sqlite_load_and_measure(tmp_path: Path) -> None:
    result = bench.run_sqlite(tmp_path / "cards.db", 20, 50, 50, NOW, seed=1, warmup=5)
    loaded, measured = result.loaded, result.measured

    assert loaded.learner_ids == tuple(range(1, 21))
    assert loaded.cards == 20 * 50
    assert 0 < loaded.retired < loaded.cards
    assert loaded.cards / 5 < loaded.due_now < loaded.cards / 2
    assert loaded.size_bytes > 0

    engine = make_engine(f"sqlite:///{tmp_path / 'cards.db'}")
    with engine.connect() as connection:
        due_by_learner = {
            int(learner): int(count)
            for learner, count in connection.execute(
                text(
                    "SELECT learner_id, count(*) FROM cards WHERE due <= :now "
                    "AND retired_at IS NULL GROUP BY learner_id"
                ),
                {"now": NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")},
            )
        }
    engine.dispose()
    assert sum(due_by_learner.values()) == loaded.due_now

    assert len(measured.samples) == 50
    for learner, found in measured.samples:
        assert len(found) == min(bench.LIMIT, due_by_learner.get(learner, 0))
        assert all(card.learner_id == learner for card in found)
        assert all(not card.retired and card.due <= NOW for card in found)
        dues = [card.due for card in found]
        assert dues == sorted(dues)
        assert all(card.due.tzinfo is not None for card in found)

    assert len(measured.due_ms) == len(measured.next_due_ms) == 50
    for value in (
        measured.due_p(50),
        measured.due_p(95),
        measured.due_p(99),
        measured.next_due_p(95),
    ):
        assert math.isfinite(value) and value > 0
    assert measured.due_p(50) <= measured.due_p(95) <= measured.due_p(99)
    assert bench.summary([result]) == f"sqlite_p95_ms={measured.due_p(95):.2f} postgres_p95_ms=n/a"
