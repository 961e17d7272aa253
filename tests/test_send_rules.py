"""The channels' rules on the send path: pacing shared by processes, "slow down" answers,
blocked bots, and WhatsApp's 24-hour window, as the fake platforms saw them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import fakeredis
import httpx
import pytest
import redis
from sqlalchemy import select, update

from tests.conftest import channel_env
from tests.fakes.server import RecordedRequest
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp, graph_error
from tests.support.harness import Harness
from tests.test_pacing import Clock
from tutor import inbox as inbox_store
from tutor import outbox as outbox_store
from tutor.channels.base import ChannelAdapter
from tutor.channels.telegram import TelegramClient
from tutor.messages import Channel, Reply, Template
from tutor.models import learners, outbox, utcnow
from tutor.outbox import OUTSIDE_WINDOW, Sender
from tutor.pacing import Limits, Pacer, Rate
from tutor.settings import Settings

TG, WA = Channel.TELEGRAM, Channel.WHATSAPP
WA_PHONE = "34600111222"


@pytest.fixture
def harness(
    make_settings: Callable[..., Settings], fake_telegram: FakeTelegram, fake_whatsapp: FakeWhatsApp
) -> Iterator[Harness]:
    """The tutor with both fakes; its own sends unpaced, so each test paces what it measures."""
    env = channel_env(fake_telegram, fake_whatsapp)
    settings = make_settings(
        **{k.removeprefix("TUTOR_").lower(): v for k, v in env.items()}, send_pacing=False
    )
    harness = Harness(settings, fake_telegram, fake_whatsapp)
    yield harness
    harness.close()


def _queue(
    harness: Harness,
    key: str,
    channel: Channel,
    chat_id: str,
    *replies: Reply,
    inbox_id: int | None = None,
) -> None:
    with harness.services.engine.begin() as connection:
        outbox_store.add(
            connection,
            inbox_id=inbox_id,
            learner_key=key,
            channel=channel,
            chat_id=chat_id,
            replies=replies,
            correlation_id="send-rules",
        )


def _rows(harness: Harness, key: str) -> list[dict[str, Any]]:
    query = select(outbox).where(outbox.c.learner_key == key).order_by(outbox.c.id)
    with harness.services.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def _learner(harness: Harness, chat_id: str) -> dict[str, Any]:
    with harness.services.engine.connect() as connection:
        row = connection.execute(select(learners).where(learners.c.chat_id == chat_id)).one()
    return dict(row._mapping)


def _sends(fake: FakeTelegram, chat_id: str) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests
        if r.path.endswith("/sendMessage") and str((r.json or {}).get("chat_id")) == chat_id
    ]


class Steps:
    """The Sender's sleep under a test clock: records each wait and moves the clock."""

    def __init__(self, clock: Clock, during: Callable[[], None] | None = None) -> None:
        self.clock = clock
        self.waits: list[float] = []
        self._during = during or (lambda: None)

    def __call__(self, seconds: float) -> None:
        self._during()  # what another process sees while this one waits
        self.waits.append(seconds)
        self.clock.advance(seconds)


def _sender(harness: Harness, pacer: Pacer, sleep: Callable[[float], None]) -> Sender:
    return Sender(
        harness.services.engine,
        harness.services.channels,
        base_backoff=0.05,
        sleep=sleep,
        pacer=pacer,
    )


