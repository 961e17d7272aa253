"""Curricula in the staff app: list, edit, validate at the line, preview, publish, diff."""

from __future__ import annotations

from flask import Blueprint, render_template

from tutor.web.staff import ANY_STAFF, require

blueprint = Blueprint("staff_curricula", __name__, url_prefix="/admin/curricula")


@blueprint.get("/")
@require(*ANY_STAFF)
def index() -> str:
    return render_template(
        "staff/coming.html", heading="Curricula", message="The curriculum editor is not built yet."
    )
