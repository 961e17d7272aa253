"""Answers "progress" (menu 5): streak, days active, words by FSRS state, review accuracy,
and which kinds of mistakes are getting rarer or more frequent, from :mod:`tutor.progress`.

When the service has a public address, the weekly chart (:mod:`tutor.progress_card`)
comes with the text; the text is always there, for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from agents.base import Context, Outcome
from tutor.i18n import name_of, t
from tutor.messages import Inbound, Reply
from tutor.models import utcnow
from tutor.progress import Report, report, skills
from tutor.progress_card import token

_ARROWS = {"improving": "↓", "worsening": "↑", "steady": "→"}


class ProgressAgent:
    name = "progress"

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        *,
        public_url: str = "",
        secret: str = "",
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.public_url = public_url.rstrip("/")
        self.secret = secret

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        return self.start(context)

    def start(self, context: Context) -> Outcome:
        lang = context.lang
        if context.learner_id is None:
            return Outcome(self.name, (Reply(t("vocab_unavailable", lang)),))
        found = report(
            self.engine,
            context.learner_id,
            zone=context.profile.get("timezone"),
            now=self.clock(),
        )
        level = str(context.profile.get("level") or "A1")
        estimates = skills(self.engine, context.learner_id, level, now=self.clock())
        text = render(found, lang, context, estimates)
        if not self.public_url or not self.secret:
            return Outcome(self.name, (Reply(text),))
        image = f"{self.public_url}/progress/{token(self.secret, context.learner_id, lang)}.png"
        return Outcome(self.name, (Reply(text, image_url=image),))


def render(
    found: Report,
    lang: str,
    context: Context,
    estimates: dict[str, tuple[str, str]] | None = None,
) -> str:
    """The report as a short chat message (also the text version of any chart)."""
    lines = [t("progress_header", lang)]
    lines.append(t("progress_activity", lang, streak=found.streak, days=found.days_active))
    words = found.words
    lines.append(
        t(
            "progress_words",
            lang,
            learned=words.get("review", 0),
            learning=words.get("learning", 0) + words.get("relearning", 0),
        )
    )
    if found.review_accuracy is not None:
        accuracy = round(100 * found.review_accuracy)
        lines.append(t("progress_reviews", lang, count=found.reviews_30d, accuracy=accuracy))
    if found.clean_share is not None:
        clean = round(100 * found.clean_share)
        lines.append(t("progress_clean", lang, share=clean, turns=found.turns_this_week))
    for trend in found.trends:
        label = name_of("code", trend.code, lang)
        lines.append(
            t(
                f"progress_trend_{trend.direction}",
                lang,
                label=label,
                arrow=_ARROWS[trend.direction],
                now=trend.this_week,
                before=trend.last_week,
            )
        )
    if found.spoken_accuracy is not None:
        before = found.spoken_accuracy_before
        key = "progress_spoken" if before is None else "progress_spoken_trend"
        lines.append(
            t(
                key,
                lang,
                count=found.spoken_this_week,
                accuracy=round(found.spoken_accuracy),
                before=round(before) if before is not None else 0,
            )
        )
    if found.weakest_sound is not None:
        sound, value = found.weakest_sound
        name = name_of("sound", sound, lang)
        lines.append(t("progress_weakest_sound", lang, sound=name, score=value))
    if found.mistake_cards:
        lines.append(t("progress_mistake_cards", lang, count=found.mistake_cards))
    level = str(context.profile.get("level") or "A1")
    lines.append(t("progress_level", lang, level=level))
    for skill, (estimate, verdict) in (estimates or {}).items():
        lines.append(
            t(
                "progress_skill",
                lang,
                skill=t(f"skill_{skill}", lang),
                level=estimate,
                verdict=t(f"skill_{verdict}", lang),
            )
        )
    return "\n".join(lines)
