"""Hypothesis settings the property tests share: the same examples on every run."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

#: Derandomised (CI repeats a red run exactly), no example database on disk, and a deadline
#: far above a healthy call so only a hang or quadratic work trips it on a loaded machine.
REPEATABLE = settings(
    derandomize=True,
    database=None,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def examples(count: int) -> settings:
    """:data:`REPEATABLE` with ``count`` examples."""
    return settings(REPEATABLE, max_examples=count)
