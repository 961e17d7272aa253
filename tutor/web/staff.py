"""The staff web app under ``/admin``: sign-in, sessions, roles, CSRF and the audit trail.

Every staff page is a view wrapped in :func:`require`, which names the roles that may see
it; the access test walks the app's URL map and fails on any ``/admin`` view without it.
A session lives in Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https):
it ends after ``staff_idle_minutes`` without a request, ``staff_session_hours`` after
sign-in, or at the next request once the account is disabled. Sign-in attempts are
limited per address and per email with the ``limits`` library (in Redis when one is
configured, so every gunicorn worker shares the count).

The areas register their own blueprints through :func:`init_app`: curricula
(:mod:`tutor.web.staff_curricula`), classes (:mod:`tutor.web.staff_classes`), money
(:mod:`tutor.web.staff_money`) and health (:mod:`tutor.web.staff_health`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Connection, func, select

from tutor import audit, inbox, staff
from tutor.models import entitlements, learners
from tutor.services import Services
from tutor.staff import Role, User

logger = logging.getLogger(__name__)

blueprint = Blueprint("staff", __name__, url_prefix="/admin")
csrf = CSRFProtect()

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute :func:`require` leaves on a view, read by the access test.
ROLES_ATTRIBUTE = "staff_roles"
_SESSION_KEYS = ("staff_uid", "staff_since", "staff_seen")


def services() -> Services:
    return cast(Services, current_app.extensions["tutor"])


def current() -> User | None:
    """The signed-in staff member of this request, if any."""
    return cast(User | None, g.get("staff_user"))


def user() -> User:
    """The signed-in staff member (views under :func:`require` always have one)."""
    found = current()
    if found is None:  # pragma: no cover - require() runs first
        abort(401)
    return found


def is_admin() -> bool:
    found = current()
    return found is not None and found.role is Role.ADMIN


def require(*roles: Role) -> Callable[[F], F]:
    """Let only signed-in staff with one of ``roles`` in; others are sent to sign in (GET)
    or refused (401), and a signed-in member without the role gets 403."""
    allowed = frozenset(roles)
    if not allowed:
        raise ValueError("require() needs at least one role")

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            member = _load_member()
            if member is None:
                if request.method == "GET":
                    return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
                abort(401)
            if member.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        setattr(guarded, ROLES_ATTRIBUTE, allowed)
        return cast(F, guarded)

    return decorate


def public(view: F) -> F:
    """Mark a staff view as open to anyone (the sign-in page)."""
    setattr(view, ROLES_ATTRIBUTE, frozenset())
    return view


ANY_STAFF = (Role.ADMIN, Role.TEACHER)


@contextmanager
def change(action: str, target: str, detail: dict[str, Any] | None = None) -> Iterator[Connection]:
    """A transaction for a staff change that commits together with its audit row."""
    with services().engine.begin() as connection:
        yield connection
        audit.record(connection, user().id, action, target, detail, request.remote_addr)


def _now() -> datetime:
    return datetime.now(UTC)


def _end_session() -> None:
    for key in _SESSION_KEYS:
        session.pop(key, None)
    g.staff_user = None


def _load_member() -> User | None:
    """The session's staff member, after the idle, age and disabled checks (once a request)."""
    if "staff_user" in g:
        return current()
    g.staff_user = None
    uid = session.get("staff_uid")
    if uid is None:
        return None
    settings = services().settings
    now = _now().timestamp()
    since = float(session.get("staff_since", 0))
    seen = float(session.get("staff_seen", 0))
    if now - seen > settings.staff_idle_minutes * 60:
        _end_session()
        flash(f"Signed out after {settings.staff_idle_minutes} minutes without activity.")
        return None
    if now - since > settings.staff_session_hours * 3600:
        _end_session()
        flash("Your session has ended; please sign in again.")
        return None
    member = staff.get(services().engine, int(uid))
    if member is None or member.disabled_at is not None:
        _end_session()
        return None
    session["staff_seen"] = now
    g.staff_user = member
    return member


# -- sign-in ---------------------------------------------------------------------------


class _Throttle:
    """Failed sign-ins per address and per email, in a moving one-minute window."""

    def __init__(self, redis_url: str, per_minute: int) -> None:
        uri = redis_url if redis_url.startswith(("redis://", "rediss://")) else "memory://"
        self.limiter = MovingWindowRateLimiter(storage_from_string(uri))
        self.rate = parse(f"{per_minute}/minute")

    def blocked(self, address: str, email: str) -> bool:
        return not all(
            self.limiter.test(self.rate, "staff-login", kind, key)
            for kind, key in (("ip", address), ("email", email))
        )

    def failed(self, address: str, email: str) -> None:
        for kind, key in (("ip", address), ("email", email)):
            self.limiter.hit(self.rate, "staff-login", kind, key)


