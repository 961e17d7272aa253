"""Shared pieces of the fault tests (tests/reliability/test_faults*.py).

``Platform`` posts webhooks the way Telegram and WhatsApp do: a non-2xx answer (or no
answer) is delivered again until it is taken, and what was taken is remembered.
``Flaky`` gives a fake server a time window of failures. ``settle`` waits for the inbox
and outbox to empty; ``check_exactly_once`` then reads the database and the fakes:

- every accepted message is ``done`` with exactly one turn, and a text got a reply;
- every queued reply was sent, and the fake received exactly the sent replies, in order
  (a resend of the same reply is counted, and allowed only where a test says so: a
  worker killed between the platform's answer and the row being marked sent);
- every payment event is stored once, and a Stars pack message was thanked once with its
  lessons credited once;

and ``assert_recovered`` that ``/readyz`` answers ready with the same processes.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from tests.conftest import TELEGRAM_SECRET, WHATSAPP_APP_SECRET
from tests.fakes.server import FakeResponse
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support import payloads
from tutor.db import make_engine
from tutor.messages import Reply
from tutor.models import entitlements, inbox, learners, outbox, payment_events, turns, usage_events

TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PACK_LESSONS = 10  # payments/plans.yaml: pack10
THANKS = ("Thank you! 🎉", "¡Gracias! 🎉")  # the paid_pack text, en and es


def fault_env(database_url: str, redis_url: str = "") -> dict[str, str]:
    """Fast sweeps, short leases and quick retries: faults heal within seconds."""
    return {
        "TUTOR_DATABASE_URL": database_url,
        "TUTOR_REDIS_URL": redis_url,
        "TUTOR_SECRET_KEY": "fault-secret",
        "TUTOR_SWEEP_STALE_SECONDS": "1",
        "TUTOR_SWEEP_INTERVAL_SECONDS": "0.5",
        "TUTOR_LEARNER_LEASE_SECONDS": "3",
        "TUTOR_SEND_BACKOFF_SECONDS": "0.2",
        "TUTOR_SEND_MAX_BACKOFF_SECONDS": "5",
        "TUTOR_SEND_TIMEOUT_SECONDS": "2",
        "TUTOR_SEND_PACING": "false",
        "TUTOR_WORKER_THREADS": "4",
        "TUTOR_LOG_LEVEL": "INFO",
    }


# Delivering webhooks ---------------------------------------------------------------------


@dataclass
class Platform:
    """A messaging platform delivering to ``url``: every webhook until it is answered 200."""

    url: str
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: Counter[int] = field(default_factory=Counter)
    retry_pause: float = 0.3
    timeout: float = 120.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def telegram(self, body: dict[str, Any]) -> None:
        self._deliver("/webhooks/telegram", body, {TELEGRAM_HEADER: TELEGRAM_SECRET})

    def whatsapp(self, body: dict[str, Any]) -> None:
        raw = payloads.encode(body)
        headers = payloads.whatsapp_headers(raw, WHATSAPP_APP_SECRET)
        self._deliver("/webhooks/whatsapp", raw, headers)

    def post_once(self, path: str, body: dict[str, Any] | bytes, headers: dict[str, str]) -> int:
        """One delivery attempt; 0 when there was no answer at all."""
        content = body if isinstance(body, bytes) else payloads.encode(body)
        if not isinstance(body, bytes):
            headers = {"Content-Type": "application/json", **headers}
        try:
            response = httpx.post(self.url + path, content=content, headers=headers, timeout=10)
        except httpx.HTTPError:
            return 0
        return response.status_code

    def _deliver(self, path: str, body: dict[str, Any] | bytes, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            status = self.post_once(path, body, headers)
            if status == 200:
                with self._lock:
                    self.accepted.append({"path": path, "body": body})
                return
            with self._lock:
                self.refused[status] += 1
            assert status == 0 or status >= 500, f"{path} refused a valid update with {status}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} never accepted the update (last status {status})")
            time.sleep(self.retry_pause)


def run_all(jobs: Iterable[Callable[[], None]]) -> None:
    """Run each job in its own thread; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # handed back to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


_charges = itertools.count(1)


def stars_pack_payment(user: int) -> dict[str, Any]:
    """A Stars ``successful_payment`` for a 10-lesson pack, with a fresh charge id."""
    payload = f"pack10:1:{int(time.time())}"
    return payloads.telegram_stars_payment(user, payload, 49, f"stxFAULT{user}x{next(_charges)}")


