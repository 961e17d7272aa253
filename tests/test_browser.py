"""The chat page in a real browser against a real ``tutor serve`` (Debian's chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support.serve import CHROMIUM, Server, chromium
from tutor import leases
from tutor.db import make_engine
from tutor.models import inbox

pytestmark = pytest.mark.browser

TIMEOUT_MS = 15_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import (  # noqa: E402 - only once chromium is known to be there
    Browser,
    Locator,
    Page,
    expect,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("serve"))
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(TIMEOUT_MS) as launched:
        yield launched


def _open_chat(browser: Browser, server: Server) -> Page:
    context = browser.new_context(locale="en-US", viewport={"width": 420, "height": 780})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server.url}/")
    expect(page.locator("#text")).to_be_visible()
    return page


def _tutor_bubbles(page: Page) -> Locator:
    return page.locator("#messages li.bubble.tutor")


def _say(page: Page, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def _expect_reply(page: Page, count: int, text: str) -> Locator:
    """Wait for the tutor's ``count``-th bubble and check it contains ``text``."""
    bubbles = _tutor_bubbles(page)
    expect(bubbles).to_have_count(count)
    latest = bubbles.nth(count - 1)
    expect(latest).to_contain_text(text)
    return latest


def test_onboarding_in_the_browser(browser: Browser, server: Server, tmp_path: Path) -> None:
    page = _open_chat(browser, server)
    expect(_tutor_bubbles(page)).to_have_count(0)

    _say(page, "hi")
    welcome = _expect_reply(page, 1, "Hi! I'm your Spanish and English tutor")
    expect(welcome.locator("button")).to_have_text(["1. Español", "2. English"])
    expect(page.locator("#messages li.bubble.learner")).to_have_text(["hi"])

    welcome.get_by_role("button", name="2. English").click()
    explain = _expect_reply(page, 2, "Great! And which language should I explain things in?")
    expect(explain.locator("button")).to_have_text(["1. English", "2. Español"])
    expect(page.locator("#messages li.bubble.learner").last).to_have_text("2")

    _say(page, "1")
    _expect_reply(page, 3, "How much English do you know?")
    _say(page, "1")
    _expect_reply(page, 4, "Where are you?")
    _say(page, "Madrid")
    _expect_reply(page, 5, "Got it: Europe/Madrid.")
    _say(page, "8am")
    done = _expect_reply(page, 6, "Done: I'll nudge you at 08:00")
    expect(done).to_contain_text("What would you like to do?")
    expect(done.locator("button")).to_have_text(
        [
            "1. Conversation",
            "2. Grammar",
            "3. Pronunciation",
            "4. Vocabulary",
            "5. Progress",
            "6. Subscription",
        ]
    )
    before = _tutor_bubbles(page).all_inner_texts()

    page.reload()  # history comes back from /chat/api/messages?after=0
    expect(_tutor_bubbles(page)).to_have_count(6)
    assert _tutor_bubbles(page).all_inner_texts() == before
    expect(page.locator("#messages li.bubble.learner")).to_have_count(0)

    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    page.context.close()


def test_another_learner_sees_only_their_own_chat(browser: Browser, server: Server) -> None:
    first = _open_chat(browser, server)
    _say(first, "hi")
    welcome = _expect_reply(first, 1, "Which language do you want to practise?")
    welcome.get_by_role("button", name="1. Español").click()
    _expect_reply(first, 2, "Great! And which language should I explain things in?")

    second = _open_chat(browser, server)  # a new context: another cookie, another learner
    expect(_tutor_bubbles(second)).to_have_count(0)
    history = second.request.get(f"{server.url}/chat/api/messages?after=0")
    assert history.ok and history.json() == {"messages": []}

    _say(second, "hi")
    _expect_reply(second, 1, "Which language do you want to practise?")
    second.wait_for_timeout(1200)  # let both pages finish collecting stragglers
    expect(_tutor_bubbles(second)).to_have_count(1)
    expect(_tutor_bubbles(first)).to_have_count(2)

    first.reload()
    expect(_tutor_bubbles(first)).to_have_count(2)
    own = first.request.get(f"{server.url}/chat/api/messages?after=0").json()["messages"]
    theirs = second.request.get(f"{server.url}/chat/api/messages?after=0").json()["messages"]
    assert len(own) == 2 and len(theirs) == 1
    assert not {message["id"] for message in own} & {message["id"] for message in theirs}
    first.context.close()
    second.context.close()


def test_a_quick_answer_to_a_slow_tutor_still_gets_its_reply(
    browser: Browser, server: Server
) -> None:
    """The learner answers while the page still collects stragglers; the reply is slow."""
    page = _open_chat(browser, server)
    _say(page, "hi")
    _expect_reply(page, 1, "Which language do you want to practise?")

    engine = make_engine(server.database_url)
    try:
        with engine.connect() as connection:
            learner_key = connection.execute(
                select(inbox.c.learner_key).order_by(inbox.c.id.desc()).limit(1)
            ).scalar_one()
        # Another worker is mid-turn for this learner: the next reply waits for its lease.
        assert leases.acquire(engine, learner_key, "another-worker", ttl=2.0)
    finally:
        engine.dispose()
    _say(page, "1")  # well within the ~1 s the page keeps polling after a reply

    _expect_reply(page, 2, "Great! And which language should I explain things in?")
    page.wait_for_timeout(1200)
    expect(_tutor_bubbles(page)).to_have_count(2)  # and nothing shown twice
    page.context.close()