def _safe_next(target: str | None) -> str:
    """Only a path inside this app (no scheme, no host): never an open redirect."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/admin"):
            return target
    return url_for("staff.dashboard")


@blueprint.route("/login", methods=["GET", "POST"])
@public
def login() -> ResponseReturnValue:
    if _load_member() is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("staff/login.html", next=request.args.get("next", ""))
    email = request.form.get("email", "").strip().lower()[:254]
    password = request.form.get("password", "")
    address = request.remote_addr or "unknown"
    throttle: _Throttle = current_app.extensions["staff_throttle"]
    if throttle.blocked(address, email):
        logger.warning("staff sign-in throttled", extra={"ip": address})
        message = "Too many attempts. Wait a minute and try again."
        return render_template("staff/login.html", error=message, email=email), 429
    member = staff.authenticate(services().engine, email, password)
    if member is None:
        throttle.failed(address, email)
        with services().engine.begin() as connection:
            audit.record(connection, None, "sign-in failed", f"email:{email}", None, address)
        message = "That email and password do not match an active account."
        return render_template("staff/login.html", error=message, email=email), 401
    session.clear()  # nothing from before sign-in survives it (no fixation)
    now = _now().timestamp()
    session.update(staff_uid=member.id, staff_since=now, staff_seen=now)
    with services().engine.begin() as connection:
        audit.record(connection, member.id, "sign-in", f"user:{member.id}", None, address)
    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
@require(*ANY_STAFF)
def logout() -> ResponseReturnValue:
    _end_session()
    flash("Signed out.")
    return redirect(url_for("staff.login"))


# -- dashboard and audit log -----------------------------------------------------------


@blueprint.get("/")
@require(*ANY_STAFF)
def dashboard() -> str:
    engine = services().engine
    now = _now()
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(learners)).scalar_one()
        active = connection.execute(
            select(func.count())
            .select_from(learners)
            .where(learners.c.last_inbound_at >= now - timedelta(days=7))
        ).scalar_one()
        paid = connection.execute(
            select(func.count())
            .select_from(entitlements)
            .where(
                entitlements.c.subscription_active.is_(True)
                | (entitlements.c.next_payment_date > now)
                | (entitlements.c.lessons_remaining > 0)
            )
        ).scalar_one()
    figures: dict[str, Any] = {"learners": total, "active": active}
    if is_admin():
        figures["paid"] = paid
        figures["queue"] = inbox.counts(engine)
    return render_template("staff/dashboard.html", figures=figures)


@blueprint.get("/audit")
@require(Role.ADMIN)
def audit_page() -> str:
    return render_template("staff/audit.html", rows=audit.recent(services().engine, limit=200))


# -- the app-wide parts ----------------------------------------------------------------

#: Blueprints whose POSTs carry their own proof (platform signatures) or none by design.
CSRF_EXEMPT = ("webhooks", "chat")


def init_app(app: Flask, services_: Services) -> None:
    """Register the staff blueprints, CSRF protection, the sign-in throttle and headers."""
    from tutor.web import charts, staff_classes, staff_curricula, staff_health, staff_money

    settings = services_.settings
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", settings.staff_session_hours * 3600)
    csrf.init_app(app)
    for name in CSRF_EXEMPT:
        exempt = app.blueprints.get(name)
        if exempt is not None:
            csrf.exempt(exempt)
    app.extensions["staff_throttle"] = _Throttle(
        settings.redis_url, settings.staff_login_attempts_per_minute
    )
    app.register_blueprint(blueprint)
    for area in (staff_curricula, staff_classes, staff_money, staff_health):
        app.register_blueprint(area.blueprint)

    app.jinja_env.globals["heat_colour"] = charts.heat  # macros imported without context see it

    @app.context_processor
    def staff_globals() -> dict[str, Any]:
        return {"staff_user": current(), "is_admin": is_admin()}

    @app.after_request
    def staff_headers(response: Response) -> Response:
        if request.path.startswith("/admin"):
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            # Charts are inline SVG with their own <style>; no script is ever inline.
            response.headers["Content-Security-Policy"] = (
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self'; form-action 'self'; frame-ancestors 'none'"
            )
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return render_template("staff/error.html", code=400, message=error.description), 400

    for code, message in (
        (401, "Please sign in."),
        (403, "Your account cannot open this page."),
        (404, "There is no such page."),
    ):
        app.register_error_handler(code, _error_page(code, message))


def _error_page(code: int, message: str) -> Callable[[Exception], tuple[str | Response, int]]:
    def handle(_error: Exception) -> tuple[str | Response, int]:
        if not request.path.startswith("/admin"):
            from flask import jsonify

            return jsonify(error=message), code
        return render_template("staff/error.html", code=code, message=message), code

    return handle
