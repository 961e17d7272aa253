"""The circuit breaker's rules, on the embedded store, a real Redis, and with Redis down."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis

from tests.llm.backends import REDIS_KINDS, redis_pair
from tests.support.services import RedisServer
from tutor.llm.breaker import CircuitBreaker


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=[*REDIS_KINDS, "down"])
def clients(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any]]:
    """ "down" runs every rule against the per-process fallback."""
    yield from redis_pair(request)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(client: Any, clock: Clock, **options: Any) -> CircuitBreaker:
    values: dict[str, Any] = {"failure_threshold": 3, "cooldown_seconds": 30.0, "clock": clock}
    values.update(options)
    return CircuitBreaker(client, **values)


def test_opens_after_consecutive_failures(clients: tuple[Any, Any], clock: Clock) -> None:
    breaker = make(clients[0], clock)
    assert breaker.allow("groq")
    assert breaker.state("groq").state == "closed"
    breaker.record_failure("groq", error="ProviderUnavailable")
    breaker.record_failure("groq", error="ProviderUnavailable")
    assert breaker.allow("groq")
    breaker.record_failure("groq", error="ProviderTimeout")

    state = breaker.state("groq")
    assert state.state == "open"
    assert state.consecutive_failures == 3
    assert state.opened_until == pytest.approx(clock.now + 30)
    assert state.last_error == "ProviderTimeout"
    assert not breaker.allow("groq")
    assert breaker.allow("anthropic")  # one breaker per provider


def test_a_success_resets_the_count(clients: tuple[Any, Any], clock: Clock) -> None:
    breaker = make(clients[0], clock)
    for _ in range(3):
        breaker.record_failure("groq")
        breaker.record_failure("groq")
        breaker.record_success("groq")
    assert breaker.state("groq").state == "closed"
    assert breaker.state("groq").consecutive_failures == 0
    assert breaker.allow("groq")


def test_a_429_storm_opens_it_even_between_successes(
    clients: tuple[Any, Any], clock: Clock
) -> None:
    breaker = make(clients[0], clock, failure_threshold=10, window_seconds=60)
    for _ in range(2):
        breaker.record_failure("groq", rate_limited=True, error="ProviderRateLimited")
        breaker.record_success("groq")
        clock.advance(10)
    assert breaker.allow("groq")
    breaker.record_failure("groq", rate_limited=True, error="ProviderRateLimited")
    assert breaker.state("groq").state == "open"
    assert not breaker.allow("groq")


def test_429s_spread_beyond_the_window_do_not_open_it(
    clients: tuple[Any, Any], clock: Clock
) -> None:
    breaker = make(clients[0], clock, failure_threshold=10, window_seconds=60)
    for _ in range(5):
        breaker.record_failure("groq", rate_limited=True)
        breaker.record_success("groq")
        clock.advance(31)  # never three inside one minute
    assert breaker.state("groq").state == "closed"


def test_a_long_retry_after_opens_it_for_that_long(clients: tuple[Any, Any], clock: Clock) -> None:
    breaker = make(clients[0], clock)
    breaker.record_failure("anthropic", rate_limited=True, retry_after=10)
    assert breaker.allow("anthropic")  # shorter than the cooldown: just a failure

    breaker.record_failure("anthropic", rate_limited=True, retry_after=120)
    assert breaker.state("anthropic").opened_until == pytest.approx(clock.now + 120)
    clock.advance(60)
    assert not breaker.allow("anthropic")  # the cooldown alone would have let it probe
    clock.advance(61)
    assert breaker.allow("anthropic")


def test_half_open_lets_one_probe_through(clients: tuple[Any, Any], clock: Clock) -> None:
    breaker = make(clients[0], clock)
    for _ in range(3):
        breaker.record_failure("groq")
    clock.advance(29)
    assert not breaker.allow("groq")
    clock.advance(1)
    assert breaker.state("groq").state == "half_open"
    assert [breaker.allow("groq") for _ in range(5)] == [True, False, False, False, False]

    breaker.record_success("groq")
    assert breaker.state("groq").state == "closed"
    assert all(breaker.allow("groq") for _ in range(3))


def test_a_failed_probe_reopens_for_another_cooldown(
    clients: tuple[Any, Any], clock: Clock
) -> None:
    breaker = make(clients[0], clock)
    for _ in range(3):
        breaker.record_failure("groq")
    clock.advance(30)
    assert breaker.allow("groq")
    breaker.record_failure("groq", error="ProviderUnavailable")
    assert breaker.state("groq").opened_until == pytest.approx(clock.now + 30)
    assert not breaker.allow("groq")
    clock.advance(30)
    assert breaker.allow("groq")  # the next cooldown's probe


def test_a_straggler_success_does_not_close_an_open_breaker(
    clients: tuple[Any, Any], clock: Clock
) -> None:
    breaker = make(clients[0], clock)
    breaker.record_failure("groq", rate_limited=True, retry_after=300)
    breaker.record_success("groq")  # a call that started before it opened
    assert breaker.state("groq").state == "open"


def test_a_probe_that_never_reports_frees_the_slot(clients: tuple[Any, Any], clock: Clock) -> None:
    breaker = make(clients[0], clock, probe_timeout_seconds=0.05)
    for _ in range(3):
        breaker.record_failure("groq")
    clock.advance(30)
    assert breaker.allow("groq")
    assert not breaker.allow("groq")
    time.sleep(0.1)
    assert breaker.allow("groq")


@pytest.mark.parametrize("clients", REDIS_KINDS, indirect=True)
def test_one_probe_across_processes(clients: tuple[Any, Any], clock: Clock) -> None:
    first, second = (make(client, clock) for client in clients)
    for _ in range(3):
        first.record_failure("groq")
    assert not second.allow("groq")  # opened by the other process
    clock.advance(30)

    start = threading.Barrier(16)

    def race(breaker: CircuitBreaker) -> bool:
        start.wait()
        return breaker.allow("groq")

    with ThreadPoolExecutor(16) as pool:
        verdicts = list(pool.map(race, [first, second] * 8))
    assert verdicts.count(True) == 1

    second.record_success("groq")
    assert first.allow("groq") and first.state("groq").state == "closed"


def test_falls_back_to_this_process_when_redis_dies(clock: Clock) -> None:
    errors: list[str] = []
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        breaker = make(client, clock, on_error=errors.append)
        breaker.record_failure("groq")
        assert errors == []
        server.kill()
        for _ in range(3):
            breaker.record_failure("groq", error="ProviderUnavailable")
        assert not breaker.allow("groq")  # the dead provider is still skipped
        state = breaker.state("groq")
        assert (state.state, state.last_error) == ("open", "ProviderUnavailable")
        assert errors == ["failure"] * 3 + ["allow", "state"]
        client.close()
