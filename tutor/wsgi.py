"""The WSGI entry point for gunicorn (``tutor.wsgi:app``); built in each worker after fork."""

from __future__ import annotations

from tutor import logs
from tutor.app import create_app
from tutor.services import build_services
from tutor.settings import load_settings

settings = load_settings()
logs.configure(settings.log_level, settings.log_format)
app = create_app(
    settings,
    build_services(
        settings, metrics_dir=str(settings.metrics_dir) if settings.metrics_dir else None
    ),
)
