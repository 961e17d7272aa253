"""Money in the staff app (admins only): subscriptions, revenue, costs and margins."""

from __future__ import annotations

from flask import Blueprint, render_template

from tutor.staff import Role
from tutor.web.staff import require

blueprint = Blueprint("staff_money", __name__, url_prefix="/admin")


@blueprint.get("/subscriptions")
@require(Role.ADMIN)
def subscriptions() -> str:
    return render_template(
        "staff/coming.html", heading="Subscriptions", message="This page is not built yet."
    )


@blueprint.get("/revenue")
@require(Role.ADMIN)
def revenue() -> str:
    return render_template(
        "staff/coming.html", heading="Revenue and costs", message="This page is not built yet."
    )


@blueprint.get("/subscriptions/<int:learner_id>")
@require(Role.ADMIN)
def learner(learner_id: int) -> str:
    return render_template(
        "staff/coming.html", heading="Account", message="This page is not built yet."
    )
