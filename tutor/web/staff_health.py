"""Health in the staff app (admins only): queue, dead letters, providers and budgets."""

from __future__ import annotations

from flask import Blueprint, render_template

from tutor.staff import Role
from tutor.web.staff import require

blueprint = Blueprint("staff_health", __name__, url_prefix="/admin/health")


@blueprint.get("/")
@require(Role.ADMIN)
def index() -> str:
    return render_template(
        "staff/coming.html", heading="Health", message="This page is not built yet."
    )
