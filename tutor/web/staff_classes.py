"""Classes in the staff app: cohorts and join codes, the class view, learners, assignments.

A teacher sees only their own cohorts and the learners in them; admins see everything
(:mod:`tutor.cohorts`). A cohort or learner someone may not see answers 404, as if it
did not exist. Every change goes through :func:`tutor.web.staff.change`, so it is audited.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Engine, func, select

from agents import mistakes
from agents.registry import shipped_library
from memory import notes
from tutor import assignments, cohorts, progress, staff
from tutor.cohorts import Cohort, CohortError, Member
from tutor.i18n import language_name, name_of
from tutor.models import cohort_members, learners, turns, usage_events, utcnow
from tutor.staff import Role
from tutor.web import charts
from tutor.web.staff import ANY_STAFF, change, is_admin, require, services, user

logger = logging.getLogger(__name__)

blueprint = Blueprint("staff_classes", __name__, url_prefix="/admin/classes")

WEEK = timedelta(days=7)
CHART_DAYS = 28


# -- activity figures ---------------------------------------------------------------------


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of this week: weekly goals count lessons from here."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=now.weekday())


def active_members(engine: Engine, since: datetime) -> dict[int, int]:
    """Per cohort, how many members wrote since ``since``."""
    query = (
        select(cohort_members.c.cohort_id, func.count())
        .join(learners, learners.c.id == cohort_members.c.learner_id)
        .where(learners.c.last_inbound_at >= since)
        .group_by(cohort_members.c.cohort_id)
    )
    with engine.connect() as connection:
        return {int(cohort_id): int(count) for cohort_id, count in connection.execute(query)}


def lessons_since(engine: Engine, learner_ids: list[int], since: datetime) -> dict[int, int]:
    """Lessons (metered sittings, :mod:`payments.metering`) per learner since ``since``."""
    if not learner_ids:
        return {}
    query = (
        select(usage_events.c.learner_id, func.count())
        .where(
            usage_events.c.learner_id.in_(learner_ids),
            usage_events.c.feature == "lesson",
            usage_events.c.used_at >= since,
        )
        .group_by(usage_events.c.learner_id)
    )
    with engine.connect() as connection:
        return {int(learner_id): int(count) for learner_id, count in connection.execute(query)}


def daily(
    engine: Engine, learner_ids: list[int], now: datetime, days: int = CHART_DAYS
) -> tuple[list[date], dict[str, list[float | None]]]:
    """Messages and lessons per UTC day over the last ``days`` days, for a chart."""
    first = (now - timedelta(days=days - 1)).date()
    since = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    messages: Counter[date] = Counter()
    lessons: Counter[date] = Counter()
    if learner_ids:
        with engine.connect() as connection:
            for (stamp,) in connection.execute(
                select(turns.c.created_at).where(
                    turns.c.learner_id.in_(learner_ids), turns.c.created_at >= since
                )
            ):
                messages[stamp.date()] += 1
            for (stamp,) in connection.execute(
                select(usage_events.c.used_at).where(
                    usage_events.c.learner_id.in_(learner_ids),
                    usage_events.c.feature == "lesson",
                    usage_events.c.used_at >= since,
                )
            ):
                lessons[stamp.date()] += 1
    span = [first + timedelta(days=n) for n in range(days)]
    return span, {
        "Messages": [float(messages[day]) for day in span],
        "Lessons": [float(lessons[day]) for day in span],
    }


def _day_labels(span: list[date]) -> list[str]:
    """A label on Mondays only: four weeks of daily labels do not fit a phone."""
    return [day.strftime("%b %d") if day.weekday() == 0 else "" for day in span]


# -- pages ----------------------------------------------------------------------------------


def _visible(cohort_id: int) -> Cohort:
    found = cohorts.visible_cohort(services().engine, user(), cohort_id)
    if found is None:
        abort(404)
    return found


def _choices() -> list[cohorts.CurriculumChoice]:
    return cohorts.curriculum_choices(services().engine, shipped_library())


def _goal(raw: str | None) -> int:
    try:
        return int((raw or "0").strip())
    except ValueError as exc:
        raise CohortError("The weekly goal is a whole number of lessons.") from exc


@blueprint.get("/")
@require(*ANY_STAFF)
def index() -> str:
    engine = services().engine
    now = utcnow()
    teachers = [u for u in staff.all_users(engine) if u.disabled_at is None] if is_admin() else []
    return render_template(
        "staff/classes_index.html",
        cohorts=cohorts.visible_cohorts(engine, user()),
        active=active_members(engine, now - WEEK),
        choices=_choices(),
        teachers=teachers,
    )


@blueprint.post("/")
@require(*ANY_STAFF)
def create() -> ResponseReturnValue:
    form = request.form
    teacher_id = user().id
    if is_admin() and form.get("teacher_id", "").isdigit():
        chosen = staff.get(services().engine, int(form["teacher_id"]))
        if chosen is not None and chosen.disabled_at is None:
            teacher_id = chosen.id
    try:
        goal = _goal(form.get("weekly_goal"))
        detail: dict[str, Any] = {"name": form.get("name", "")[:120], "teacher": teacher_id}
        with change("cohort created", "cohort:new", detail) as c:
            cohort_id = cohorts.create(
                c,
                name=form.get("name", ""),
                teacher_id=teacher_id,
                curriculum=form.get("curriculum") or None,
                weekly_goal=goal,
                choices=_choices(),
            )
            detail["cohort_id"] = cohort_id  # the audit row is written as the block ends
    except CohortError as problem:
        flash(str(problem))
        return redirect(url_for(".index"))
    flash("Class created. Share its join code with your learners.")
    return redirect(url_for(".cohort", cohort_id=cohort_id))


@blueprint.get("/<int:cohort_id>")
@require(*ANY_STAFF)
def cohort(cohort_id: int) -> str:
    found = _visible(cohort_id)
    engine = services().engine
    now = utcnow()
    people = cohorts.members(engine, cohort_id)
    ids = [m.learner_id for m in people]
    rows = progress.cohort(engine, ids, now=now)
    lessons = lessons_since(engine, ids, week_start(now))
    span, series = daily(engine, ids, now)
    choices = _choices()
    return render_template(
        "staff/classes_cohort.html",
        cohort=found,
        table=_class_rows(people, rows, lessons),
        heat=_heatmap(people, rows),
        chart=charts.lines(f"The class, last {CHART_DAYS} days", _day_labels(span), series),
        choices=choices,
        curriculum_title=next((c.title for c in choices if c.key == found.curriculum), None),
        history=assignments.history(engine, cohort_id),
        whatsapp_members=sum(1 for m in people if m.channel == "whatsapp"),
        template=services().settings.whatsapp_assignment_template,
    )


def _class_rows(
    people: list[Member], rows: list[progress.LearnerRow], lessons: dict[int, int]
) -> list[dict[str, Any]]:
    by_id = {row.learner_id: row for row in rows}
    table = []
    for member in people:
        row = by_id.get(member.learner_id)
        table.append(
            {
                "id": member.learner_id,
                "label": member.label,
                "channel": member.channel,
                "last_active": (row.last_active if row else None) or member.last_inbound_at,
                "level": row.level if row else "A1",
                "cards_due": row.cards_due if row else 0,
                "lessons": lessons.get(member.learner_id, 0),
                "mistakes": sum(row.mistakes_this_week.values()) if row else 0,
            }
        )
    return table


def _heatmap(people: list[Member], rows: list[progress.LearnerRow]) -> dict[str, Any]:
    """Rows of the class heatmap: learners by this week's mistakes per category."""
    labels = {m.learner_id: m.label for m in people}
    totals: Counter[str] = Counter()
    for row in rows:
        totals.update(row.mistakes_this_week)
    codes = [code for code, _ in totals.most_common()]
    columns = [name_of("code", code, "en") for code in codes]
    heat_rows = [
        (
            labels.get(row.learner_id, str(row.learner_id)),
            url_for(".learner", learner_id=row.learner_id),
            {name_of("code", code, "en"): row.mistakes_this_week.get(code, 0) for code in codes},
        )
        for row in rows
    ]
    top = max((max(r.mistakes_this_week.values(), default=0) for r in rows), default=0)
    return {"rows": heat_rows, "columns": columns, "top": top}


