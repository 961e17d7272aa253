"""Every outside provider failing at once for a while: Telegram, WhatsApp, Groq, Anthropic.

During the window each fake answers 429 (with retry-after), 5xx, or hangs past the
client's timeout, in turn. Replies wait and are retried; model calls fall back (the
offline brain answers last) and the breakers open. Afterwards every accepted message
has been answered once, and the breakers have closed again.
"""

from __future__ import annotations

import functools
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import channel_env
from tests.fakes.anthropic import DEFAULT_API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.groq import DEFAULT_API_KEY as GROQ_KEY
from tests.fakes.groq import FakeGroq
from tests.fakes.server import FakeResponse
from tests.fakes.whatsapp import graph_error
from tests.support import payloads
from tests.support.faults import (
    Flaky,
    FlakyTelegram,
    FlakyWhatsApp,
    Platform,
    assert_recovered,
    check_exactly_once,
    fault_env,
    run_all,
    settle,
    telegram_faults,
)
from tests.support.stack import BIN, ROOT, Stack
from tests.test_tutoring_models import tutor_model

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ONBOARDING = ("hi", "1", "1", "1", "skip", "skip")
MODEL_TEXTS = (
    "hmm maybe something with the kitchen stuff",
    "check this: yo voy con la coche roja",
    "Ayer yo voy al cine con la coche.",
    "help",
)
HANG = 3.0  # seconds: longer than every client timeout below


class FlakyGroq(Flaky, FakeGroq):
    """FakeGroq with a window of failures."""


class FlakyAnthropic(Flaky, FakeAnthropic):
    """FakeAnthropic with a window of failures."""


def _model_faults(fake: FakeGroq | FakeAnthropic) -> list[FakeResponse]:
    def error(status: int, kind: str | None = None) -> dict[str, object]:
        return fake.error_body(status, "", kind)

    faults = [
        FakeResponse(429, error(429, "rate_limit_error"), {"retry-after": "1"}),
        FakeResponse(500, error(500)),
        FakeResponse(503, error(503)),
        FakeResponse(500, error(500), delay=HANG),
    ]
    if isinstance(fake, FakeAnthropic):
        faults.append(FakeResponse(529, error(529, "overloaded_error")))
    return faults


def _whatsapp_faults() -> list[FakeResponse]:
    return [
        graph_error(429, 130429, "Rate limit hit"),
        graph_error(500, 1, "An unknown error occurred"),
        graph_error(503, 2, "Service temporarily unavailable"),
        FakeResponse(503, {"error": {"code": 2, "message": "slow"}}, delay=HANG),
    ]


def _breakers(stack: Stack) -> list[str]:
    status = subprocess.run(
        [str(BIN / "tutor"), "llm", "status"],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in status.stdout.splitlines() if "breaker" in line]


def _wait_breakers_closed(stack: Stack, platform: Platform, users: list[int]) -> list[str]:
    """Model traffic after the window lets a probe through; both breakers must close."""
    deadline = time.monotonic() + 60
    while True:
        lines = _breakers(stack)
        if len(lines) == 2 and all("breaker closed" in line for line in lines):
            return lines
        assert time.monotonic() < deadline, f"breakers still not closed: {lines}"
        for user in users:
            platform.telegram(payloads.telegram_text(user, MODEL_TEXTS[1]))
            platform.telegram(payloads.telegram_text(user, MODEL_TEXTS[0]))
        time.sleep(2)