# Faults at the fakes ---------------------------------------------------------------------


class Flaky:
    """A mixin for a FakeServer: during ``fail_for(seconds, responses)`` every request is
    answered by the next of ``responses`` in turn (a ``delay`` longer than the client's
    timeout is a hang); afterwards the fake answers normally again."""

    _window_until: float = 0.0
    _window_responses: itertools.cycle[FakeResponse] | None = None
    failed_requests: int = 0

    def fail_for(self, seconds: float, responses: Sequence[FakeResponse]) -> None:
        self._window_responses = itertools.cycle(list(responses))
        self._window_until = time.monotonic() + seconds

    def _next_fault(self) -> FakeResponse | None:
        if self._window_responses is not None and time.monotonic() < self._window_until:
            self.failed_requests += 1
            return next(self._window_responses)
        return super()._next_fault()  # type: ignore[misc, no-any-return]


class FlakyTelegram(Flaky, FakeTelegram):
    """FakeTelegram with a window of failures."""


class FlakyWhatsApp(Flaky, FakeWhatsApp):
    """FakeWhatsApp with a window of failures."""


def telegram_faults(hang: float, retry_after: int = 1) -> list[FakeResponse]:
    """429 with retry_after, 502, 500 and a hang longer than the client waits."""
    return [
        FakeResponse(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
        ),
        FakeResponse(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}),
        FakeResponse(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}),
        FakeResponse(502, {"ok": False, "error_code": 502, "description": "down"}, delay=hang),
    ]


# Waiting and checking --------------------------------------------------------------------


def settle(database_url: str, timeout: float = 90.0, quiet: float = 1.5) -> None:
    """Wait until nothing is pending in the inbox or the outbox for ``quiet`` seconds."""
    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout
    calm_since: float | None = None
    try:
        while time.monotonic() < deadline:
            try:
                waiting = _pending(engine)
            except Exception:  # the database may be the fault under test
                waiting = -1
            now = time.monotonic()
            if waiting == 0:
                calm_since = calm_since or now
                if now - calm_since >= quiet:
                    return
            else:
                calm_since = None
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise TimeoutError(f"inbox/outbox still pending after {timeout}s")


def _pending(engine: Engine) -> int:
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
        ).scalar_one()
        count += connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.status == "pending")
        ).scalar_one()
    return int(count)


@dataclass
class Verdict:
    """What ``check_exactly_once`` counted (for the test's own assertions and messages)."""

    messages: int = 0
    replies: int = 0
    resends: int = 0
    payments: int = 0
    problems: list[str] = field(default_factory=list)


def check_exactly_once(
    database_url: str,
    telegram: FakeTelegram | None = None,
    whatsapp: FakeWhatsApp | None = None,
    *,
    resends_allowed: int = 0,
    expected_messages: int | None = None,
) -> Verdict:
    """Assert the exactly-once invariants over everything the run stored and sent."""
    engine = make_engine(database_url)
    verdict = Verdict()
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(inbox.c.id, inbox.c.status, inbox.c.learner_key, inbox.c.message)
            ).all()
            turn_counts = Counter(connection.execute(select(turns.c.inbox_id)).scalars().all())
            replies = connection.execute(
                select(
                    outbox.c.id, outbox.c.inbox_id, outbox.c.learner_key, outbox.c.channel,
                    outbox.c.chat_id, outbox.c.status, outbox.c.reply,
                ).order_by(outbox.c.id)
            ).all()  # fmt: skip
            events = connection.execute(
                select(
                    payment_events.c.provider, payment_events.c.event_id, payment_events.c.kind,
                    payment_events.c.learner_id, payment_events.c.plan, payment_events.c.status,
                )
            ).all()  # fmt: skip
            records = {
                row.learner_id: row.lessons_remaining
                for row in connection.execute(
                    select(entitlements.c.learner_id, entitlements.c.lessons_remaining)
                )
            }
            pack_used = Counter(
                connection.execute(
                    select(usage_events.c.learner_id).where(usage_events.c.paid_by == "pack")
                ).scalars()
            )
            keys = dict(connection.execute(select(learners.c.id, learners.c.key)).all())
    finally:
        engine.dispose()

    problems = verdict.problems
    verdict.messages = len(rows)
    if expected_messages is not None and len(rows) != expected_messages:
        problems.append(f"{len(rows)} inbox rows, expected {expected_messages}")
    replied = Counter(row.inbox_id for row in replies)
    for row in rows:
        if row.status != "done":
            problems.append(f"inbox {row.id} ({row.learner_key}) is {row.status}")
        if turn_counts[row.id] != 1:
            problems.append(f"inbox {row.id} has {turn_counts[row.id]} turns")
        if row.message.get("kind") == "text" and not replied[row.id]:
            problems.append(f"inbox {row.id} (a text) has no reply")
    for reply in replies:
        if reply.status != "sent":
            problems.append(f"outbox {reply.id} ({reply.learner_key}) is {reply.status}")
    verdict.replies = len(replies)
    verdict.resends = _compare_sends(replies, telegram, whatsapp, problems)
    if verdict.resends > resends_allowed:
        problems.append(f"{verdict.resends} replies sent twice (allowed {resends_allowed})")

    ids = Counter((event.provider, event.event_id) for event in events)
    problems.extend(f"payment {key} stored {n} times" for key, n in ids.items() if n > 1)
    verdict.payments = len(events)
    packs = Counter(
        event.learner_id
        for event in events
        if event.kind == "purchase" and event.plan == "pack10" and event.status == "applied"
    )
    for learner_id, bought in packs.items():
        credited = records.get(learner_id, 0) + pack_used[learner_id]
        if credited != bought * PACK_LESSONS:
            problems.append(
                f"learner {learner_id}: {bought} pack(s) applied but {credited} lessons credited"
            )
        if telegram is not None and (key := keys.get(learner_id, "")).startswith("telegram:"):
            thanked = [t for t in telegram.sent_texts(key.split(":", 1)[1]) if t.startswith(THANKS)]
            if len(thanked) != bought:
                problems.append(f"{key}: {bought} pack(s) bought, thanked {len(thanked)} times")
    assert not problems, "exactly-once broken:\n" + "\n".join(problems[:40])
    return verdict


