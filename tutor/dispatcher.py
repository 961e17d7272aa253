"""Picks what answers a message: flow routes first, then the learner's intent.

The flow routes handle what is not a tutoring request (payments, unsupported
kinds, /start, help and language at any time, joining a class with "/join CODE"
(free, and possible during first contact), the onboarding flow, and practice
reminders: "stop reminders", "remind me at 7pm" (free)). Every
other message gets an intent from :class:`tutor.intents.IntentRouter` (rules,
then a classifier with a confidence) and goes to the agent for it. One error
handler turns any exception into a friendly reply.

    intent            answered by
    ───────────────── ──────────────────────────────────────────────────
    command           menu (help, language, reminders: flow routes; stop/start
                      reminders here only without the reminders agent)
    menu_choice       the chosen agent's start()
    why               the grammar agent's longer explanation
    how_say, meaning  the lexicon agent
    exercise_answer   the agent that opened the exercise
    pronunciation     voice notes and speaking requests
    grammar, vocabulary, progress, subscription, data: those agents
    conversation      the conversation agent (everything else)

Before a tutoring agent runs, the gate (the subscription agent, :mod:`payments.metering`)
meters the turn; a learner with nothing left gets the paywall instead. Payment updates
(Telegram Stars) go to the subscription agent, which applies them once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from agents.base import Agent, Context, Outcome
from tutor.i18n import language_name, t
from tutor.intents import (
    COMMANDS,
    MENU_ITEMS,
    Decision,
    Intent,
    IntentRouter,
    join_request,
    matchable,
    reminder_request,
)
from tutor.messages import Inbound, Kind, Option, Reply
from tutor.onboarding import LANGUAGE_STEPS, Onboarding
from tutor.text import fold

logger = logging.getLogger(__name__)

Matcher = Callable[[Inbound, Context], bool]
Handler = Callable[[Inbound, Context], Outcome]


class Gate(Protocol):
    """Meters a turn before ``agent`` answers it: None to go ahead, else the paywall."""

    def admit(self, inbound: Inbound, context: Context, agent: str) -> Outcome | None: ...


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    matches: Matcher
    handle: Handler


HELP_WORDS = COMMANDS["help"]
LANGUAGE_WORDS = COMMANDS["language"]
MENU_WORDS = COMMANDS["menu"]
AGENT_FOR_INTENT = {
    Intent.GRAMMAR: "grammar",
    Intent.VOCABULARY: "vocabulary",
    Intent.PROGRESS: "progress",
    Intent.SUBSCRIPTION: "subscription",
    Intent.DATA: "data",
    Intent.PRONUNCIATION: "pronunciation",
    Intent.CONVERSATION: "conversation",
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

    def start(self, context: Context) -> Outcome:
        feature = t(self._feature_key, context.lang)
        return Outcome(self.name, (Reply(t("coming_soon", context.lang, feature=feature)),))


def _is(words: frozenset[str]) -> Matcher:
    def matches(inbound: Inbound, _context: Context) -> bool:
        return inbound.kind in (Kind.TEXT, Kind.COMMAND) and matchable(inbound.text) in words

    return matches


class Dispatcher:
    """Routes each Inbound to the first matching route; never raises."""

    def __init__(
        self,
        agents: dict[str, Agent] | None = None,
        intents: IntentRouter | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.agents: dict[str, Agent] = {
            name: ComingSoon(name, f"feature_{name}") for name in (*MENU_ITEMS, "data")
        }
        self.agents.update(agents or {})
        self.intents = intents or IntentRouter()
        self.gate = gate
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
            Route("join", self._joining, self._join),
            Route("onboarding", self._in_onboarding, self._onboarding),
            Route("reminders", self._reminding, self._reminders),
            Route("intent", lambda i, c: True, self._by_intent),
        ]

    def classify(self, inbound: Inbound, context: Context) -> Decision:
        """The learner's intent for this message (rules, classifier, or model)."""
        return self.intents.classify(
            inbound,
            context.profile,
            context.state,
            learner_key=context.learner_key,
            request_id=context.request_id,
        )

    def _by_intent(self, inbound: Inbound, context: Context) -> Outcome:
        decision = self.classify(inbound, context)
        logger.info(
            "intent",
            extra={
                "intent": decision.intent.value,
                "confidence": decision.confidence,
                "intent_source": decision.source,
            },
        )
        intent = decision.intent
        if intent is Intent.COMMAND:
            return self._command(inbound, context, decision.slot)
        if intent is Intent.MENU_CHOICE:
            return self._menu_choice(decision.slot, context, inbound)
        paywall = self._admit(inbound, context, self._answered_by(intent, context))
        if paywall is not None:
            return paywall
        if intent is Intent.WHY:
            return self._leave_menu(self._why(inbound, context), context)
        if intent in (Intent.HOW_SAY, Intent.MEANING):
            return self._leave_menu(self._lookup(inbound, context, decision), context)
        if intent is Intent.EXERCISE_ANSWER:
            return self._exercise_answer(inbound, context)
        exercise = context.state.get("exercise")
        if intent is Intent.PRONUNCIATION and isinstance(exercise, dict):
            if exercise.get("type") == "say":  # a spoken answer to a review
                return self._exercise_answer(inbound, context)
        name = AGENT_FOR_INTENT[intent]
        return self._leave_menu(self.agents[name].handle(inbound, context), context)

    def _answered_by(self, intent: Intent, context: Context) -> str:
        """The agent that will answer ``intent`` (what the gate meters)."""
        if intent is Intent.WHY:
            return "grammar"
        if intent in (Intent.HOW_SAY, Intent.MEANING):
            return "lexicon"
        exercise = context.state.get("exercise")
        owner = exercise.get("agent") if isinstance(exercise, dict) else None
        if intent is Intent.EXERCISE_ANSWER or (
            intent is Intent.PRONUNCIATION and isinstance(exercise, dict)
        ):
            return str(owner or "conversation")
        return AGENT_FOR_INTENT.get(intent, "conversation")

    def _admit(self, inbound: Inbound, context: Context, agent: str) -> Outcome | None:
        return self.gate.admit(inbound, context, agent) if self.gate is not None else None

    def _payment(self, inbound: Inbound, context: Context) -> Outcome:
        payment = getattr(self.agents.get("subscription"), "payment", None)
        if payment is None or inbound.payment is None:
            logger.info("payment update received; payments are not enabled")
            return Outcome("payments", ())
        outcome: Outcome = payment(inbound, context)
        return outcome

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

    def _joining(self, inbound: Inbound, context: Context) -> bool:
        """ "/join CODE" (or "join CODE", "unirme CODE"): free, and allowed mid-onboarding."""
        return (
            "cohort" in self.agents
            and inbound.kind in (Kind.TEXT, Kind.COMMAND)
            and join_request(inbound.text) is not None
        )

    def _join(self, inbound: Inbound, context: Context) -> Outcome:
        """Join the class; a learner still in first contact is then asked its next question."""
        outcome = self.agents["cohort"].handle(inbound, context)
        onboarding = context.state.get("flow") == "onboarding"
        if context.onboarded and not onboarding:
            return outcome
        view = replace(context, profile=outcome.profile or context.profile)
        more = self.onboarding.reask(view) if onboarding else self.onboarding.begin(view)
        return replace(outcome, replies=outcome.replies + more.replies, state=more.state)

    def _settled(self, outcome: Outcome, context: Context) -> Outcome:
        """Once first contact (or a change of language) is done, the class's curriculum is
        pinned if the learner now practises its language."""
        settle = getattr(self.agents.get("cohort"), "settle", None)
        if settle is None or outcome.profile is None or not outcome.profile.get("onboarded"):
            return outcome
        pinned = settle(outcome.profile, context.learner_id)
        return outcome if pinned is None else replace(outcome, profile=pinned)

    def _reminding(self, inbound: Inbound, context: Context) -> bool:
        """ "stop reminders", "remind me at 7pm" and the like: free, whatever is open."""
        return (
            "reminders" in self.agents
            and inbound.kind in (Kind.TEXT, Kind.COMMAND)
            and reminder_request(inbound.text) is not None
        )

    def _reminders(self, inbound: Inbound, context: Context) -> Outcome:
        return self.agents["reminders"].handle(inbound, context)

    def _in_onboarding(self, inbound: Inbound, context: Context) -> bool:
        return not context.onboarded or context.state.get("flow") == "onboarding"

    def _onboarding(self, inbound: Inbound, context: Context) -> Outcome:
        if context.state.get("flow") != "onboarding":
            return self.onboarding.begin(context)
        if inbound.kind in (Kind.VOICE, Kind.AUDIO) or fold(inbound.text) in MENU_WORDS:
            return self.onboarding.reask(context, t("finish_setup_first", context.lang))
        return self._settled(self.onboarding.handle(inbound, context), context)

    def _menu_replies(self, context: Context) -> tuple[Reply, ...]:
        options = tuple(Option(item, t(f"menu_{item}", context.lang)) for item in MENU_ITEMS)
        return (Reply(t("menu", context.lang), options),)

    def _command(self, inbound: Inbound, context: Context, command: str) -> Outcome:
        if command in ("stop_reminders", "start_reminders"):
            stop = command == "stop_reminders"
            profile = {**context.profile, "reminders": not stop}
            key = "reminders_stopped" if stop else "reminders_started"
            return Outcome("reminders", (Reply(t(key, context.lang)),), profile=profile)
        if command == "help":
            return self._help(inbound, context)
        if command == "language":
            return self._language(inbound, context)
        return Outcome("menu", self._menu_replies(context), state={"menu": "main"})

    def _menu_choice(self, item: str, context: Context, inbound: Inbound) -> Outcome:
        name = item if item in self.agents else "conversation"
        paywall = self._admit(inbound, context, name)
        if paywall is not None:
            return paywall
        outcome = self.agents[name].start(replace(context, state={}))
        state = outcome.state if outcome.state is not None else {}
        return replace(outcome, state=state)

    def _why(self, inbound: Inbound, context: Context) -> Outcome:
        why = getattr(self.agents["grammar"], "why", None)
        if why is None:
            return self.agents["conversation"].handle(inbound, context)
        outcome: Outcome = why(inbound, context)
        return outcome

    def _lookup(self, inbound: Inbound, context: Context, decision: Decision) -> Outcome:
        lexicon = self.agents.get("lexicon")
        lookup = getattr(lexicon, "lookup", None)
        if lookup is None:
            return self.agents["vocabulary"].handle(inbound, context)
        meaning = decision.intent is Intent.MEANING
        outcome: Outcome = lookup(inbound, context, decision.slot or inbound.text, meaning=meaning)
        return outcome

    def _exercise_answer(self, inbound: Inbound, context: Context) -> Outcome:
        exercise = context.state.get("exercise")
        owner = exercise.get("agent") if isinstance(exercise, dict) else None
        agent = self.agents.get(str(owner)) if owner else None
        if agent is None:
            state = {k: v for k, v in context.state.items() if k != "exercise"}
            return self.agents["conversation"].handle(inbound, replace(context, state=state))
        return agent.handle(inbound, context)

    @staticmethod
    def _leave_menu(outcome: Outcome, context: Context) -> Outcome:
        """Leaving the menu: a later "2" is no longer a menu answer."""
        if outcome.state is not None or "menu" not in context.state:
            return outcome
        state = {k: v for k, v in context.state.items() if k != "menu"}
        return replace(outcome, state=state)
