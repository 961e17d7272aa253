"""The Flask application factory: ``create_app(settings=None, services=None)``."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy import text

from tutor import inbox, metrics
from tutor.errors import PayloadError
from tutor.services import Services, build_services
from tutor.settings import Settings, load_settings

logger = logging.getLogger(__name__)


def secret_key(settings: Settings) -> str:
    """The configured key, else one kept under ``var/`` so chat sessions survive restarts."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.var_dir) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


def max_request_bytes(settings: Settings) -> int:
    """The largest body the app reads: a webhook's (each webhook checks its own limit again),
    or a 2 MB curriculum upload with the rest of its form."""
    from tutor.web.staff_curricula import MAX_UPLOAD_BYTES

    return max(settings.max_webhook_bytes, MAX_UPLOAD_BYTES + 64 * 1024)


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the web app around one Services bundle (built here unless given)."""
    from tutor.progress_card import blueprint as progress_card_blueprint
    from tutor.spoken import blueprint as spoken_blueprint
    from tutor.web import staff
    from tutor.web.chat import blueprint as chat_blueprint
    from tutor.webhooks import blueprint as webhook_blueprint

    settings = settings or (services.settings if services else load_settings())
    services = services or build_services(settings)
    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=secret_key(settings),
        MAX_CONTENT_LENGTH=max_request_bytes(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(days=90),
        JSON_AS_ASCII=False,
    )
    app.extensions["tutor"] = services
    app.register_blueprint(webhook_blueprint)
    app.register_blueprint(chat_blueprint)
    app.register_blueprint(progress_card_blueprint)
    app.register_blueprint(spoken_blueprint)
    staff.init_app(app, services)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        checks: dict[str, Any] = {}
        try:
            with services.engine.connect() as connection:
                connection.execute(
                    text(
                        "SELECT 1"
                        if services.engine.dialect.name != "oracle"
                        else "SELECT 1 FROM DUAL"
                    )
                )
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"down: {type(exc).__name__}"
        try:
            services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            # Redis is a cache and a hand-off: the service still accepts messages without it.
            checks["redis"] = f"degraded: {type(exc).__name__}"
        ready = checks["database"] == "ok"
        return jsonify(ready=ready, checks=checks), 200 if ready else 503

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render(
            lambda: inbox.counts(services.engine), services.metrics_dir
        )
        return Response(body, content_type=content_type)

    @app.errorhandler(PayloadError)
    def bad_payload(error: PayloadError) -> tuple[Response, int]:
        return jsonify(error=str(error)), error.status

    @app.errorhandler(413)
    def too_large(_error: Exception) -> tuple[Response, int]:
        return jsonify(error="body too large"), 413

    return app
