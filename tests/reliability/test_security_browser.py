"""Stored XSS in a real browser: hostile text entered through the staff forms and the
Telegram webhook of a real ``tutor serve``, then every staff page that shows it opened in
Debian's chromium with the Content-Security-Policy bypassed, so only escaping stands
between the text and a running script.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import channel_env
from tests.fakes.telegram import FakeTelegram
from tests.support.serve import CHROMIUM, Server, chromium
from tests.support.staff import PASSWORD
from tutor.db import make_engine
from tutor.models import learners

pytestmark = [pytest.mark.reliability, pytest.mark.browser, pytest.mark.slow]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402 - once chromium is there

from tests.test_staff_browser import learner_says  # noqa: E402

TIMEOUT_MS = 20_000
ADMIN = "admin@school.test"
TEACHER = "ana@school.test"
#: Each sets a flag or opens a dialog if it ever runs.
ATTACKS = (
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=2">',
    '<svg onload="window.__xss=3"></svg>',
    '\'><iframe srcdoc="<script>parent.__xss=4</script>">',
    "javascript:alert(5)",
)
HOSTILE = " ".join(ATTACKS)[:118]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, FakeTelegram]]:
    with FakeTelegram() as telegram:
        server = Server(tmp_path_factory.mktemp("xss"), channel_env(telegram, None))
        try:
            server.wait_healthy(timeout=120)  # starting takes 10-30 s on two busy cores
            for email, role, name in ((ADMIN, "admin", ATTACKS[1]), (TEACHER, "teacher", HOSTILE)):
                server.add_staff(email, role, name, PASSWORD)
            yield server, telegram
        finally:
            server.stop()


def _page(browser: Browser, server: Server, email: str, fired: list[str]) -> Page:
    # bypass_csp: the staff pages' CSP alone would stop inline script; escaping must too.
    context = browser.new_context(locale="en-GB", bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.url}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    return page


def _flag(page: Page) -> Any:
    return page.evaluate("() => window.__xss === undefined ? null : window.__xss")


def test_hostile_text_never_runs_as_script_in_the_staff_pages(
    served: tuple[Server, FakeTelegram],
) -> None:
    """Injects: <script>, <img onerror>, <svg onload>, <iframe srcdoc> and javascript:
    text as staff names (CLI), a class name and a grant reason (typed into the real forms),
    and a learner's messages (Telegram webhook), into a real tutor serve.
    Checks: in chromium with CSP bypassed, no dialog opens and window.__xss stays unset on
    the dashboard, classes, class view, learner page, subscriptions, the learner's
    subscription page and the audit log; the text shows as typed."""
    server, telegram = served
    fired: list[str] = []
    with chromium(TIMEOUT_MS) as browser:
        teacher = _page(browser, server, TEACHER, fired)
        teacher.goto(f"{server.url}/admin/classes/")
        teacher.get_by_label("Name").fill(HOSTILE)
        teacher.get_by_role("button", name="Create class").click()
        expect(teacher.get_by_role("heading", level=1)).to_have_text(HOSTILE.strip())
        class_url = teacher.url
        code = teacher.locator("strong.join-code").inner_text().strip()

        for answer in ("hi", "1", "1", "1", "skip", "skip", f"/join {code}", *ATTACKS):
            learner_says(server, telegram, 9301, answer)
        engine = make_engine(server.database_url)
        with engine.connect() as connection:
            learner_id = connection.execute(
                select(learners.c.id).where(learners.c.key == "telegram:9301")
            ).scalar_one()
        engine.dispose()

        admin = _page(browser, server, ADMIN, fired)
        admin.goto(f"{server.url}/admin/subscriptions/{learner_id}")
        admin.get_by_label("Reason").first.fill(HOSTILE[:150])
        admin.get_by_role("button", name="Grant").click()
        expect(admin.locator("main")).to_be_visible()

        pages = {
            admin: [
                "/admin/",
                "/admin/classes/",
                class_url.removeprefix(server.url),
                f"/admin/classes/learners/{learner_id}",
                "/admin/subscriptions",
                f"/admin/subscriptions/{learner_id}",
                "/admin/audit",
            ],
            teacher: ["/admin/", "/admin/classes/", class_url.removeprefix(server.url)],
        }
        for page, paths in pages.items():
            for path in paths:
                page.goto(f"{server.url}{path}")
                page.wait_for_load_state("load")
                assert _flag(page) is None, (path, _flag(page))
        admin.goto(f"{server.url}/admin/audit")
        expect(admin.locator("main")).to_contain_text("<script>window.__xss=1</script>")
        assert fired == []
