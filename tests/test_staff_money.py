"""The admin's money pages: subscriptions with filters, search and CSV, a learner's account
actions (grant, revoke, Stars refund, export, delete), revenue, costs and margins. Real app,
worker and database; Telegram is the fake."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from payments import ledger, reports
from payments.ledger import EventKind, PaymentEvent, Provider
from tests.fakes.telegram import FakeTelegram
from tests.support import payloads
from tests.support.harness import Harness
from tests.support.staff import csrf_token, make_user, sign_in
from tests.support.stores import stored_values
from tutor.llm.ledger import Ledger, LedgerEntry
from tutor.models import audit_log, entitlements, learners
from tutor.web.staff_money import csv_cell

OCTOBER = datetime(2026, 10, 10, 12, tzinfo=UTC)
SEPTEMBER = datetime(2026, 9, 15, 12, tzinfo=UTC)


def _staff(harness: Harness, role: str) -> FlaskClient:
    client = harness.app.test_client()
    make_user(harness.services.engine, role, f"{role}@school.test")
    assert sign_in(client, f"{role}@school.test") == 302
    return client


def _id(harness: Harness, key: str) -> int:
    with harness.services.engine.connect() as connection:
        found = connection.execute(select(learners.c.id).where(learners.c.key == key)).scalar()
    assert found is not None
    return int(found)


def _pay(harness: Harness, event: PaymentEvent) -> None:
    applied = ledger.record(harness.services.engine, event, harness.services.catalog)
    assert applied.status is ledger.Status.APPLIED, applied.detail


def _stars(learner_id: int, charge: str, when: datetime, kind: EventKind) -> PaymentEvent:
    return PaymentEvent(
        provider=Provider.TELEGRAM,
        event_id=f"{kind.value}:{charge}",
        kind=kind,
        occurred_at=when,
        learner_id=learner_id,
        plan="monthly",
        amount=299,
        currency="XTR",
        object_ref=charge,
        subscription_ref="stxFIRST",
        period_end=when + timedelta(days=30),
    )


def _stripe(learner_id: int, ref: str, when: datetime, kind: EventKind) -> PaymentEvent:
    return PaymentEvent(
        provider=Provider.STRIPE,
        event_id=f"evt_{kind.value}_{ref}",
        kind=kind,
        occurred_at=when,
        learner_id=learner_id,
        plan="pack10",
        amount=199,
        currency="eur",
        object_ref=ref,
    )


def _audits(harness: Harness, action: str) -> list[tuple[str, dict[str, object]]]:
    with harness.services.engine.connect() as connection:
        rows = connection.execute(
            select(audit_log.c.target, audit_log.c.detail).where(audit_log.c.action == action)
        ).all()
    return [(row.target, dict(row.detail)) for row in rows]


# Access ---------------------------------------------------------------------------------


def test_a_teacher_is_refused_every_money_and_health_page(harness: Harness) -> None:
    teacher = _staff(harness, "teacher")
    token = csrf_token(teacher, "/admin/")
    checked = 0
    for rule in harness.app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in ("staff_money", "staff_health"):
            continue
        path = rule.rule.replace("<int:learner_id>", "1").replace("<int:letter_id>", "1")
        for method in rule.methods or ():
            if method == "GET":
                assert teacher.get(path).status_code == 403, path
            elif method == "POST":
                answer = teacher.post(path, data={"csrf_token": token, "confirm": "1"})
                assert answer.status_code == 403, path
            else:
                continue
            checked += 1
    assert checked >= 12
    anonymous = harness.app.test_client()
    assert anonymous.get("/admin/revenue").status_code == 302  # to the sign-in page


# Subscriptions --------------------------------------------------------------------------


def _four_learners(harness: Harness) -> dict[str, int]:
    """A Stars subscriber, a Stripe pack buyer, a gifted learner and a free one."""
    ids = {}
    for name, user in (("stars", 7101), ("pack", 7102), ("gift", 7103), ("free", 7104)):
        harness.telegram_says(user, "hi")
        ids[name] = _id(harness, f"telegram:{user}")
    now = datetime.now(UTC)
    _pay(harness, _stars(ids["stars"], "stxFIRST", now, EventKind.PURCHASE))
    _pay(harness, _stripe(ids["pack"], "pi_1", now, EventKind.PURCHASE))
    from payments import admin

    admin.grant(
        harness.services.engine,
        harness.services.catalog,
        "telegram:7103",
        days=10,
        reason="pilot school",
    )
    return ids


def test_admins_see_every_learner_with_filters_and_search(stores: Harness) -> None:
    ids = _four_learners(stores)
    client = _staff(stores, "admin")
    page = client.get("/admin/subscriptions").get_data(as_text=True)
    assert "4 learners" in page
    for user in (7101, 7102, 7103, 7104):
        assert f"telegram:{user}" in page

    def shown(query: str) -> set[int]:
        text = client.get(f"/admin/subscriptions?{query}").get_data(as_text=True)
        return {user for user in (7101, 7102, 7103, 7104) if f"telegram:{user}<" in text}

    assert shown("status=active") == {7101, 7103}
    assert shown("status=pack") == {7102}
    assert shown("status=free") == {7104}
    assert shown("rail=stars") == {7101}
    assert shown("rail=grant") == {7103}
    assert shown("plan=monthly") == {7101, 7103}
    assert shown("plan=free&status=pack") == {7102}
    assert shown("q=7104") == {7104}
    assert shown(f"q={ids['pack']}") == {7102}
    assert shown("q=telegram:710") == {7101, 7102, 7103, 7104}
    assert shown("q=%25") == set()  # a LIKE wildcard is searched for, not expanded


def test_the_list_pages_by_a_hundred(harness: Harness) -> None:
    for user in range(8000, 8103):
        harness.telegram_says(user, "hi")
    client = _staff(harness, "admin")
    first = client.get("/admin/subscriptions").get_data(as_text=True)
    assert "103 learners · page 1 of 2" in first and "telegram:8099<" in first
    assert "telegram:8100<" not in first
    second = client.get("/admin/subscriptions?page=2").get_data(as_text=True)
    assert "telegram:8100<" in second and "telegram:8102<" in second
    assert "telegram:8000<" not in second


def test_the_csv_export_has_the_same_filters_and_no_formulas(harness: Harness) -> None:
    ids = _four_learners(harness)
    client = _staff(harness, "admin")
    answer = client.get("/admin/subscriptions.csv?status=active")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="subscriptions-') and ".csv" in disposition
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [row["learner_key"] for row in rows] == ["telegram:7101", "telegram:7103"]
    stars = rows[0]
    assert stars["learner_id"] == str(ids["stars"]) and stars["plan"] == "monthly"
    assert stars["rail"] == "stars" and stars["status"] == "active" and stars["renews"]
    everyone = client.get("/admin/subscriptions.csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(everyone)))) == 4
    assert csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert [csv_cell(v) for v in ("+1", "-2", "@SUM(A1)", "\tx", "ok", None, 5)] == [
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        "",
        "5",
    ]


# Account actions ------------------------------------------------------------------------


def _form(client: FlaskClient, learner_id: int, action: str, **data: str) -> str:
    page = f"/admin/subscriptions/{learner_id}"
    token = csrf_token(client, page)
    answer = client.post(f"{page}/{action}", data={**data, "csrf_token": token})
    assert answer.status_code == 302
    return client.get(page).get_data(as_text=True)


def test_a_grant_from_the_web_is_audited_and_shows_in_the_chat(stores: Harness) -> None:
    stores.onboard(7201)
    learner_id = _id(stores, "telegram:7201")
    client = _staff(stores, "admin")
    page = client.get(f"/admin/subscriptions/{learner_id}").get_data(as_text=True)
    assert "telegram:7201" in page and f"/admin/classes/learners/{learner_id}" in page

    refused = _form(client, learner_id, "grant", days="30", lessons="0", reason=" ")
    assert "Not granted: say why: a reason is required." in refused
    assert _audits(stores, "grant") == []

    page = _form(client, learner_id, "grant", days="30", lessons="5", reason="school prize")
    assert "Applied: granted +5 lessons, monthly until" in page
    with stores.services.engine.connect() as connection:
        record = connection.execute(
            select(entitlements).where(entitlements.c.learner_id == learner_id)
        ).one()
    assert record.plan == "monthly" and record.rail == "grant" and record.lessons_remaining == 5
    ((target, detail),) = _audits(stores, "grant")
    assert target == f"learner:{learner_id}"
    assert detail["days"] == 30 and detail["reason"] == "school prize"
    assert detail["status"] == "applied"
    stores.worker.sweep()
    assert stores.telegram is not None
    assert stores.telegram.sent_texts(7201)[-1].startswith("Good news: you've been given Monthly")
    status = stores.telegram_says(7201, "subscription status")[0]
    assert status.startswith("Plan: Monthly (a gift) · until ")

    page = _form(client, learner_id, "revoke", lessons="0", reason="prize withdrawn")
    assert "Applied: revoked: prize withdrawn" in page
    ((target, detail),) = _audits(stores, "revoke")
    assert target == f"learner:{learner_id}" and detail["reason"] == "prize withdrawn"
    status = stores.telegram_says(7201, "subscription status")[0]
    assert status.startswith("Plan: Free")


def _buy_pack(harness: Harness, user_id: int, charge: str) -> None:
    harness.telegram_says(user_id, "upgrade")
    harness.telegram_says(user_id, "2")
    assert harness.telegram is not None
    invoice = [m.payload for m in harness.telegram.sent if m.method == "sendInvoice"][-1]
    body = payloads.telegram_stars_payment(user_id, invoice["payload"], 49, charge)
    assert harness.post_telegram(body) == 200
    harness.worker.sweep()


def test_a_stars_refund_reaches_telegram_and_is_audited(
    harness: Harness, fake_telegram: FakeTelegram
) -> None:
    harness.onboard(7301)
    _buy_pack(harness, 7301, "stxWEB1")
    learner_id = _id(harness, "telegram:7301")
    client = _staff(harness, "admin")
    page = client.get(f"/admin/subscriptions/{learner_id}").get_data(as_text=True)
    assert 'value="stxWEB1"' in page and "49 Stars" in page

    page = _form(client, learner_id, "refund", charge="stxWEB1", reason="asked kindly")
    assert "Applied: -10 lessons (0 left)" in page
    (refund,) = fake_telegram.star_refunds
    assert refund["user_id"] == 7301 and refund["telegram_payment_charge_id"] == "stxWEB1"
    ((target, detail),) = _audits(harness, "refund stars")
    assert target == f"learner:{learner_id}" and detail["charge"] == "stxWEB1"
    assert 'value="stxWEB1"' not in page  # refunded: no longer offered

    again = _form(client, learner_id, "refund", charge="stxWEB1", reason="twice")
    assert "Not refunded" in again and len(fake_telegram.star_refunds) == 1


def test_the_export_downloads_the_learners_data(harness: Harness) -> None:
    harness.onboard(7401)
    learner_id = _id(harness, "telegram:7401")
    client = _staff(harness, "admin")
    token = csrf_token(client, f"/admin/subscriptions/{learner_id}")
    answer = client.post(f"/admin/subscriptions/{learner_id}/export", data={"csrf_token": token})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.headers["Content-Disposition"] == (
        f'attachment; filename="learner-{learner_id}-{datetime.now(UTC):%Y-%m-%d}.json"'
    )
    document = json.loads(answer.get_data())
    assert document["learner"]["key"] == "telegram:7401" and document["turns"]
    assert _audits(harness, "learner export") == [(f"learner:{learner_id}", {})]


def test_delete_needs_the_id_typed_and_leaves_nothing(stores: Harness) -> None:
    user, texts = 987650001, ("Mi gato Zanahorio duerme en la cocina.",)
    stores.onboard(user)
    for text in texts:
        stores.telegram_says(user, text)
    stores.onboard(987650002)
    key = f"telegram:{user}"
    learner_id = _id(stores, key)
    needles = (key, str(user), *texts)

    def traces() -> list[tuple[str, str]]:
        return [
            (place, needle)
            for place, value in stored_values(stores)
            for needle in needles
            if needle.encode() in value
        ]

    assert traces()
    client = _staff(stores, "admin")
    path = f"/admin/subscriptions/{learner_id}/delete"
    assert f"Type {learner_id} to confirm" in client.get(path).get_data(as_text=True)
    token = csrf_token(client, path)
    wrong = client.post(path, data={"csrf_token": token, "confirm": "yes"})
    assert wrong.status_code == 302 and wrong.headers["Location"].endswith(path)
    assert traces() and _audits(stores, "learner delete") == []

    done = client.post(path, data={"csrf_token": token, "confirm": str(learner_id)})
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/subscriptions")
    assert traces() == []
    ((target, detail),) = _audits(stores, "learner delete")
    assert target == f"learner:{learner_id}" and int(str(detail["rows_removed"])) > 0
    assert client.get(f"/admin/subscriptions/{learner_id}").status_code == 404
    assert _id(stores, "telegram:987650002")  # the other learner is untouched


# Revenue, costs and margins -------------------------------------------------------------


def _seed_money(harness: Harness) -> dict[str, int]:
    for user in (7501, 7502, 7503):
        harness.telegram_says(user, "hi")
    ids = {user: _id(harness, f"telegram:{user}") for user in (7501, 7502, 7503)}
    _pay(harness, _stars(ids[7501], "stxFIRST", SEPTEMBER, EventKind.PURCHASE))
    _pay(harness, _stars(ids[7501], "stxSECOND", OCTOBER, EventKind.RENEWAL))
    _pay(harness, _stripe(ids[7502], "pi_sep", SEPTEMBER, EventKind.PURCHASE))
    _pay(harness, _stripe(ids[7502], "pi_oct", OCTOBER, EventKind.PURCHASE))
    _pay(harness, _stripe(ids[7502], "pi_oct", OCTOBER + timedelta(days=2), EventKind.REFUND))
    ledger_ = Ledger(harness.services.engine)
    calls = (
        ("groq", "fast", "tutor", "telegram:7501", 0.30),
        ("anthropic", "strong", "tutor", "telegram:7501", 1.20),
        ("anthropic", "strong", "memory", None, 0.40),
        ("elevenlabs", "voice", "spoken", "telegram:7503", 0.05),
        ("groq", "voice", "tutor", "telegram:7502", 0.02),
    )
    for number, (provider, tier, agent, learner_key, cost) in enumerate(calls):
        assert ledger_.record(
            LedgerEntry(
                request_id=f"req-{number}",
                agent=agent,
                task="speak" if tier == "voice" else "chat",
                tier=tier,
                provider=provider,
                model="m",
                cost_usd=cost,
                learner_key=learner_key,
                created_at=OCTOBER,
            )
        )
    return ids


def test_revenue_is_totalled_per_rail_month_and_currency(stores: Harness) -> None:
    _seed_money(stores)
    income = reports.revenue(stores.services.engine, ["2026-09", "2026-10"])
    stars_sep = income.by_rail[("2026-09", "stars", "XTR")]
    stars_oct = income.by_rail[("2026-10", "stars", "XTR")]
    euros_sep = income.by_rail[("2026-09", "stripe", "EUR")]
    euros_oct = income.by_rail[("2026-10", "stripe", "EUR")]
    assert (stars_sep.net, stars_oct.net, stars_oct.payments) == (299, 299, 1)
    assert (euros_sep.net, euros_oct.paid, euros_oct.refunded, euros_oct.net) == (199, 199, 199, 0)
    assert income.currencies() == ["EUR", "XTR"]

    client = _staff(stores, "admin")
    page = client.get("/admin/revenue?month=2026-10").get_data(as_text=True)
    assert "Stars by month (net of refunds)" in page and "EUR by month" in page
    assert "<svg" in page and "<script" not in page
    assert "<td>2026-10</td><td>stripe</td>" in page
    assert "<strong>0.00</strong> EUR" in page and "<strong>1.99</strong> EUR" in page
    assert "<strong>299</strong> Stars" in page
    assert "No conversion rate is set" in page


def test_costs_and_margins_come_from_the_model_ledger(stores: Harness) -> None:
    ids = _seed_money(stores)
    start, end = reports.month_bounds("2026-10")
    costs = reports.costs(stores.services.engine, start, end)
    assert round(costs.total, 6) == 1.97
    by_provider = {line.key: line.cost_usd for line in costs.by_provider}
    assert by_provider == {"anthropic": 1.6, "groq": 0.32, "elevenlabs": 0.05}
    assert {line.key: line.cost_usd for line in costs.by_kind} == {"model": 1.9, "voice": 0.07}
    assert {line.key: line.calls for line in costs.by_agent} == {
        "tutor": 3,
        "memory": 1,
        "spoken": 1,
    }
    top, learner_id = costs.top_learners[0]
    assert top.key == "telegram:7501" and top.cost_usd == 1.5 and learner_id == ids[7501]

    income = reports.revenue(stores.services.engine, ["2026-10"])
    rates = reports.parse_rates("XTR:0.013, bad, EUR:x")
    assert rates == {"XTR": 0.013, "USD": 1.0}
    margins = {m.plan: m for m in reports.margins(stores.services.engine, "2026-10", income, rates)}
    monthly = margins["monthly"]
    assert monthly.learners == 1 and monthly.revenue == {"XTR": 299}
    assert monthly.cost_usd == 1.5 and round(monthly.margin_usd, 3) == round(299 * 0.013 - 1.5, 3)
    pack = margins["pack10"]
    assert pack.revenue == {"EUR": 0} and pack.unconverted == ("EUR",) and pack.cost_usd == 0.02
    free = margins["free"]
    assert free.learners == 1 and round(free.cost_usd, 6) == 0.45  # 7503's voice + system work

    client = _staff(stores, "admin")
    page = client.get("/admin/revenue?month=2026-10").get_data(as_text=True)
    assert "Cost in 2026-10: $1.97" in page
    assert "Margin per plan, 2026-10" in page and "(not converted)" in page
    assert f'href="/admin/subscriptions/{ids[7501]}"' in page


def test_the_last_thirty_days_are_costed_day_by_day(harness: Harness) -> None:
    now = datetime.now(UTC)
    Ledger(harness.services.engine).record(
        LedgerEntry("req-today", "tutor", "chat", "fast", "groq", "m", cost_usd=0.25)
    )
    Ledger(harness.services.engine).record(
        LedgerEntry(
            "req-old", "tutor", "chat", "fast", "groq", "m", cost_usd=9.0,
            created_at=now - timedelta(days=45),
        )
    )  # fmt: skip
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    days = reports.daily_costs(harness.services.engine, end - timedelta(days=30), end)
    assert len(days) == 30 and days[now.date().isoformat()] == {"groq": 0.25}
    assert sum(sum(day.values()) for day in days.values()) == 0.25
    client = _staff(harness, "admin")
    page = client.get("/admin/revenue?month=not-a-month").get_data(as_text=True)
    assert "Cost by provider, last 30 days" in page and "$0.2500" in page
