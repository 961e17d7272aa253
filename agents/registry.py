"""The tutoring agents a worker runs, wired to the service's router and database."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from agents.base import Agent
from agents.cohort import CohortAgent
from agents.conversation import ConversationAgent
from agents.data import DataAgent
from agents.grammar import GrammarAgent, GrammarChecker
from agents.lexicon import LexiconAgent
from agents.library import Library
from agents.progress import ProgressAgent
from agents.pronunciation import PronunciationAgent
from agents.reminders import ReminderAgent
from agents.subscription import Checkout, SubscriptionAgent
from agents.vocabulary import VocabularyAgent
from payments import whatsapp_pay
from payments.metering import Meter
from payments.plans import Plan
from tutor.app import secret_key
from tutor.channels.telegram import TelegramClient
from tutor.dispatcher import Dispatcher
from tutor.intents import IntentRouter
from tutor.messages import Channel
from tutor.models import utcnow
from tutor.reminder_times import Policy
from tutor.spoken import address as spoken_address
from voice import service as voice_service

if TYPE_CHECKING:
    from tutor.services import Services


@lru_cache(maxsize=1)
def shipped_library() -> Library:
    """The shipped curricula, loaded once per process."""
    return Library()


def build_agents(services: Services, library: Library | None = None) -> dict[str, Agent]:
    library = library or shipped_library().with_store(services.engine)
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
        "subscription": subscription_agent(services, fallback=conversation),
        "cohort": CohortAgent(services.engine, library),
        "reminders": ReminderAgent(Policy.from_settings(services.settings)),
        "progress": ProgressAgent(
            services.engine,
            public_url=services.settings.public_url,
            secret=secret_key(services.settings),
        ),
    }


def subscription_agent(services: Services, fallback: Agent | None = None) -> SubscriptionAgent:
    """Plans and payments, with the ways to pay this service is configured for."""
    settings = services.settings
    meter = Meter(
        services.engine,
        services.catalog,
        lesson_minutes=settings.session_idle_minutes,
        grace_hours=settings.payments_grace_hours,
    )
    return SubscriptionAgent(
        services.engine, services.catalog, meter, checkout(services), fallback=fallback
    )


def checkout(services: Services) -> Checkout:
    """The rails a worker can reach: Stripe links where a key is set, Stars on Telegram,
    WhatsApp Pay where it is enabled."""
    settings = services.settings
    telegram = services.channels.get(Channel.TELEGRAM)
    stars_cancel = None
    if isinstance(telegram, TelegramClient):
        bot = telegram

        def stars_cancel(user_id: str, charge_id: str) -> None:
            bot.edit_user_star_subscription(user_id, charge_id, is_canceled=True)

    def whatsapp_order(plan: Plan, learner_id: int, currency: str, lang: str) -> dict[str, Any]:
        reference = whatsapp_pay.reference_id(plan.id, learner_id, utcnow())
        configuration = settings.whatsapp_pay_configuration
        return whatsapp_pay.order(plan, reference, currency, lang, configuration)

    stripe = services.stripe
    stripe_link = None
    if stripe is not None:
        rail, engine = stripe, services.engine

        def stripe_link(plan: Plan, reference: str) -> str:
            return rail.link_url(engine, plan, reference)

    return Checkout(
        stripe_link=stripe_link,
        stripe_cancel=stripe.cancel if stripe is not None else None,
        stars_cancel=stars_cancel,
        whatsapp_pay=lambda phone: whatsapp_pay.available(settings, phone),
        whatsapp_order=whatsapp_order,
    )


def build_dispatcher(services: Services) -> Dispatcher:
    """The dispatcher with every built agent; the rest say plainly they are coming."""
    agents = build_agents(services)
    gate = agents["subscription"]
    assert isinstance(gate, SubscriptionAgent)
    return Dispatcher(agents, IntentRouter(services.router), gate=gate)
