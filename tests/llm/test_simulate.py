"""The cost simulation replays traffic through the real router and adds up what it cost."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tutor.llm import simulate
from tutor.settings import Settings


def test_a_small_month_meets_the_cost_targets(
    make_settings: Callable[..., Settings], redis_url: str
) -> None:
    report = simulate.run(make_settings(), learners=25, days=4, redis_url=redis_url)
    assert report.turns > 100
    assert sum(report.per_tier.values()) == report.turns
    assert report.per_tier.get("offline", 0) == 0
    assert report.fast_or_cache_share >= 0.8
    assert 0 < report.cost_per_active_learner_month < 0.5
    lines = "\n".join(report.lines())
    assert "per active learner per month" in lines


def test_prices_drive_the_cost(make_settings: Callable[..., Settings], redis_url: str) -> None:
    cheap = simulate.run(make_settings(), learners=10, days=2, redis_url=redis_url)
    dear = simulate.run(
        make_settings(groq_price_input=5.9, groq_price_output=7.9),
        learners=10,
        days=2,  # a fresh embedded store: nothing remembered from the run above
    )
    assert dear.turns == cheap.turns  # same seed, same traffic
    assert dear.cost_usd > 2 * cheap.cost_usd  # the strong tier's share is unchanged


def test_outages_move_turns_down_the_chain(make_settings: Callable[..., Settings]) -> None:
    report = simulate.run(make_settings(), learners=8, days=2, fail_rate=0.6)
    assert report.per_tier.get("strong", 0) + report.per_tier.get("offline", 0) > 0
    assert sum(report.per_tier.values()) == report.turns


@pytest.mark.parametrize("fail_rate", [0.0])
def test_same_seed_same_answer(make_settings: Callable[..., Settings], fail_rate: float) -> None:
    first = simulate.run(make_settings(), learners=5, days=2, fail_rate=fail_rate)
    second = simulate.run(make_settings(), learners=5, days=2, fail_rate=fail_rate)
    assert (first.turns, dict(first.per_tier)) == (second.turns, dict(second.per_tier))
