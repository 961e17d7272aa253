"""Picks what answers a message: an ordered route list, first match wins.

Rules come first (payments, unsupported kinds, commands, the onboarding flow,
menu numbers, voice notes); free text falls through to the conversation
agent. One error handler turns any exception into a friendly reply.

    route                 matches
    ───────────────────── ──────────────────────────────────────────────
    payment               Stars / WhatsApp payment updates (payments issue)
    unsupported           stickers, images, locations, ...
    start                 /start
    help                  help · ayuda · /help
    language              language · idioma · /language
    onboarding            a learner who has not finished first contact
    menu                  menu · menú · /menu
    reminders             stop reminders · start reminders (and Spanish)
    shortcuts             progress · subscription status · export/delete my data
    menu_choice           a number or button answering the main menu
    voice                 voice notes and audio -> pronunciation
    conversation          everything else
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agents.base import Agent, Context, Outcome
from tutor.i18n import language_name, t
from tutor.messages import Inbound, Kind, Option, Reply
from tutor.onboarding import LANGUAGE_STEPS, Onboarding
from tutor.text import fold, parse_choice

logger = logging.getLogger(__name__)

Matcher = Callable[[Inbound, Context], bool]
Handler = Callable[[Inbound, Context], Outcome]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    matches: Matcher
    handle: Handler


MENU_ITEMS = ("conversation", "grammar", "pronunciation", "vocabulary", "progress", "subscription")


def _words(*phrases: str) -> frozenset[str]:
    return frozenset(fold(phrase) for phrase in phrases)


HELP_WORDS = _words("help", "/help", "ayuda", "/ayuda", "?")
LANGUAGE_WORDS = _words("language", "/language", "idioma", "/idioma", "languages", "idiomas")
MENU_WORDS = _words("menu", "/menu", "menú", "/menú", "main menu", "menú principal")
STOP_REMINDER_WORDS = _words(
    "stop reminders", "/stop_reminders", "parar recordatorios", "detener recordatorios"
)
START_REMINDER_WORDS = _words(
    "start reminders", "/start_reminders", "activar recordatorios", "reanudar recordatorios"
)
SHORTCUTS = {
    "progress": _words("progress", "/progress", "progreso", "/progreso"),
    "subscription": _words(
        "subscription status",
        "/subscription",
        "subscription",
        "estado de suscripción",
        "suscripción",
        "/suscripcion",
    ),
    "data": _words(
        "export my data",
        "delete my data",
        "exportar mis datos",
        "borrar mis datos",
        "/export",
        "/delete",
    ),
}


class ComingSoon:
    """Stands in for an agent that is not built yet, and says so plainly."""

    def __init__(self, name: str, feature_key: str) -> None:
        self.name = name
        self._feature_key = feature_key

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        if inbound.kind in (Kind.VOICE, Kind.AUDIO) and self.name == "pronunciation":
            return Outcome(self.name, (Reply(t("voice_not_yet", context.lang)),))
        feature = t(self._feature_key, context.lang)
        return Outcome(self.name, (Reply(t("coming_soon", context.lang, feature=feature)),))


def _is(words: frozenset[str]) -> Matcher:
    def matches(inbound: Inbound, _context: Context) -> bool:
        return inbound.kind in (Kind.TEXT, Kind.COMMAND) and fold(inbound.text) in words

    return matches


class Dispatcher:
    """Routes each Inbound to the first matching route; never raises."""

    def __init__(self, agents: dict[str, Agent] | None = None) -> None:
        self.agents: dict[str, Agent] = {
            name: ComingSoon(name, f"feature_{name}") for name in (*MENU_ITEMS, "data")
        }
        self.agents.update(agents or {})
        self.onboarding = Onboarding(finish=self._menu_replies)
        self.routes: Sequence[Route] = self._routes()

    def dispatch(self, inbound: Inbound, context: Context) -> Outcome:
        """The Outcome of the first matching route; a friendly apology if it fails."""
        for route in self.routes:
            if route.matches(inbound, context):
                try:
                    return route.handle(inbound, context)
                except Exception:
                    logger.exception("route failed", extra={"route": route.name})
                    return Outcome("error", (Reply(t("internal_error", context.lang)),))
        raise AssertionError("the conversation route matches everything")

    # Routes -------------------------------------------------------------

    def _routes(self) -> list[Route]:
        return [
            Route("payment", lambda i, c: i.kind is Kind.PAYMENT, self._payment),
            Route("unsupported", lambda i, c: i.kind is Kind.UNSUPPORTED, self._unsupported),
            Route("start", lambda i, c: i.command == "start", self._start),
            Route("help", _is(HELP_WORDS), self._help),
            Route("language", _is(LANGUAGE_WORDS), self._language),
            Route("onboarding", self._in_onboarding, self._onboarding),
            Route("menu", _is(MENU_WORDS), self._menu),
            Route("reminders", _is(STOP_REMINDER_WORDS | START_REMINDER_WORDS), self._reminders),
            *(
                Route(name, _is(words), self._agent_route(name))
                for name, words in SHORTCUTS.items()
            ),
            Route("menu_choice", self._answers_menu, self._menu_choice),
            Route(
                "voice",
                lambda i, c: i.kind in (Kind.VOICE, Kind.AUDIO),
                self._agent_route("pronunciation"),
            ),
            Route("conversation", lambda i, c: True, self._agent_route("conversation")),
        ]

    def _payment(self, inbound: Inbound, context: Context) -> Outcome:
        logger.info("payment update received; payments are not enabled")
        return Outcome("payments", ())

    def _unsupported(self, inbound: Inbound, context: Context) -> Outcome:
        return Outcome("unsupported", (Reply(t("unsupported", context.lang)),))

    def _start(self, inbound: Inbound, context: Context) -> Outcome:
        if not context.onboarded:
            return self.onboarding.begin(context)
        replies = self._menu_replies(context)
        first = Reply(f"{t('welcome_back', context.lang)}\n{replies[0].text}", replies[0].options)
        return Outcome("menu", (first,), state={"menu": "main"})

    def _help(self, inbound: Inbound, context: Context) -> Outcome:
        target = language_name(str(context.profile.get("target_language", "es")), context.lang)
        if not context.onboarded:
            target = f"{language_name('es', context.lang)} / {language_name('en', context.lang)}"
        return Outcome("help", (Reply(t("help", context.lang, language=target)),))

    def _language(self, inbound: Inbound, context: Context) -> Outcome:
        steps = LANGUAGE_STEPS if context.onboarded else ()
        return self.onboarding.begin(context, steps) if steps else self.onboarding.begin(context)

    def _in_onboarding(self, inbound: Inbound, context: Context) -> bool:
        return not context.onboarded or context.state.get("flow") == "onboarding"

    def _onboarding(self, inbound: Inbound, context: Context) -> Outcome:
        if context.state.get("flow") != "onboarding":
            return self.onboarding.begin(context)
        if inbound.kind in (Kind.VOICE, Kind.AUDIO) or fold(inbound.text) in MENU_WORDS:
            return self.onboarding.reask(context, t("finish_setup_first", context.lang))
        return self.onboarding.handle(inbound, context)

    def _menu_replies(self, context: Context) -> tuple[Reply, ...]:
        options = tuple(Option(item, t(f"menu_{item}", context.lang)) for item in MENU_ITEMS)
        return (Reply(t("menu", context.lang), options),)

    def _menu(self, inbound: Inbound, context: Context) -> Outcome:
        return Outcome("menu", self._menu_replies(context), state={"menu": "main"})

    def _reminders(self, inbound: Inbound, context: Context) -> Outcome:
        stop = fold(inbound.text) in STOP_REMINDER_WORDS
        profile = {**context.profile, "reminders": not stop}
        key = "reminders_stopped" if stop else "reminders_started"
        return Outcome("reminders", (Reply(t(key, context.lang)),), profile=profile)

    def _answers_menu(self, inbound: Inbound, context: Context) -> bool:
        if context.state.get("menu") != "main":
            return False
        if inbound.kind is Kind.BUTTON:
            return inbound.button in MENU_ITEMS
        return inbound.kind is Kind.TEXT and parse_choice(inbound.text, len(MENU_ITEMS)) is not None

    def _menu_choice(self, inbound: Inbound, context: Context) -> Outcome:
        if inbound.kind is Kind.BUTTON and inbound.button:
            name = inbound.button
        else:
            index = parse_choice(inbound.text, len(MENU_ITEMS))
            name = MENU_ITEMS[index or 0]
        outcome = self.agents[name].handle(
            inbound, Context(context.learner_key, context.profile, {}, context.recent_turns)
        )
        state = outcome.state if outcome.state is not None else {}
        return Outcome(outcome.agent, outcome.replies, outcome.profile, state)

    def _agent_route(self, name: str) -> Handler:
        def handle(inbound: Inbound, context: Context) -> Outcome:
            outcome = self.agents[name].handle(inbound, context)
            if outcome.state is not None or "menu" not in context.state:
                return outcome
            # Leaving the menu: a later "2" is no longer a menu answer.
            state = {k: v for k, v in context.state.items() if k != "menu"}
            return Outcome(outcome.agent, outcome.replies, outcome.profile, state)

        return handle