def _compare_sends(
    replies: Sequence[Any],
    telegram: FakeTelegram | None,
    whatsapp: FakeWhatsApp | None,
    problems: list[str],
) -> int:
    """Per chat: what the fake received against the sent replies; returns the resends."""
    stored: dict[tuple[str, str], list[str]] = {}
    for reply in replies:
        if reply.status == "sent":
            text = Reply.from_dict(reply.reply).numbered_text()
            if text:
                stored.setdefault((reply.channel, reply.chat_id), []).append(text)
    received: dict[tuple[str, str], list[str]] = {}
    if telegram is not None:
        for message in telegram.sent:
            if message.method == "sendMessage" and message.text is not None:
                received.setdefault(("telegram", message.chat_id), []).append(message.text)
    if whatsapp is not None:
        for sent in whatsapp.sent:
            if sent.text is not None:
                received.setdefault(("whatsapp", sent.to), []).append(sent.text)
    watched = {"telegram"} if telegram is not None else set()
    watched |= {"whatsapp"} if whatsapp is not None else set()
    resends = 0
    for chat in sorted(set(stored) | set(received)):
        if chat[0] not in watched:
            continue  # the web chat, or a channel whose fake this test did not pass
        extra, mismatch = _align(received.get(chat, []), stored.get(chat, []))
        resends += extra
        if mismatch:
            problems.append(
                f"{chat}: received {received.get(chat, [])} but sent {stored.get(chat, [])}"
            )
    return resends


def _align(received: list[str], stored: list[str]) -> tuple[int, bool]:
    """(resends, mismatch): ``received`` must be ``stored`` in order, where a message may
    be repeated right after itself (a send the platform took before the worker died)."""
    resends = 0
    j = 0
    for i, text in enumerate(received):
        if j < len(stored) and text == stored[j]:
            j += 1
        elif i > 0 and text == received[i - 1]:
            resends += 1
        else:
            return resends, True
    return resends, j != len(stored)


def assert_recovered(
    url: str,
    processes: Iterable[subprocess.Popen[bytes]],
    *,
    redis: bool = True,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """``/readyz`` answers ready (Redis "ok" too when it is configured) and every process
    that was running is still running: nobody restarted anything by hand."""
    deadline = time.monotonic() + timeout
    ready: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            ready = {}
        checks = ready.get("checks", {})
        if ready.get("ready") and (not redis or checks.get("redis") == "ok"):
            break
        time.sleep(0.3)
    else:
        raise AssertionError(f"not ready again: {ready}")
    dead = [process.args for process in processes if process.poll() is not None]
    assert not dead, f"processes exited: {dead}"
    return ready
