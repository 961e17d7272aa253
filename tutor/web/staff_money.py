"""Money in the staff app (admins only): subscriptions, a learner's account, revenue and costs.

The account actions reuse what ``tutor payments`` and ``tutor learner`` run on the command
line (:mod:`payments.admin`, :mod:`memory.export`, :mod:`memory.erase`). Those open their
own transactions, so each action's audit row is written right after it succeeds, naming
the learner by id only: the log must keep no chat key once a learner is erased.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import func, select

from memory import erase, export
from payments import admin, reports
from payments.ledger import Applied, EventKind, Provider, Status
from tutor import audit, billing
from tutor.channels.telegram import TelegramClient
from tutor.errors import ChannelError
from tutor.llm.ledger import Ledger
from tutor.messages import Channel
from tutor.models import learners, payment_events, usage_events, utcnow
from tutor.staff import Role
from tutor.web import charts
from tutor.web.staff import require, services, user

blueprint = Blueprint("staff_money", __name__, url_prefix="/admin")

PER_PAGE = 100
CSV_COLUMNS = (
    "learner_id",
    "learner_key",
    "channel",
    "plan",
    "rail",
    "status",
    "renews",
    "lessons_left",
    "last_seen",
)
#: A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _filters() -> reports.Filters:
    args = request.args
    return reports.Filters(
        plan=args.get("plan", "")[:32],
        rail=args.get("rail", "")[:16],
        status=args.get("status", "")[:16],
        search=args.get("q", "")[:160],
    )


def _page() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@blueprint.get("/subscriptions")
@require(Role.ADMIN)
def subscriptions() -> str:
    filters = _filters()
    page = _page()
    engine = services().engine
    rows, total = reports.subscribers(engine, filters, page=page, per_page=PER_PAGE, now=utcnow())
    pages = max(1, -(-total // PER_PAGE))
    query = {
        "plan": filters.plan,
        "rail": filters.rail,
        "status": filters.status,
        "q": filters.search,
    }
    query = {key: value for key, value in query.items() if value}
    return render_template(
        "staff/money_subscriptions.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        query=query,
        plans=reports.plans_in_use(engine),
        rails=reports.RAILS,
        statuses=reports.STATUSES,
    )


def csv_cell(value: Any) -> str:
    """``value`` as CSV text a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_lines(rows: Iterator[reports.Subscriber]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for row in rows:
        values = (
            row.learner_id,
            row.learner_key,
            row.channel,
            row.plan,
            row.rail,
            row.status,
            row.renews,
            row.lessons_left,
            row.last_seen,
        )
        writer.writerow([csv_cell(value) for value in values])
        yield flush()


@blueprint.get("/subscriptions.csv")
@require(Role.ADMIN)
def subscriptions_csv() -> Response:
    rows = reports.every_subscriber(services().engine, _filters(), now=utcnow())
    name = f"subscriptions-{utcnow():%Y-%m-%d}.csv"
    return Response(
        stream_with_context(_csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# A learner's account -------------------------------------------------------------------


def _learner_key(learner_id: int) -> str:
    with services().engine.connect() as connection:
        key = connection.execute(select(learners.c.key).where(learners.c.id == learner_id)).scalar()
    if key is None:
        abort(404)
    return str(key)


def _usage(learner_id: int, learner_key: str) -> dict[str, Any]:
    """What the learner used in the last 30 days and what their calls cost."""
    since = utcnow() - timedelta(days=30)
    query = (
        select(usage_events.c.feature, usage_events.c.paid_by, func.count())
        .where(usage_events.c.learner_id == learner_id, usage_events.c.used_at >= since)
        .group_by(usage_events.c.feature, usage_events.c.paid_by)
    )
    engine = services().engine
    with engine.connect() as connection:
        used = [(feature, paid_by, int(n)) for feature, paid_by, n in connection.execute(query)]
    return {"used": used, "cost": Ledger(engine).spend(learner_key=learner_key, since=since)}


def _stars_charges(learner_id: int) -> list[dict[str, Any]]:
    """The learner's applied Stars payments that no refund has taken back yet."""
    query = select(payment_events).where(
        payment_events.c.learner_id == learner_id,
        payment_events.c.provider == Provider.TELEGRAM.value,
        payment_events.c.status == Status.APPLIED.value,
    )
    with services().engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    refunded = {row["object_ref"] for row in rows if row["kind"] == EventKind.REFUND.value}
    return [
        row
        for row in rows
        if row["kind"] in reports.PAID and row["object_ref"] and row["object_ref"] not in refunded
    ]


@blueprint.get("/subscriptions/<int:learner_id>")
@require(Role.ADMIN)
def learner(learner_id: int) -> str:
    key = _learner_key(learner_id)
    facts = admin.summary(services().engine, key)
    now = utcnow()
    return render_template(
        "staff/money_learner.html",
        learner_id=learner_id,
        learner_key=key,
        record=facts.entitlement,
        subscribed=facts.entitlement.subscribed(now),
        history=facts.history[:20],
        usage=_usage(learner_id, key),
        charges=_stars_charges(learner_id),
    )


def _audit(action: str, learner_id: int, detail: dict[str, Any]) -> None:
    """The audit row of an action that committed in its own transaction just before."""
    with services().engine.begin() as connection:
        audit.record(
            connection, user().id, action, f"learner:{learner_id}", detail, request.remote_addr
        )


def _after(applied: Applied, action: str, learner_id: int, detail: dict[str, Any]) -> None:
    """Audit the change, queue the learner's notice (as the command line does), tell the admin."""
    _audit(action, learner_id, {**detail, "status": applied.status.value, "result": applied.detail})
    if applied.new and applied.learner_id is not None:
        with services().engine.begin() as connection:
            notice_for = billing.queue_notice(connection, applied)
        billing.notify(services(), notice_for)
    flash(f"{applied.status.value.capitalize()}: {applied.detail}")


def _number(name: str) -> int:
    try:
        value = int(request.form.get(name, "0") or "0")
    except ValueError:
        return -1
    return value


def _back(learner_id: int) -> ResponseReturnValue:
    return redirect(url_for("staff_money.learner", learner_id=learner_id))


@blueprint.post("/subscriptions/<int:learner_id>/grant")
@require(Role.ADMIN)
def grant(learner_id: int) -> ResponseReturnValue:
    key = _learner_key(learner_id)
    days, lessons = _number("days"), _number("lessons")
    reason = request.form.get("reason", "").strip()
    try:
        applied = admin.grant(
            services().engine,
            services().catalog,
            key,
            days=days,
            lessons=lessons,
            reason=reason,
            admin=user().email,
        )
    except admin.AdminError as exc:
        flash(f"Not granted: {exc}.", "error")
        return _back(learner_id)
    _after(applied, "grant", learner_id, {"days": days, "lessons": lessons, "reason": reason})
    return _back(learner_id)


@blueprint.post("/subscriptions/<int:learner_id>/revoke")
@require(Role.ADMIN)
def revoke(learner_id: int) -> ResponseReturnValue:
    key = _learner_key(learner_id)
    lessons = _number("lessons")
    reason = request.form.get("reason", "").strip()
    try:
        applied = admin.revoke(
            services().engine,
            services().catalog,
            key,
            lessons=lessons,
            reason=reason,
            admin=user().email,
        )
    except admin.AdminError as exc:
        flash(f"Not revoked: {exc}.", "error")
        return _back(learner_id)
    _after(applied, "revoke", learner_id, {"lessons": lessons, "reason": reason})
    return _back(learner_id)


@blueprint.post("/subscriptions/<int:learner_id>/refund")
@require(Role.ADMIN)
def refund(learner_id: int) -> ResponseReturnValue:
    key = _learner_key(learner_id)
    charge = request.form.get("charge", "").strip()
    reason = request.form.get("reason", "").strip()
    client = services().channels.get(Channel.TELEGRAM)
    if not isinstance(client, TelegramClient):
        flash("Telegram is not configured, so Stars cannot be refunded here.", "error")
        return _back(learner_id)
    if not reason:
        flash("Not refunded: say why: a reason is required.", "error")
        return _back(learner_id)
    try:
        applied = admin.refund_stars(
            services().engine,
            services().catalog,
            key,
            charge,
            client.refund_star_payment,
            reason=f"{reason[:150]} (by {user().email})",
        )
    except (admin.AdminError, ChannelError) as exc:
        flash(f"Not refunded: {exc}.", "error")
        return _back(learner_id)
    _after(applied, "refund stars", learner_id, {"charge": charge, "reason": reason})
    return _back(learner_id)


@blueprint.post("/subscriptions/<int:learner_id>/export")
@require(Role.ADMIN)
def export_data(learner_id: int) -> Response:
    key = _learner_key(learner_id)
    document = export.attachment(services().engine, key)
    if document is None:
        abort(404)
    _audit("learner export", learner_id, {})
    name = f"learner-{learner_id}-{utcnow():%Y-%m-%d}.json"
    return Response(
        document.content,
        mimetype=document.mime_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blueprint.route("/subscriptions/<int:learner_id>/delete", methods=["GET", "POST"])
@require(Role.ADMIN)
def delete(learner_id: int) -> ResponseReturnValue:
    key = _learner_key(learner_id)
    if request.method == "GET":
        return render_template("staff/money_delete.html", learner_id=learner_id, learner_key=key)
    if request.form.get("confirm", "").strip() != str(learner_id):
        flash(f"Nothing was deleted: type {learner_id} to confirm.", "error")
        return redirect(url_for("staff_money.delete", learner_id=learner_id))
    erasure = erase.erase(services().engine, services().redis, key, hot=services().hot)
    _audit(
        "learner delete",
        learner_id,
        {
            "rows_removed": sum(erasure.removed.values()),
            "rows_scrubbed": sum(erasure.scrubbed.values()),
            "redis_failed": erasure.redis_failed,
        },
    )
    flash(f"Learner {learner_id} was erased everywhere.")
    return redirect(url_for("staff_money.subscriptions"))


# Revenue and costs ---------------------------------------------------------------------

MONTHS_SHOWN = 12


def _month() -> str:
    month = request.args.get("month", "")
    try:
        reports.month_bounds(month)
    except ValueError:
        return reports.month_of(utcnow())
    return month


def _revenue_charts(income: reports.Revenue) -> list[dict[str, Any]]:
    """One chart and table per currency: amounts in different currencies never add up."""
    sections = []
    for currency in income.currencies():
        rails = sorted({rail for (_, rail, c) in income.by_rail if c == currency})
        series: dict[str, list[float | None]] = {}
        table = []
        for rail in rails:
            values: list[float | None] = []
            for month in income.months:
                money = income.by_rail.get((month, rail, currency))
                values.append(reports.major(money.net, currency) if money else 0.0)
                if money:
                    table.append((month, rail, money))
            series[rail] = values
        unit = "" if currency == "XTR" else f"{currency} "
        title = (
            "Stars by month (net of refunds)"
            if currency == "XTR"
            else f"{currency} by month (net of refunds)"
        )
        sections.append(
            {
                "currency": currency,
                "chart": charts.bars(title, income.months, series, unit=unit),
                "rows": sorted(table, key=lambda item: (item[0], item[1]), reverse=True),
            }
        )
    return sections


def usd(value: float) -> str:
    """Dollars with the sign in front: −$7.55, not $-7.55."""
    return f"{'−' if value < 0 else ''}${abs(value):,.2f}"


def _every_fifth(days: list[str]) -> list[str]:
    """Day labels for a month-wide chart: every fifth day named, so they stay legible."""
    return [day[5:] if index % 5 == 0 else "" for index, day in enumerate(days)]


def _rates() -> dict[str, float]:
    """US dollars per unit of each currency, from the ``revenue_usd_rates`` setting when the
    deployment has one (e.g. ``XTR:0.013,EUR:1.08``); without it nothing is converted."""
    return reports.parse_rates(services().settings.revenue_usd_rates)


def _cost_charts(months: list[str]) -> dict[str, Any]:
    """Spend by provider per month (the chosen year) and per day (the last 30 days)."""
    engine = services().engine
    monthly = reports.monthly_costs(engine, months)
    providers = sorted({line.key or "?" for lines in monthly.values() for line in lines})
    monthly_series: dict[str, list[float | None]] = {
        provider: [
            sum(line.cost_usd for line in monthly[m] if (line.key or "?") == provider)
            for m in months
        ]
        for provider in providers
    }
    now = utcnow()
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    daily = reports.daily_costs(engine, day_end - timedelta(days=30), day_end)
    day_providers = sorted({p for day in daily.values() for p in day})
    daily_series: dict[str, list[float | None]] = {
        p: [daily[day].get(p, 0.0) for day in daily] for p in day_providers
    }
    return {
        "monthly": monthly,
        "monthly_chart": charts.stacked(
            "Model and voice cost by month", months, monthly_series, unit="$"
        ),
        "daily": daily,
        "day_providers": day_providers,
        "daily_chart": charts.stacked(
            "Cost by provider, last 30 days", _every_fifth(list(daily)), daily_series, unit="$"
        ),
    }


@blueprint.get("/revenue")
@require(Role.ADMIN)
def revenue() -> str:
    engine = services().engine
    month = _month()
    start, end = reports.month_bounds(month)
    months = reports.months_back(start, MONTHS_SHOWN)
    income = reports.revenue(engine, months)
    rates = _rates()
    margins = reports.margins(engine, month, income, rates)
    return render_template(
        "staff/money_revenue.html",
        month=month,
        months=months,
        revenue_sections=_revenue_charts(income),
        costs=reports.costs(engine, start, end),
        margins=margins,
        margin_chart=charts.bars(
            f"Margin per plan, {month} (US$)",
            [line.plan for line in margins],
            {"margin": [line.margin_usd for line in margins]},
            unit="$",
        ),
        rates=rates,
        major=reports.major,
        usd=usd,
        **_cost_charts(months),
    )