@blueprint.post("/<int:cohort_id>/settings")
@require(*ANY_STAFF)
def configure(cohort_id: int) -> ResponseReturnValue:
    _visible(cohort_id)
    form = request.form
    detail = {
        "name": form.get("name", "")[:120],
        "curriculum": form.get("curriculum") or None,
        "weekly_goal": form.get("weekly_goal", ""),
    }
    try:
        goal = _goal(form.get("weekly_goal"))
        with change("cohort changed", f"cohort:{cohort_id}", detail) as connection:
            cohorts.configure(
                connection,
                cohort_id,
                name=form.get("name", ""),
                curriculum=form.get("curriculum") or None,
                weekly_goal=goal,
                choices=_choices(),
            )
    except CohortError as problem:
        flash(str(problem))
    else:
        flash("Saved.")
    return redirect(url_for(".cohort", cohort_id=cohort_id))


@blueprint.post("/<int:cohort_id>/archive")
@require(*ANY_STAFF)
def archive(cohort_id: int) -> ResponseReturnValue:
    found = _visible(cohort_id)
    if found.archived:
        with change("cohort reopened", f"cohort:{cohort_id}") as connection:
            cohorts.restore(connection, cohort_id)
        flash("Class reopened: its join code works again.")
    else:
        with change("cohort archived", f"cohort:{cohort_id}") as connection:
            cohorts.archive(connection, cohort_id)
        flash("Class archived: its join code no longer works.")
    return redirect(url_for(".cohort", cohort_id=cohort_id))


