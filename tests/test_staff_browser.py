"""The staff web app in a real browser (Debian's chromium) against a real ``tutor serve``.

Learners reach the same server through the Telegram webhook, with a local fake of the
Bot API answering the tutor's sends. With ``TUTOR_SCREENSHOTS_DIR`` set, the tests also
save the pages the README shows (``make screenshots``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TELEGRAM_SECRET, channel_env
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.serve import CHROMIUM, Server, chromium
from tests.support.staff import PASSWORD

pytestmark = pytest.mark.browser

TIMEOUT_MS = 20_000
SHOTS = os.environ.get("TUTOR_SCREENSHOTS_DIR")

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import (  # noqa: E402 - only once chromium is known to be there
    Browser,
    Page,
    expect,
)

ADMIN = "admin@school.test"
TEACHER = "ana@school.test"


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram) -> Iterator[Server]:
    env = {**channel_env(telegram, None), "TUTOR_REVENUE_USD_RATES": "XTR:0.013,EUR:1.08"}
    running = Server(tmp_path_factory.mktemp("staff"), env)
    try:
        running.wait_healthy()
        for email, role, name in ((ADMIN, "admin", "Sam Admin"), (TEACHER, "teacher", "Ana")):
            running.add_staff(email, role, name, PASSWORD)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(TIMEOUT_MS) as launched:
        yield launched


def _signed_in(browser: Browser, server: Server, email: str, *, phone: bool = False) -> Page:
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(locale="en-GB", viewport=size)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server.url}/admin/")
    expect(page).to_have_url(f"{server.url}/admin/login?next=/admin/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    return page


def _shot(page: Page, name: str) -> None:
    """Save the page for the docs when asked to; check it rendered either way."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
    assert page.locator("main.page").is_visible()


def learner_says(server: Server, telegram: FakeTelegram, user_id: int, text: str) -> list[str]:
    """A learner's message through the real webhook; the texts the tutor sent back."""
    before = len(telegram.sent_texts(user_id))
    answer = httpx.post(
        f"{server.url}/webhooks/telegram",
        json=payloads.telegram_text(user_id, text),
        headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET},
        timeout=10,
    )
    assert answer.status_code == 200
    deadline = 200
    for _ in range(deadline):  # the worker answers within a few hundred ms
        sent = telegram.sent_texts(user_id)[before:]
        if sent:
            return sent
        time.sleep(0.1)
    raise AssertionError(f"no reply to {text!r}")


def test_sign_in_and_out_on_a_phone(browser: Browser, server: Server) -> None:
    page = _signed_in(browser, server, TEACHER, phone=True)
    nav = page.get_by_role("navigation", name="Sections")
    expect(nav.get_by_role("link", name="Subscriptions")).to_have_count(0)
    expect(nav).to_be_hidden()  # folded away on a narrow screen
    page.locator("label.menu-button").click()
    expect(nav.get_by_role("link", name="Classes")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{server.url}/admin/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.context.close()


def test_a_wrong_password_is_refused_politely(browser: Browser, server: Server) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/admin/login")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    context.close()


def test_the_admin_start_page(browser: Browser, server: Server) -> None:
    page = _signed_in(browser, server, ADMIN)
    expect(page.locator(".tile")).to_have_count(4)
    _shot(page, "dashboard")
    page.context.close()


def _onboard(server: Server, telegram: FakeTelegram, user_id: int) -> None:
    """First contact through the webhook: Spanish, explained in English, beginner."""
    for answer in ("hi", "1", "1", "1", "skip", "skip"):
        learner_says(server, telegram, user_id, answer)


def test_a_class_is_made_joined_from_telegram_and_seen(
    browser: Browser, server: Server, telegram: FakeTelegram
) -> None:
    page = _signed_in(browser, server, TEACHER)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Classes").click()
    page.get_by_label("Name").fill("Spanish A1 · Tuesday evening")
    page.get_by_label("Weekly goal (lessons)").fill("3")
    page.get_by_role("button", name="Create class").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Spanish A1 · Tuesday evening")
    code = page.locator("strong.join-code").inner_text().strip()
    assert len(code) == 6

    _onboard(server, telegram, 8101)
    joined = learner_says(server, telegram, 8101, f"/join {code}")
    assert any("Spanish A1 · Tuesday evening" in text for text in joined), joined
    learner_says(server, telegram, 8101, "yo soy cansado")

    page.reload()
    rows = page.locator("table").first.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Telegram")
    expect(rows.first).to_contain_text("A1")
    _shot(page, "class")
    rows.first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="What the tutor remembers")).to_be_visible()
    _shot(page, "learner")
    page.context.close()


def test_a_grant_in_the_browser_shows_in_the_learners_chat(
    browser: Browser, server: Server, telegram: FakeTelegram
) -> None:
    _onboard(server, telegram, 8202)
    assert learner_says(server, telegram, 8202, "subscription status")[0].startswith("Plan: Free")

    page = _signed_in(browser, server, ADMIN)
    page.get_by_role("navigation", name="Sections").get_by_role(
        "link", name="Subscriptions"
    ).click()
    page.get_by_label("Learner key or id").fill("telegram:8202")
    page.get_by_role("button", name="Show").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("free")
    _shot(page, "subscriptions")
    rows.first.get_by_role("link").first.click()
    grant = page.locator("form", has=page.get_by_role("button", name="Grant"))
    grant.get_by_label("Days of the monthly plan").fill("30")
    grant.get_by_label("Reason").fill("a thank-you for the class pilot")
    grant.get_by_role("button", name="Grant").click()
    expect(page.locator(".flash")).to_be_visible()

    status = learner_says(server, telegram, 8202, "subscription status")
    assert any(text.startswith("Plan: Monthly (a gift)") for text in status), status
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit log").click()
    expect(page.locator("table tbody tr").first).to_contain_text("a thank-you for the class pilot")
    _shot(page, "audit")
    page.context.close()


