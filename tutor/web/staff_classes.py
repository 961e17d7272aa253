"""Classes in the staff app: cohorts and join codes, the class view, learners, assignments."""

from __future__ import annotations

from flask import Blueprint, render_template

from tutor.web.staff import ANY_STAFF, require

blueprint = Blueprint("staff_classes", __name__, url_prefix="/admin/classes")


@blueprint.get("/")
@require(*ANY_STAFF)
def index() -> str:
    return render_template(
        "staff/coming.html", heading="Classes", message="Cohorts are not built yet."
    )


@blueprint.get("/learners/<int:learner_id>")
@require(*ANY_STAFF)
def learner(learner_id: int) -> str:
    return render_template(
        "staff/coming.html", heading="Learner", message="The learner page is not built yet."
    )