@blueprint.post("/<int:cohort_id>/code")
@require(*ANY_STAFF)
def new_code(cohort_id: int) -> ResponseReturnValue:
    _visible(cohort_id)
    with change("cohort join code changed", f"cohort:{cohort_id}") as connection:
        code = cohorts.new_join_code(connection, cohort_id)
    flash(f"New join code: {code}. The old one no longer works.")
    return redirect(url_for(".cohort", cohort_id=cohort_id))


@blueprint.post("/<int:cohort_id>/assignments")
@require(*ANY_STAFF)
def assign(cohort_id: int) -> ResponseReturnValue:
    found = _visible(cohort_id)
    service = services()
    kind = assignments.Kind.EXERCISE if request.form.get("kind") == "exercise" else None
    kind = kind or assignments.Kind.MESSAGE
    body = request.form.get("body", "")
    people = cohorts.members(service.engine, cohort_id)
    try:
        detail = {"kind": kind.value, "members": len(people)}
        with change("assignment sent", f"cohort:{cohort_id}", detail) as connection:
            sent = assignments.send(
                connection,
                cohort=found,
                members=people,
                kind=kind,
                body=body,
                sent_by=user().id,
                settings=service.settings,
            )
    except assignments.AssignmentError as problem:
        flash(str(problem))
        return redirect(url_for(".cohort", cohort_id=cohort_id))
    for key in sent.learner_keys:
        try:
            service.queue.notify(key)
        except Exception:  # the rows are safe in the outbox; the sweeper sends them
            logger.warning("queue hand-off failed; the sweeper will send the assignment")
    flash(_summary(sent.outcome))
    return redirect(url_for(".cohort", cohort_id=cohort_id))


def _summary(outcome: dict[str, int]) -> str:
    parts = [f"Sent to {outcome['sent']} learner(s)"]
    if outcome["template"]:
        parts.append(f"{outcome['template']} as a WhatsApp template")
    if outcome["skipped"]:
        parts.append(f"{outcome['skipped']} not reachable on WhatsApp until they write")
    return "; ".join(parts) + "."


@blueprint.get("/learners/<int:learner_id>")
@require(*ANY_STAFF)
def learner(learner_id: int) -> str:
    engine = services().engine
    if not cohorts.can_see_learner(engine, user(), learner_id):
        abort(404)
    member = cohorts.learner(engine, learner_id)
    if member is None:
        abort(404)
    now = utcnow()
    zone = member.profile.get("timezone")
    report = progress.report(engine, learner_id, zone=str(zone) if zone else None, now=now)
    span, series = daily(engine, [learner_id], now)
    week_labels = [day.strftime("%a %d") for day, _, _ in report.week]
    found = cohorts.of_learner(engine, learner_id)
    if found is not None and cohorts.visible_cohort(engine, user(), found.id) is None:
        found = None
    return render_template(
        "staff/classes_learner.html",
        member=member,
        cohort=found,
        report=report,
        week_chart=charts.bars(
            "Last 7 days",
            week_labels,
            {
                "Messages": [float(m) for _, m, _ in report.week],
                "Reviews": [float(r) for _, _, r in report.week],
            },
        ),
        month_chart=charts.lines(f"Last {CHART_DAYS} days", _day_labels(span), series),
        trends_chart=_trends_chart(report),
        patterns=mistakes.patterns(engine, learner_id)[:12],
        notes=[
            (note, notes.describe(note, "en"))
            for note in notes.listing(engine, learner_id, include_wrong=True)
        ],
        code_name=lambda code: name_of("code", code, "en"),
        lessons=lessons_since(engine, [learner_id], week_start(now)).get(learner_id, 0),
        show_account=user().role is Role.ADMIN,
        target=_language(member.profile.get("target_language")),
    )


def _language(code: object) -> str:
    return language_name(str(code), "en") if code in ("es", "en") else "no language chosen yet"


def _trends_chart(report: progress.Report) -> Any:
    if not report.trends:
        return None
    labels = [name_of("code", trend.code, "en") for trend in report.trends]
    return charts.bars(
        "Mistakes per 100 messages",  # whole numbers on the axis, where per 10 rounds away
        labels,
        {
            "Last week": [round(trend.last_week * 10) for trend in report.trends],
            "This week": [round(trend.this_week * 10) for trend in report.trends],
        },
    )


@blueprint.post("/learners/<int:learner_id>/notes/<int:note_id>/wrong")
@require(*ANY_STAFF)
def note_wrong(learner_id: int, note_id: int) -> ResponseReturnValue:
    engine = services().engine
    if not cohorts.can_see_learner(engine, user(), learner_id):
        abort(404)
    # mark_wrong runs its own transaction (SQLite takes one writer at a time), so the
    # audit row follows it, written only when a note of this learner was changed.
    if not notes.mark_wrong(engine, learner_id, note_id):
        abort(404)
    with change("note marked wrong", f"learner:{learner_id}", {"note": note_id}):
        pass
    flash("Note marked wrong: the tutor will not use it again.")
    return redirect(url_for(".learner", learner_id=learner_id) + "#notes")