def _run(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    window: float,
    retry_after: int,
    retries: tuple[int, int] | None = None,
) -> None:
    """``retries``: (attempts, backoff cap) in place of the defaults, which outlast a minute
    of failures (a failing reply is retried, backoff doubling to 30 s, until it is 10 minutes
    old) but would leave a
    short run waiting out long backoffs after its window; ``retry_after``: what Telegram's
    429s ask for."""
    sending = (
        {
            "TUTOR_SEND_MAX_ATTEMPTS": str(retries[0]),
            "TUTOR_SEND_MAX_BACKOFF_SECONDS": str(retries[1]),
        }
        if retries
        else {}
    )
    with (
        FlakyTelegram() as telegram,
        FlakyWhatsApp() as whatsapp,
        FlakyGroq(tutor_model) as groq,
        FlakyAnthropic(tutor_model) as anthropic,
    ):
        env = {
            **channel_env(telegram, whatsapp),
            **fault_env(pg_url, redis_url),
            "TUTOR_GROQ_API_KEY": GROQ_KEY,
            "TUTOR_GROQ_BASE_URL": groq.url,
            "TUTOR_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "TUTOR_ANTHROPIC_BASE_URL": anthropic.url,
            "TUTOR_LLM_FAST_TIMEOUT_SECONDS": "1",
            "TUTOR_LLM_STRONG_TIMEOUT_SECONDS": "1.5",
            "TUTOR_LLM_BREAKER_COOLDOWN_SECONDS": "2",
            **sending,
        }
        users = [9501, 9502]
        wa_user = "34600009503"
        with Stack(env, tmp_path) as stack:
            stack.start_web()
            stack.start_worker()
            stack.start_worker()
            platform = Platform(stack.url)
            run_all(functools.partial(_send_all, platform, user, ONBOARDING, 0.0) for user in users)
            settle(pg_url)

            for fake, faults in (
                (telegram, telegram_faults(HANG, retry_after)),
                (whatsapp, _whatsapp_faults()),
                (groq, _model_faults(groq)),
                (anthropic, _model_faults(anthropic)),
            ):
                fake.fail_for(window, faults)
            ends = time.monotonic() + window
            pause = max(0.3, window / 12)
            run_all(
                [
                    *(
                        functools.partial(_send_all, platform, user, MODEL_TEXTS * 2, pause)
                        for user in users
                    ),
                    functools.partial(_whatsapp_all, platform, wa_user, ("hi", "help", "menu")),
                ]
            )
            time.sleep(max(0.0, ends - time.monotonic()))
            lines = _wait_breakers_closed(stack, platform, users)
            settle(pg_url, timeout=window + 90)
            verdict = check_exactly_once(
                pg_url, telegram, whatsapp, expected_messages=len(platform.accepted)
            )
            assert_recovered(stack.url, [*stack.workers, *([stack.web] if stack.web else [])])
        failed = {
            type(fake).__name__: fake.failed_requests
            for fake in (telegram, whatsapp, groq, anthropic)
        }
    assert all(failed.values()), f"a fake never failed a request: {failed}"
    print(f"failed requests {failed}; {verdict}; {lines}")


def _send_all(platform: Platform, user: int, texts: tuple[str, ...], pause: float) -> None:
    for text in texts:
        platform.telegram(payloads.telegram_text(user, text))
        time.sleep(pause)


def _whatsapp_all(platform: Platform, wa_id: str, texts: tuple[str, ...]) -> None:
    for text in texts:
        platform.whatsapp(payloads.whatsapp_text(wa_id, text))
        time.sleep(0.5)


def test_providers_failing_for_seconds_still_answer_everything_once(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    """Injects: for 6 s Telegram, WhatsApp, Groq and Anthropic answer 429 with retry-after,
        5xx or hang past the timeout, in turn, while 2 learners chat with models and one on
        WhatsApp.
    Checks: every accepted message answered exactly once (model calls fall back); the
        breakers close again; /readyz ready with the same processes."""
    _run(tmp_path, pg_url, redis_url, window=6, retry_after=1, retries=(18, 3))


@pytest.mark.long
@pytest.mark.timeout(600)
def test_providers_failing_for_a_minute_still_answer_everything_once(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    """Injects: for 60 s every provider (Telegram, WhatsApp, Groq, Anthropic) answers 429,
        5xx or hangs, in turn, while learners keep writing.
    Checks: every accepted message answered exactly once; the breakers close again; /readyz
        ready with the same processes."""
    _run(tmp_path, pg_url, redis_url, window=60, retry_after=5)  # the default retries
