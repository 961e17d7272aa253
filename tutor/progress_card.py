"""The weekly progress card: a PNG chart sent in the chat beside the text report.

The card is drawn on request at ``/progress/<token>.png`` (matplotlib, Agg
backend, no files written): messages and reviews on each of the last seven
days, and each kind of mistake per 10 messages this week against the week
before. The token is the learner's id signed with the service's secret key
(itsdangerous), so a card's address cannot be guessed; the text report is
always sent too, for screen readers and for channels without images.
"""

from __future__ import annotations

import io
from datetime import datetime

from flask import Blueprint, Response, abort, current_app
from itsdangerous import BadSignature, URLSafeSerializer

from tutor.i18n import name_of, t
from tutor.progress import Report, report

blueprint = Blueprint("progress_card", __name__)
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
_SALT = "progress-card"


def token(secret: str, learner_id: int, lang: str) -> str:
    """The signed part of a card's address."""
    return str(URLSafeSerializer(secret, salt=_SALT).dumps([learner_id, lang]))


def read_token(secret: str, value: str) -> tuple[int, str] | None:
    try:
        learner_id, lang = URLSafeSerializer(secret, salt=_SALT).loads(value)
    except (BadSignature, ValueError, TypeError):
        return None
    return int(learner_id), str(lang)


def drawable(text: str) -> str:
    """``text`` without characters past the Basic Multilingual Plane (emoji such as 🎉):
    the chart's font (DejaVu Sans) has no glyph for them, and matplotlib would draw a box
    and warn on every card."""
    return "".join(char for char in text if ord(char) <= 0xFFFF).strip()


def render_png(found: Report, lang: str) -> bytes:
    """The chart as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (days_axis, kinds_axis) = pyplot.subplots(
        1, 2, figsize=(8, 3.6), dpi=110, gridspec_kw={"width_ratios": [3, 2]}
    )
    try:
        weekdays = _WEEKDAYS.get(lang, _WEEKDAYS["en"])
        labels = [f"{weekdays[day.weekday()]} {day.day}" for day, _, _ in found.week]
        positions = range(len(labels))
        messages = [m for _, m, _ in found.week]
        reviews = [r for _, _, r in found.week]
        days_axis.bar(
            [p - 0.2 for p in positions],
            messages,
            0.4,
            label=drawable(t("card_messages", lang)),
            color="#4C78A8",
        )
        days_axis.bar(
            [p + 0.2 for p in positions],
            reviews,
            0.4,
            label=drawable(t("card_reviews", lang)),
            color="#F58518",
        )
        days_axis.set_xticks(list(positions), labels, fontsize=8)
        days_axis.set_title(drawable(t("card_week", lang, streak=found.streak)), fontsize=10)
        days_axis.legend(fontsize=8, frameon=False)
        days_axis.spines[["top", "right"]].set_visible(False)
        if found.trends:
            names = [drawable(name_of("code", trend.code, lang)) for trend in found.trends]
            rows = range(len(names))
            kinds_axis.barh(
                [r + 0.2 for r in rows],
                [x.last_week for x in found.trends],
                0.4,
                label=drawable(t("card_last_week", lang)),
                color="#BAB0AC",
            )
            kinds_axis.barh(
                [r - 0.2 for r in rows],
                [x.this_week for x in found.trends],
                0.4,
                label=drawable(t("card_this_week", lang)),
                color="#E45756",
            )
            kinds_axis.set_yticks(list(rows), names, fontsize=8)
            kinds_axis.invert_yaxis()
            kinds_axis.legend(fontsize=8, frameon=False)
        else:
            kinds_axis.text(
                0.5, 0.5, drawable(t("card_no_mistakes", lang)), ha="center", va="center"
            )
            kinds_axis.set_xticks([])
            kinds_axis.set_yticks([])
        kinds_axis.set_title(drawable(t("card_mistakes", lang)), fontsize=10)
        kinds_axis.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        pyplot.close(figure)


@blueprint.get("/progress/<value>.png")
def card(value: str) -> Response:
    services = current_app.extensions["tutor"]
    found = read_token(current_app.config["SECRET_KEY"], value)
    if found is None:
        abort(404)
    learner_id, lang = found
    from sqlalchemy import select

    from tutor.models import learners

    with services.engine.connect() as connection:
        profile = connection.execute(
            select(learners.c.profile).where(learners.c.id == learner_id)
        ).scalar()
    if profile is None:
        abort(404)
    zone = dict(profile).get("timezone")
    data = report(services.engine, learner_id, zone=zone, now=datetime.now().astimezone())
    response = Response(render_png(data, lang), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=600"
    return response
