"""The tutoring agents a worker runs, wired to the service's router and database."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from agents.base import Agent
from agents.conversation import ConversationAgent
from agents.data import DataAgent
from agents.grammar import GrammarAgent, GrammarChecker
from agents.lexicon import LexiconAgent
from agents.library import Library
from agents.progress import ProgressAgent
from agents.pronunciation import PronunciationAgent
from agents.subscription import Checkout, SubscriptionAgent
from agents.vocabulary import VocabularyAgent
from payments.metering import Meter
from tutor.app import secret_key
from tutor.dispatcher import Dispatcher
from tutor.intents import IntentRouter
from tutor.spoken import address as spoken_address
from voice import service as voice_service

if TYPE_CHECKING:
    from tutor.services import Services


@lru_cache(maxsize=1)
def shipped_library() -> Library:
    """The shipped curricula, loaded once per process."""
    return Library()


def build_agents(services: Services, library: Library | None = None) -> dict[str, Agent]:
    library = library or shipped_library()
    checker = GrammarChecker(library, services.router)
    conversation = ConversationAgent(library, checker, services.engine)
    vocabulary = VocabularyAgent(
        library,
        services.engine,
        fallback=conversation,
        ears=lambda inbound, language: voice_service.listen(
            services.http,
            services.settings,
            inbound,
            language,
            engine=services.engine,
            agent="vocabulary",
        )[1],
        can_hear=lambda language: voice_service.hears(services.settings, language),
    )
    return {
        "conversation": conversation,
        "grammar": GrammarAgent(library, checker),
        "lexicon": LexiconAgent(library, checker, vocabulary),
        "vocabulary": vocabulary,
        "pronunciation": PronunciationAgent(
            library,
            services.engine,
            services.http,
            services.settings,
            lambda: voice_service.transcriber(services.settings),
            voice_url=lambda text, language: spoken_address(
                services.settings, secret_key(services.settings), text, language
            ),
        ),
        "data": DataAgent(services.engine, services.redis, conversation, hot=services.hot),
        "subscription": subscription_agent(services),
        "progress": ProgressAgent(
            services.engine,
            public_url=services.settings.public_url,
            secret=secret_key(services.settings),
        ),
    }


def subscription_agent(services: Services) -> SubscriptionAgent:
    """Plans and payments, with the ways to pay this service is configured for."""
    settings = services.settings
    meter = Meter(
        services.engine,
        services.catalog,
        lesson_minutes=settings.session_idle_minutes,
        grace_hours=settings.payments_grace_hours,
    )
    return SubscriptionAgent(services.engine, services.catalog, meter, checkout(services))


def checkout(services: Services) -> Checkout:
    """The rails a worker can reach: Stripe links where a key is set, Stars on Telegram,
    WhatsApp Pay where it is enabled."""
    return Checkout()


def build_dispatcher(services: Services) -> Dispatcher:
    """The dispatcher with every built agent; the rest say plainly they are coming."""
    agents = build_agents(services)
    gate = agents["subscription"]
    assert isinstance(gate, SubscriptionAgent)
    return Dispatcher(agents, IntentRouter(services.router), gate=gate)
