"""The pre-checkout answer: may this Telegram Stars payment go ahead?

Telegram waits at most 10 seconds for it, so it is decided inside the webhook request
from one read of the learners table and the plan catalogue: no queue, no model, no write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from payments import stars
from payments.plans import Catalog
from tutor.channels.telegram_payments import PreCheckout
from tutor.i18n import t
from tutor.models import learners

logger = logging.getLogger(__name__)

_LANGS = ("en", "es")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok``, or the refusal's reason (see :func:`payments.stars.check_checkout`) and the
    sentence Telegram shows the user."""

    ok: bool
    reason: str | None = None
    error_message: str | None = None


def decide(engine: Engine, catalog: Catalog, query: PreCheckout) -> Verdict:
    """Accept a payload naming a Stars plan, its price and this very learner; else refuse
    in the learner's language."""
    learner = _learner(engine, query.learner_key)
    learner_id = learner[0] if learner else None
    reason = stars.check_checkout(catalog, query.payload, query.currency, query.amount, learner_id)
    logger.info(
        "pre-checkout decided",
        extra={"ok": reason is None, "reason": reason, "currency": query.currency[:8]},
    )
    if reason is None:
        return Verdict(ok=True)
    lang = _lang(learner[1] if learner else {}, query.language_hint)
    return Verdict(ok=False, reason=reason, error_message=t(f"checkout_refused_{reason}", lang))


def _learner(engine: Engine, key: str) -> tuple[int, dict[str, Any]] | None:
    """The learner's id and profile, read only (a stranger is refused, never created)."""
    query = select(learners.c.id, learners.c.profile).where(learners.c.key == key)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return (int(row.id), dict(row.profile or {})) if row is not None else None


def _lang(profile: dict[str, Any], language_hint: str | None) -> str:
    """The learner's explanation language, else the Telegram app's language, else English."""
    for candidate in (
        profile.get("explanation_language"),
        (language_hint or "").split("-", 1)[0].lower(),
        profile.get("ui_hint"),
    ):
        if candidate in _LANGS:
            return str(candidate)
    return "en"
