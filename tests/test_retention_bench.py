"""The retention simulation: FSRS against Leitner on the same simulated learners."""

from __future__ import annotations

import math

import pytest

from bench import retention


@pytest.fixture(scope="module")
def result() -> retention.Result:
    return retention.simulate(learners=5, days=30, cards=40, seed=7)


def test_the_same_seed_gives_the_same_result(result: retention.Result) -> None:
    assert retention.simulate(learners=5, days=30, cards=40, seed=7) == result
    assert retention.simulate(learners=5, days=30, cards=40, seed=8) != result


def test_both_schedules_introduce_the_same_cards(result: retention.Result) -> None:
    assert result.fsrs.introductions == result.leitner.introductions
    assert result.fsrs.introduced == 5 * 40
    assert {card for _, _, card in result.fsrs.introductions} == set(range(40))
    assert {day for _, day, _ in result.fsrs.introductions} == {0, 1, 2, 3}


def test_retention_and_load_are_sane(result: retention.Result) -> None:
    for arm in (result.fsrs, result.leitner):
        assert 0 < arm.retention < 1
        assert 0 < arm.correct_share < 1
        assert arm.reviews >= arm.introduced
    steady = result.steady_load(result.fsrs)
    assert math.isfinite(steady)
    assert steady > 0
    assert result.steady == (20, 30)
    assert result.fsrs.retention > 0.6


def test_the_summary_line(result: retention.Result) -> None:
    line = retention.summary(result)
    assert line.startswith(f"fsrs_retention={result.fsrs.retention:.3f} leitner_retention=")
    assert line.endswith(f"leitner_load={result.steady_load(result.leitner):.2f}")
    assert "| FSRS-6" in retention.table(result)