# Pacing shared by processes ---------------------------------------------------------------


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def connect(request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    """Makes one Redis client per "process", all on the same server."""
    clients: list[Any] = []
    if request.param == "embedded":
        server = fakeredis.FakeServer()

        def embedded() -> Any:
            clients.append(fakeredis.FakeRedis(server=server))
            return clients[-1]

        yield embedded
    else:
        url = request.getfixturevalue("redis_url")

        def real() -> Any:
            clients.append(redis.Redis.from_url(url))
            return clients[-1]

        yield real
    for client in clients:
        client.close()


def test_two_processes_together_keep_to_one_chats_rate(
    harness: Harness, fake_telegram: FakeTelegram, connect: Callable[[], Any]
) -> None:
    rate, burst = 5.0, 2.0
    limits = Limits(telegram=Rate(100.0, 100.0), telegram_chat=Rate(rate, burst))
    senders, https = [], [httpx.Client(), httpx.Client()]
    for process in range(2):  # each with its own Redis connection, pacer, HTTP client
        client: ChannelAdapter = TelegramClient(fake_telegram.url, DEFAULT_TOKEN, https[process])
        pacer = Pacer(connect(), limits)
        senders.append(Sender(harness.services.engine, {TG: client}, pacer=pacer))
        key = f"telegram:{900 + process}"
        _queue(harness, key, TG, "777", *(Reply(f"{process}-{n}") for n in range(4)))
    threads = [
        threading.Thread(target=sender.deliver, args=(f"telegram:{900 + n}",))
        for n, sender in enumerate(senders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for http in https:
        http.close()
    arrivals = sorted(r.received_at for r in _sends(fake_telegram, "777"))
    assert len(arrivals) == 8
    # However the sends interleave, any run of them fits the bucket: its burst plus what
    # refilled meanwhile (one message of slack for the network between token and arrival).
    for first in range(len(arrivals)):
        for last in range(first + 1, len(arrivals)):
            count = last - first + 1
            assert count <= burst + rate * (arrivals[last] - arrivals[first]) + 1


def test_a_long_wait_for_tokens_is_left_to_the_sweeper_without_spending_an_attempt(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    clock = Clock()
    limits = Limits(telegram_chat=Rate(0.1, 1.0))  # one message every 10 s
    pacer = Pacer(fakeredis.FakeRedis(server=fakeredis.FakeServer()), limits, clock=clock)
    steps = Steps(clock)
    sender = _sender(harness, pacer, steps)
    _queue(harness, "telegram:910", TG, "910", Reply("one"), Reply("two"), Reply("three"))
    assert sender.deliver("telegram:910") is False
    rows = _rows(harness, "telegram:910")
    assert [(r["status"], r["attempts"]) for r in rows] == [
        ("sent", 1),
        ("pending", 0),
        ("pending", 0),
    ]
    assert rows[1]["next_attempt_at"] - utcnow() > timedelta(seconds=8)
    assert steps.waits == []
    clock.advance(10)
    with harness.services.engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    assert sender.deliver("telegram:910") is False  # the second goes, the third waits again
    assert [r["status"] for r in _rows(harness, "telegram:910")] == ["sent", "sent", "pending"]
    assert fake_telegram.sent_texts(910) == ["one", "two"]


def test_a_short_wait_for_tokens_is_slept_inline(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    clock = Clock()
    pacer = Pacer(
        fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        Limits(telegram_chat=Rate(1.0, 2.0)),
        clock=clock,
    )
    steps = Steps(clock)
    _queue(harness, "telegram:911", TG, "911", *(Reply(str(n)) for n in range(4)))
    assert _sender(harness, pacer, steps).deliver("telegram:911") is True
    assert steps.waits == [pytest.approx(1.0, abs=1e-3)] * 2
    assert [r["attempts"] for r in _rows(harness, "telegram:911")] == [1, 1, 1, 1]
    assert fake_telegram.sent_texts(911) == ["0", "1", "2", "3"]


def test_a_wait_stops_when_the_lease_on_the_learner_cannot_be_renewed(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    clock = Clock()
    pacer = Pacer(
        fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        Limits(telegram_chat=Rate(1.0, 1.0)),
        clock=clock,
    )
    steps = Steps(clock)
    _queue(harness, "telegram:912", TG, "912", Reply("one"), Reply("two"))
    assert _sender(harness, pacer, steps).deliver("telegram:912", renew=lambda: False) is False
    assert steps.waits == []  # another worker may hold the learner now: no sending on
    rows = _rows(harness, "telegram:912")
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1), ("pending", 0)]
    assert rows[1]["next_attempt_at"] > utcnow()


# "Slow down" answers ------------------------------------------------------------------------


def test_a_telegram_429_is_retried_after_retry_after_and_slows_other_processes(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    clock = Clock()
    store = fakeredis.FakeServer()
    limits = Limits(telegram_chat=Rate(1.0, 3.0))
    pacer = Pacer(fakeredis.FakeRedis(server=store), limits, clock=clock)
    other = Pacer(fakeredis.FakeRedis(server=store), limits, clock=clock)
    seen: list[float] = []
    steps = Steps(clock, during=lambda: seen.append(other.take(TG, "920")))
    fake_telegram.inject(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    _queue(harness, "telegram:920", TG, "920", Reply("hola"))
    assert _sender(harness, pacer, steps).deliver("telegram:920") is True
    assert steps.waits == [3.0]  # the stated wait, once
    assert seen == [pytest.approx(1.0, abs=1e-3)]  # the chat's burst is gone for everyone
    assert len(_sends(fake_telegram, "920")) == 2
    row = _rows(harness, "telegram:920")[0]
    assert (row["status"], row["attempts"]) == ("sent", 2)


def _whatsapp_learner(harness: Harness) -> str:
    """A WhatsApp learner who has just written (inside the window); their key."""
    harness.whatsapp_says(WA_PHONE, "hola")
    return str(_learner(harness, WA_PHONE)["key"])


def test_the_whatsapp_pair_limit_is_retried_after_4_to_the_attempt(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    key = _whatsapp_learner(harness)
    clock = Clock()
    store = fakeredis.FakeServer()
    pacer = Pacer(fakeredis.FakeRedis(server=store), clock=clock, whatsapp_sender="n1")
    other = Pacer(fakeredis.FakeRedis(server=store), clock=clock, whatsapp_sender="n1")
    seen: list[float] = []
    steps = Steps(clock, during=lambda: seen.append(other.take(WA, WA_PHONE)))
    pair_limit = graph_error(400, 131056, "(#131056) (Business Account, Consumer Account) pair")
    fake_whatsapp.inject(pair_limit.status, pair_limit.body, times=2)
    before = len(fake_whatsapp.sent)
    _queue(harness, key, WA, WA_PHONE, Reply("¿Practicamos?"))
    sender = _sender(harness, pacer, steps)
    assert sender.deliver(key) is False
    # 4^1 s slept, then the user's emptied bucket gives a token at one per 6 s; the next
    # retry, after 4^2 s, is the sweeper's.
    assert steps.waits == [4.0, pytest.approx(2.0, abs=1e-3)]
    assert seen[0] == pytest.approx(6.0, abs=1e-3)  # emptied for every process
    row = _rows(harness, key)[-1]
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert row["next_attempt_at"] - utcnow() > timedelta(seconds=14)
    assert "RateLimited" in str(row["error"])
    clock.advance(16)
    with harness.services.engine.begin() as connection:
        connection.execute(update(outbox).values(next_attempt_at=utcnow()))
    assert sender.deliver(key) is True
    assert [m.text for m in fake_whatsapp.sent[before:]] == ["¿Practicamos?"]


def test_a_whatsapp_throughput_limit_holds_the_number_for_every_process(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    key = _whatsapp_learner(harness)
    clock = Clock()
    store = fakeredis.FakeServer()
    pacer = Pacer(fakeredis.FakeRedis(server=store), clock=clock, whatsapp_sender="n2")
    other = Pacer(fakeredis.FakeRedis(server=store), clock=clock, whatsapp_sender="n2")
    seen: list[float] = []
    steps = Steps(clock, during=lambda: seen.append(other.take(WA, "34699000000")))
    throughput = graph_error(400, 130429, "(#130429) Rate limit hit")
    fake_whatsapp.inject(throughput.status, throughput.body, headers={"Retry-After": "2"})
    _queue(harness, key, WA, WA_PHONE, Reply("¿Practicamos?"))
    assert _sender(harness, pacer, steps).deliver(key) is True
    assert steps.waits == [2.0]
    assert seen == [pytest.approx(2.0, abs=1e-3)]  # another learner waits too


# Blocked bots -------------------------------------------------------------------------------


def test_a_blocked_bot_makes_the_learner_inactive_until_they_write_again(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    assert harness.telegram_says(930, "hi")
    with harness.services.engine.begin() as connection:
        connection.execute(
            update(learners)
            .where(learners.c.chat_id == "930")
            .values(next_reminder_at=utcnow() + timedelta(hours=3))
        )
    fake_telegram.block(930)
    assert harness.telegram_says(930, "help") == []
    learner = _learner(harness, "930")
    assert learner["inactive_at"] is not None and learner["next_reminder_at"] is None
    row = _rows(harness, "telegram:930")[-1]
    assert (row["status"], row["attempts"]) == ("dead", 1)  # never retried
    letters = inbox_store.failed(harness.services.engine)
    assert [(d["source"], d["channel"]) for d in letters] == [("outbox", "telegram")]

    fake_telegram.blocked_chats.discard("930")  # unblocked; the learner writes again
    assert harness.telegram_says(930, "hi again")
    assert _learner(harness, "930")["inactive_at"] is None


# WhatsApp's 24-hour window ---------------------------------------------------------------


def _silent_for(harness: Harness, hours: float) -> None:
    with harness.services.engine.begin() as connection:
        connection.execute(
            update(learners)
            .where(learners.c.chat_id == WA_PHONE)
            .values(last_inbound_at=utcnow() - timedelta(hours=hours))
        )


def test_outside_the_window_free_form_is_skipped_and_a_template_is_sent(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    key = _whatsapp_learner(harness)
    _silent_for(harness, 25)
    template = Template("practice_reminder", "es", ("Ana",))
    before = len(fake_whatsapp.sent)
    _queue(
        harness,
        key,
        WA,
        WA_PHONE,
        Reply("¿Practicamos hoy?"),
        Reply("¿Practicamos hoy?", template=template),
    )
    assert harness.worker.sender.deliver(key) is True
    skipped, sent = _rows(harness, key)[-2:]
    assert (skipped["status"], skipped["error"], skipped["attempts"]) == (
        "skipped",
        OUTSIDE_WINDOW,
        0,
    )
    assert sent["status"] == "sent"
    bodies = [m.body for m in fake_whatsapp.sent[before:]]
    assert [b["type"] for b in bodies] == ["template"]
    assert bodies[0]["template"]["name"] == "practice_reminder"
    assert bodies[0]["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Ana"}]
    assert inbox_store.failed(harness.services.engine) == []  # not a dead letter


def test_inside_the_window_free_form_goes_out(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    key = _whatsapp_learner(harness)
    _silent_for(harness, 23)
    _queue(harness, key, WA, WA_PHONE, Reply("¿Practicamos hoy?"))
    assert harness.worker.sender.deliver(key) is True
    assert _rows(harness, key)[-1]["status"] == "sent"
    assert fake_whatsapp.sent_texts(WA_PHONE)[-1] == "¿Practicamos hoy?"


def test_a_learner_who_never_wrote_gets_no_free_form(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    _queue(harness, "whatsapp:US.34600999999", WA, "34600999999", Reply("Hola"))
    assert harness.worker.sender.deliver("whatsapp:US.34600999999") is True
    assert _rows(harness, "whatsapp:US.34600999999")[0]["status"] == "skipped"
    assert fake_whatsapp.sent == []


def test_a_reply_to_a_message_just_received_is_inside_the_window(
    harness: Harness, fake_whatsapp: FakeWhatsApp
) -> None:
    key = _whatsapp_learner(harness)
    answered = _rows(harness, key)[-1]["inbox_id"]
    _silent_for(harness, 48)  # the learner row says otherwise (erased in that turn, say)
    _queue(harness, key, WA, WA_PHONE, Reply("Adiós"), inbox_id=answered)
    assert harness.worker.sender.deliver(key) is True
    assert _rows(harness, key)[-1]["status"] == "sent"
    assert fake_whatsapp.sent_texts(WA_PHONE)[-1] == "Adiós"