COURSE = """\
id: cafe-es
version: 1
title: Spanish at the café
target_language: es
explanation_languages: [en, es]
levels:
  - code: A1
    units:
      - id: cafe-01
        title: {en: "Ordering", es: "Pedir"}
        vocabulary:
          - lemma: café
            pos: drink
            gender: m
            translations: {en: "coffee", es: "café"}
            example: "Un café con leche, por favor."
            example_translation: {en: "A white coffee, please.", es: "Un café con leche."}
"""
BAD_LINE = 13  # "pos: drink" is not a part of speech


def test_a_curriculum_error_is_shown_at_its_line_then_fixed_and_published(
    browser: Browser, server: Server
) -> None:
    assert COURSE.splitlines()[BAD_LINE - 1].strip() == "pos: drink"
    page = _signed_in(browser, server, TEACHER)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Curricula").click()
    _shot(page, "curricula")
    page.get_by_label("or paste it").fill(COURSE)
    page.get_by_role("button", name="Save as draft").click()
    problem = page.locator("li.problem")
    expect(problem).to_have_count(1)
    expect(problem).to_have_attribute("data-line", str(BAD_LINE))
    expect(problem).to_contain_text("pos")
    expect(page.locator(f"#L{BAD_LINE}")).to_have_class(re.compile(r"\bline-error\b"))
    _shot(page, "curriculum-error")

    page.locator("textarea#source").fill(COURSE.replace("pos: drink", "pos: noun"))
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("cafe-es@1")
    expect(page.locator("li.problem")).to_have_count(0)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Curricula").click()
    row = page.locator("table tbody tr", has_text="cafe-es")
    expect(row).to_contain_text("published")
    row.get_by_role("link", name="preview").click()
    expect(page.locator(".bubble").first).to_be_visible()
    expect(page.get_by_text("el café", exact=False).first).to_be_visible()
    _shot(page, "curriculum-preview")
    page.context.close()


def _seed_a_season(server: Server, telegram: FakeTelegram) -> None:
    """Three months of payments and model spend through the real ledgers."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from payments import ledger, plans
    from payments.ledger import EventKind, PaymentEvent, Provider
    from tutor.db import make_engine
    from tutor.llm.ledger import Ledger, LedgerEntry
    from tutor.models import learners

    users = range(8301, 8307)
    for user in users:
        learner_says(server, telegram, user, "hi")
    engine = make_engine(server.database_url)
    catalog = plans.load()
    now = datetime.now(UTC)
    try:
        with engine.connect() as connection:
            ids = {
                user: connection.execute(
                    select(learners.c.id).where(learners.c.key == f"telegram:{user}")
                ).scalar_one()
                for user in users
            }
        for month in range(3):
            when = now - timedelta(days=30 * (2 - month) + 1)
            for index, user in enumerate(users):
                stars = index % 2 == 0
                event = PaymentEvent(
                    provider=Provider.TELEGRAM if stars else Provider.STRIPE,
                    event_id=f"season-{user}-{month}",
                    kind=EventKind.PURCHASE if month == 0 or not stars else EventKind.RENEWAL,
                    occurred_at=when,
                    learner_id=ids[user],
                    plan="monthly" if stars else "pack10",
                    amount=299 if stars else 199,
                    currency="XTR" if stars else "eur",
                    object_ref=f"charge-{user}-{month}",
                    subscription_ref=f"sub-{user}" if stars else None,
                    period_end=when + timedelta(days=30) if stars else None,
                )
                ledger.record(engine, event, catalog)
        spend = Ledger(engine)
        for day in range(30):
            for index, user in enumerate(users):
                for provider, tier, agent, cost in (
                    ("groq", "fast", "conversation", 0.004 + 0.001 * index),
                    ("anthropic", "strong", "grammar", 0.01 * (day % 3)),
                    ("elevenlabs", "voice", "pronunciation", 0.002 * (index % 3)),
                ):
                    if cost:
                        spend.record(
                            LedgerEntry(
                                request_id=f"season-{user}-{day}-{provider}",
                                agent=agent,
                                task="speak" if tier == "voice" else "chat",
                                tier=tier,
                                provider=provider,
                                model="m",
                                cost_usd=cost,
                                learner_key=f"telegram:{user}",
                                created_at=now - timedelta(days=day),
                            )
                        )
    finally:
        engine.dispose()


def test_revenue_costs_and_health_pages(
    browser: Browser, server: Server, telegram: FakeTelegram
) -> None:
    _seed_a_season(server, telegram)
    page = _signed_in(browser, server, ADMIN)
    nav = page.get_by_role("navigation", name="Sections")
    nav.get_by_role("link", name="Revenue & costs").click()
    expect(page.locator("figure.chart svg").first).to_be_visible()
    expect(page.get_by_role("table", name="Stars")).to_be_visible()
    _shot(page, "revenue")
    nav.get_by_role("link", name="Health").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Health")
    _shot(page, "health")
    page.context.close()

    phone = _signed_in(browser, server, ADMIN, phone=True)
    phone.goto(f"{server.url}/admin/revenue")
    expect(phone.locator("figure.chart svg").first).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
    _shot(phone, "revenue-phone")
    phone.context.close()
