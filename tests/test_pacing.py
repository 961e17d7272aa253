"""Token buckets for outbound sends: bursts, refills, shared state, push-back, fallback.

Every test reads the waits the buckets return under an injected clock, on the embedded
store and on a real Redis server; one test lets Redis keep the time itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.services import free_port
from tutor.messages import Channel, Reply, Template
from tutor.pacing import Limits, Pacer, Rate, message_count
from tutor.settings import Settings

TG, WA = Channel.TELEGRAM, Channel.WHATSAPP


class Clock:
    """Seconds since the epoch that move only when told."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Redis the pacers share: fakeredis in process, or the test Redis server."""
    if request.param == "embedded":
        yield fakeredis.FakeRedis(server=fakeredis.FakeServer())
        return
    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield client
    client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def near(seconds: float) -> Any:
    """A wait as the buckets report it: to the microsecond, give or take float rounding."""
    return pytest.approx(seconds, abs=1e-4)


def _pacer(store: Any, clock: Clock, **limits: Rate) -> Pacer:
    return Pacer(store, Limits(**limits), whatsapp_sender="1234", clock=clock)


def test_a_burst_goes_out_at_once_and_the_rest_is_spread(store: Any, clock: Clock) -> None:
    pacer = _pacer(store, clock, telegram_chat=Rate(1.0, 3.0))
    assert [pacer.take(TG, "42") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.take(TG, "42") == near(1.0)
    clock.advance(0.4)
    assert pacer.take(TG, "42") == near(0.6)
    clock.advance(0.6)
    assert pacer.take(TG, "42") == 0.0
    assert pacer.take(TG, "42") == near(1.0)
    clock.advance(10)  # refills to the burst, never beyond
    assert [pacer.take(TG, "42") for _ in range(4)][-1] == near(1.0)


def test_every_chat_has_its_own_bucket_under_the_bots(store: Any, clock: Clock) -> None:
    pacer = _pacer(store, clock, telegram=Rate(30.0, 30.0), telegram_chat=Rate(1.0, 1.0))
    assert all(pacer.take(TG, str(chat)) == 0.0 for chat in range(30))
    assert pacer.take(TG, "30") == near(1 / 30)
    clock.advance(1 / 30)
    assert pacer.take(TG, "30") == 0.0


def test_nothing_is_taken_when_one_bucket_is_short(store: Any, clock: Clock) -> None:
    pacer = _pacer(store, clock, telegram=Rate(1.0, 2.0), telegram_chat=Rate(1.0, 1.0))
    assert pacer.take(TG, "a") == 0.0
    assert pacer.take(TG, "a") == near(1.0)  # the chat is empty: the bot pays nothing
    assert pacer.take(TG, "b") == 0.0  # so another chat still gets the bot's last token
    assert pacer.take(TG, "c") == near(1.0)


def test_a_reply_of_several_messages_pays_for_each(store: Any, clock: Clock) -> None:
    pacer = _pacer(store, clock, whatsapp_user=Rate(1 / 6, 3.0))
    assert pacer.take(WA, "34600", cost=2) == 0.0
    assert pacer.take(WA, "34600", cost=2) == near(6.0)  # one token left of three
    clock.advance(12)
    assert pacer.take(WA, "34600", cost=5) == 0.0  # more than the burst: waits for a full one
    assert pacer.take(WA, "34600") == near(18.0)  # and pays the rest back


def test_two_pacers_share_the_buckets(store: Any, clock: Clock) -> None:
    first = _pacer(store, clock, telegram_chat=Rate(1.0, 2.0))
    second = _pacer(store, clock, telegram_chat=Rate(1.0, 2.0))
    assert first.take(TG, "7") == 0.0
    assert second.take(TG, "7") == 0.0
    assert first.take(TG, "7") == near(1.0)
    assert second.take(TG, "7") == near(1.0)


def test_a_recipients_slow_down_empties_its_bucket_for_everyone(store: Any, clock: Clock) -> None:
    told = _pacer(store, clock, telegram_chat=Rate(1.0, 3.0))
    other = _pacer(store, clock, telegram_chat=Rate(1.0, 3.0))
    told.push_back(TG, "9", "recipient", 0.0)
    assert other.take(TG, "9") == near(1.0)
    assert other.take(TG, "10") == 0.0  # other chats are not slowed down


def test_a_senders_slow_down_holds_every_recipient(store: Any, clock: Clock) -> None:
    told = _pacer(store, clock)
    other = _pacer(store, clock)
    told.push_back(WA, "34611", "sender", 2.0)
    assert other.take(WA, "34622") == near(2.0)
    clock.advance(2.0)
    assert other.take(WA, "34622") == 0.0


def test_whatsapp_numbers_have_separate_buckets(store: Any, clock: Clock) -> None:
    limits = Limits(whatsapp=Rate(1.0, 1.0))
    first = Pacer(store, limits, whatsapp_sender="111", clock=clock)
    second = Pacer(store, limits, whatsapp_sender="222", clock=clock)
    assert first.take(WA, "34600") == 0.0
    assert second.take(WA, "34611") == 0.0
    assert first.take(WA, "34622") == near(1.0)


def test_the_chat_page_is_not_paced(store: Any, clock: Clock) -> None:
    pacer = _pacer(store, clock, telegram_chat=Rate(1.0, 1.0))
    assert all(pacer.take(Channel.WEB, "page") == 0.0 for _ in range(100))


def test_redis_keeps_the_time_when_no_clock_is_given(store: Any) -> None:
    pacer = Pacer(store, Limits(telegram_chat=Rate(1.0, 1.0)))
    assert pacer.take(TG, "5") == 0.0
    assert 0.0 < pacer.take(TG, "5") <= 1.0


def test_keys_name_no_phone_numbers_and_expire(store: Any, clock: Clock) -> None:
    _pacer(store, clock).take(WA, "34699887766")
    keys = [key.decode() for key in store.keys("tutor:pace:*")]
    assert len(keys) == 2 and not any("34699887766" in key for key in keys)
    assert all(store.pttl(key) > 0 for key in keys)


def test_without_redis_each_process_paces_alone_and_says_so_once(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    down = _unreachable()
    failures: list[str] = []
    limits = Limits(telegram_chat=Rate(1.0, 2.0))
    pacer = Pacer(down, limits, clock=clock, on_error=failures.append, store_retry_seconds=0)
    with caplog.at_level(logging.WARNING, logger="tutor.pacing"):
        assert [pacer.take(TG, "1") for _ in range(3)] == [0.0, 0.0, near(1.0)]
        pacer.push_back(TG, "1", "recipient", 0.0)
        clock.advance(1.0)
        assert pacer.take(TG, "1") == 0.0
    assert failures == ["take", "take", "take", "push_back", "take"]
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    down.close()


def test_after_a_failure_redis_is_left_alone_for_a_while(clock: Clock) -> None:
    down = _unreachable()
    failures: list[str] = []
    pacer = Pacer(down, clock=clock, on_error=failures.append, store_retry_seconds=60)
    assert [pacer.take(TG, "1") for _ in range(4)] == [0.0, 0.0, 0.0, near(1.0)]
    pacer.push_back(TG, "1", "recipient", 0.0)
    assert failures == ["take"]  # asked once; the rest went straight to this process's buckets
    down.close()


def _unreachable() -> redis.Redis:
    """A client of a port nobody listens on, failing at once (no retries)."""
    return redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))


def test_a_reply_costs_one_token_per_platform_message() -> None:
    assert message_count(TG, "1", Reply("hi")) == 1
    assert message_count(TG, "1", Reply("x" * 5000)) == 2  # split at 4096
    assert message_count(TG, "1", Reply("here", document="export")) == 2
    template = Template("practice_reminder", "en", ("Ana",))
    assert message_count(WA, "34600", Reply("hi", template=template)) == 1
    assert message_count(WA, "34600", Reply("hi", voice_url="https://x/a.ogg")) == 2
    assert message_count(Channel.WEB, "page", Reply("hi")) == 1


def test_the_limits_come_from_the_settings() -> None:
    settings = Settings(_env_file=None, pace_telegram_chat_burst=5)  # type: ignore[call-arg]
    limits = Limits.from_settings(settings)
    assert limits.telegram == Rate(30.0, 5.0)
    assert limits.telegram_chat == Rate(1.0, 5.0)
    assert limits.whatsapp == Rate(80.0, 10.0)
    assert limits.whatsapp_user.per_second == near(1 / 6)
