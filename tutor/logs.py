"""Structured logs with a correlation id that follows a message through every process.

Context (correlation id, channel, hashed learner id, agent) is bound once per
message with :func:`bound`; a filter stamps it on every record. Message
bodies and phone numbers never go into logs: learners appear only as a hash.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_context: ContextVar[dict[str, Any] | None] = ContextVar("tutor_log_context", default=None)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def learner_hash(learner_key: str) -> str:
    """A short stable pseudonym for logs; not reversible to the phone number or user id."""
    return hashlib.sha256(learner_key.encode()).hexdigest()[:12]


def current() -> dict[str, Any]:
    return dict(_context.get() or {})


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log record inside the block (``learner_key`` is hashed)."""
    if "learner_key" in fields:
        fields["learner"] = learner_hash(str(fields.pop("learner_key")))
    token = _context.set({**current(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Send the service's logs to stderr, one JSON object per line (or plain text)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger", "asctime": "time"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_tutor", False):
            root.removeHandler(existing)
    handler._tutor = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "dramatiq", "apscheduler", "alembic", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
