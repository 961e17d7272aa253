"""The soak's learners and what they send: a seeded, open-loop schedule of webhook events.

Most learners are returning ones (stored as onboarded a day before the run, their menu
open); the rest write for the first time and go through onboarding. Each learner has one
session in the run, starting at a uniformly random moment, its messages separated by
exponential think times: the superposition of thousands of such sessions is a Poisson
stream at the chosen mean rate. Voice notes and payments are Poisson streams of their
own over the returning learners. Nothing waits for a reply (open loop).
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import stripe
from sqlalchemy import Engine, insert

from bench.soak_fakes import VOICE_PREFIX
from tests.support import payloads
from tutor.models import learners, utcnow

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "data"
STRIPE_CHECKOUT = REFERENCE / "stripe" / "gitpay_full_events" / "checkout.session.completed.json"
PRE_CHECKOUT = REFERENCE / "telegram" / "updates" / "pre_checkout_query.json"
PACK = "pack10"  # payments/plans.yaml: 10 lessons for 49 Stars or 1.99 EUR
PACK_STARS = 49
PACK_CENTS = 199
THINK_SECONDS = 8.0  # mean pause between a learner's messages
MIN_THINK = 1.5  # a person types for at least this long (and Telegram allows 1 msg/s a chat)

#: Kinds of message, as reported.
ONBOARDING, LESSON, CONVERSATION, VOCABULARY, VOICE = (
    "onboarding",
    "lesson",
    "conversation",
    "vocabulary",
    "voice",
)
STARS_CHECKOUT, STARS_PAYMENT, STRIPE_PAYMENT = "stars pre-checkout", "stars payment", "stripe"
PAYMENT_KINDS = (STARS_CHECKOUT, STARS_PAYMENT, STRIPE_PAYMENT)
KINDS = (
    ONBOARDING,
    LESSON,
    CONVERSATION,
    VOCABULARY,
    VOICE,
    STARS_CHECKOUT,
    STARS_PAYMENT,
    STRIPE_PAYMENT,
)

SPANISH = (
    "Hola, me llamo Ana y vivo en una ciudad pequeña.",
    "Ayer fui al mercado con mi hermana y compramos fruta.",
    "Me gusta mucho la playa pero no me gusta el frío.",
    "La casa de mi abuela es muy bonito.",
    "Yo soy cansado porque trabajé mucho hoy.",
    "Mañana voy a cocinar una paella para mis amigos.",
    "¿Cómo se dice 'weekend' en español?",
    "Los fines de semana juego al fútbol en el parque.",
    "Quiero viajar a México el año que viene.",
    "Mi perro se llama Toby y tiene tres años.",
)
ENGLISH = (
    "Hello, my name is Luis and I live in Madrid.",
    "Yesterday I go to the cinema with my friends.",
    "I like very much the music of the eighties.",
    "She don't like coffee in the morning.",
    "Tomorrow I will visit my grandmother in the village.",
    "What does 'cheerful' mean?",
    "I have been working here since three years.",
    "On weekends I usually play tennis with my brother.",
)
VOCABULARY_ANSWERS = ("la casa", "el gato", "perro", "the house", "agua", "no sé", "libro")


@dataclass(frozen=True, slots=True)
class Learner:
    index: int
    channel: str  # telegram | whatsapp
    chat: str  # Telegram user id, WhatsApp number
    target: str  # es | en
    returning: bool

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.chat}"


@dataclass(frozen=True, slots=True)
class Event:
    """One webhook to send at ``at`` seconds after the start."""

    at: float
    learner: Learner
    kind: str
    text: str = ""  # the message text; the payment or voice id otherwise


@dataclass(frozen=True, slots=True)
class Plan:
    learners: list[Learner]
    events: list[Event]
    seconds: float
    rate: float


def population(count: int, new: int, rng: random.Random) -> list[Learner]:
    """``count`` learners, ``new`` of them first-timers: 60 % on Telegram, 70 % learning
    Spanish."""
    people = []
    first_timers = set(rng.sample(range(count), min(new, count)))
    for n in range(count):
        channel = "telegram" if rng.random() < 0.6 else "whatsapp"
        chat = str(7_000_000_000 + n) if channel == "telegram" else f"3466{n:07d}"
        target = "es" if rng.random() < 0.7 else "en"
        people.append(Learner(n, channel, chat, target, n not in first_timers))
    return people


def first_timers(count: int, rate: float, seconds: float, share: float = 0.2) -> int:
    """How many learners onboard: enough for about ``share`` of the messages (6-7 each),
    at most a fifth of the learners."""
    return min(count // 5, round(share * rate * seconds / 6.5))


def warm_learners() -> list[Learner]:
    """Returning learners on both channels and languages who warm the stack up."""
    return [
        Learner(-1, "telegram", "6999999001", "es", True),
        Learner(-2, "telegram", "6999999002", "en", True),
        Learner(-3, "whatsapp", "34699999003", "es", True),
        Learner(-4, "whatsapp", "34699999004", "en", True),
        Learner(-5, "telegram", "6999999005", "en", True),
        Learner(-6, "whatsapp", "34699999006", "en", True),
    ]


def _session(learner: Learner, length: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) for one session of about ``length`` messages."""
    sentences = SPANISH if learner.target == "es" else ENGLISH
    if not learner.returning:
        target = "1" if learner.target == "es" else "2"
        steps = [
            (ONBOARDING, "/start"),
            (ONBOARDING, target),
            (ONBOARDING, "1" if learner.target == "es" else "2"),
            (ONBOARDING, "1"),
            (ONBOARDING, rng.choice(("Europe/Madrid", "skip", "Mexico City"))),
            (ONBOARDING, rng.choice(("19:00", "skip", "8am"))),
        ]
        rest = max(0, length - len(steps))
        return steps + [(CONVERSATION, rng.choice(sentences)) for _ in range(rest)]
    activity = rng.choices((LESSON, CONVERSATION, VOCABULARY), weights=(3, 4, 3))[0]
    if activity == LESSON:
        opening = [(LESSON, rng.choice(("2", "grammar", "progress")))]
        answers = [(LESSON, rng.choice(sentences)) for _ in range(length)]
    elif activity == VOCABULARY:
        opening = [(VOCABULARY, rng.choice(("review", "4")))]
        answers = [(VOCABULARY, rng.choice(VOCABULARY_ANSWERS)) for _ in range(length)]
    else:
        opening = [(CONVERSATION, "1")] if rng.random() < 0.5 else []
        answers = [(CONVERSATION, rng.choice(sentences)) for _ in range(length)]
    return (opening + answers)[: max(1, length)]


def plan(
    people: list[Learner],
    seconds: float,
    rate: float,
    rng: random.Random,
    voice_share: float = 0.03,
    payment_share: float = 0.01,
) -> Plan:
    """Every event of the run, in time order, averaging ``rate`` messages a second."""
    total = rate * seconds
    new = [p for p in people if not p.returning]
    returning = [p for p in people if p.returning]
    text_budget = total * (1 - voice_share - payment_share * 1.5)
    per_returning = max(1.0, (text_budget - 6.5 * len(new)) / max(1, len(returning)))
    state = rng.getstate()
    for _ in range(4):  # sessions cut short by the end of the run: lengthen, try again
        rng.setstate(state)
        events = _sessions(people, per_returning, seconds * 0.97, rng)
        if len(events) >= text_budget * 0.98 or per_returning > 200:
            break
        per_returning *= text_budget / max(1, len(events))
    events += _poisson(returning, seconds, rate * voice_share, rng, VOICE)
    telegram = [p for p in returning if p.channel == "telegram"]
    whatsapp = [p for p in returning if p.channel == "whatsapp"]
    for stars in _poisson(telegram, seconds, rate * payment_share / 2, rng, STARS_CHECKOUT):
        events.append(stars)
        events.append(Event(stars.at + 2.0 + rng.random(), stars.learner, STARS_PAYMENT))
    events += _poisson(whatsapp, seconds, rate * payment_share / 2, rng, STRIPE_PAYMENT)
    events = [e for e in events if e.at < seconds]
    events.sort(key=lambda e: e.at)
    return Plan(people, events, seconds, rate)


def _sessions(
    people: list[Learner], per_returning: float, horizon: float, rng: random.Random
) -> list[Event]:
    events: list[Event] = []
    for person in people:
        length = 6 + rng.randint(0, 1) if not person.returning else _count(per_returning, rng)
        lines = _session(person, length, rng)
        span = sum(MIN_THINK + rng.expovariate(1 / THINK_SECONDS) for _ in lines[1:])
        at = rng.uniform(0, max(0.0, horizon - min(span, horizon * 0.5)))
        for number, (kind, text) in enumerate(lines):
            if number:
                at += MIN_THINK + rng.expovariate(1 / THINK_SECONDS)
            if at < horizon:
                events.append(Event(at, person, kind, text))
    return events


def _count(mean: float, rng: random.Random) -> int:
    """A session length of at least 1 averaging ``mean``: 1 + a rounded exponential."""
    if mean <= 1:
        return 1
    return 1 + int(rng.expovariate(1 / (mean - 1)) + rng.random())


def _poisson(
    people: list[Learner], seconds: float, rate: float, rng: random.Random, kind: str
) -> list[Event]:
    if not people or rate <= 0:
        return []
    if kind == VOICE:  # the bundled model hears English: voice notes from English learners
        people = [p for p in people if p.target == "en"] or people
    found, at = [], rng.expovariate(rate)
    while at < seconds * 0.97:
        found.append(Event(at, rng.choice(people), kind))
        at += rng.expovariate(rate)
    return found


def seed(engine: Engine, people: list[Learner]) -> None:
    """Store the returning learners as onboarded a day ago, their menu open."""
    now = utcnow()
    rows = [
        {
            "key": p.key,
            "channel": p.channel,
            "chat_id": p.chat,
            "profile": {
                "onboarded": True,
                "target_language": p.target,
                "explanation_language": "en" if p.target == "es" else "es",
                "level": "A1",
                "timezone": "Europe/Madrid",
                "practice_time": None,
            },
            "state": {"menu": "main"},
            "created_at": now - timedelta(days=1),
            "updated_at": now - timedelta(hours=1),
            "last_inbound_at": now - timedelta(hours=1),
        }
        for p in people
        if p.returning
    ]
    with engine.begin() as connection:
        for start in range(0, len(rows), 1000):
            connection.execute(insert(learners), rows[start : start + 1000])


# Webhook bodies --------------------------------------------------------------------------

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Request:
    """One webhook as sent: path, body, headers and the inbox id it should be stored under."""

    path: str
    body: bytes
    headers: dict[str, str]
    provider_id: str  # "" when no inbox row follows (pre-checkout, Stripe)


def text(event: Event, telegram_secret: str, app_secret: str) -> Request:
    person = event.learner
    if person.channel == "telegram":
        update = payloads.telegram_text(int(person.chat), event.text, update_id=_update_id())
        return _telegram(update, telegram_secret)
    return _whatsapp(payloads.whatsapp_text(person.chat, event.text, wamid=_wamid()), app_secret)


def voice(event: Event, telegram_secret: str, app_secret: str) -> Request:
    person = event.learner
    media = f"{VOICE_PREFIX}{next(_ids)}"
    if person.channel == "telegram":
        update = payloads.telegram_voice(int(person.chat), media)
        update["update_id"] = _update_id()
        return _telegram(update, telegram_secret)
    body = payloads.whatsapp_voice(person.chat, media)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = _wamid()
    return _whatsapp(body, app_secret)


def stars_payload(learner_id: int, issued: int) -> str:
    """The invoice payload the tutor would have put in this learner's pack invoice."""
    return f"{PACK}:{learner_id}:{issued}"


def pre_checkout(event: Event, payload: str, telegram_secret: str) -> Request:
    body = json.loads(PRE_CHECKOUT.read_text(encoding="utf-8"))
    query = body["pre_checkout_query"]
    query["from"] = {**query["from"], "id": int(event.learner.chat), "language_code": "en"}
    query.update(
        id=f"soak{next(_ids)}", currency="XTR", total_amount=PACK_STARS, invoice_payload=payload
    )
    body["update_id"] = _update_id()
    request = _telegram(body, telegram_secret)
    return Request(request.path, request.body, request.headers, "")


def stars_payment(event: Event, payload: str, telegram_secret: str) -> Request:
    charge = f"soakcharge{next(_ids)}"
    update = payloads.telegram_stars_payment(int(event.learner.chat), payload, PACK_STARS, charge)
    update["update_id"] = _update_id()
    return _telegram(update, telegram_secret)


def stripe_checkout(reference: str, webhook_secret: str) -> Request:
    """A signed ``checkout.session.completed`` for a pack, from the recorded event."""
    event = json.loads(STRIPE_CHECKOUT.read_text(encoding="utf-8"))
    session = copy.deepcopy(event["data"]["object"])
    number = next(_ids)
    session.update(
        id=f"cs_soak{number}",
        client_reference_id=reference,
        metadata={"plan": PACK},
        mode="payment",
        currency="eur",
        amount_total=PACK_CENTS,
        payment_intent=f"pi_soak{number}",
        subscription=None,
        customer=None,
        invoice=None,
    )
    envelope = {
        "id": f"evt_soak{number}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
        "data": {"object": session},
    }
    raw = json.dumps(envelope).encode()
    header = stripe.WebhookSignature.generate_signature_header(
        raw.decode(), webhook_secret, timestamp=int(time.time())
    )
    headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
    return Request("/webhooks/stripe", raw, headers, "")


_update_counter = itertools.count(500_000_000)
_wamid_counter = itertools.count(1)


def _update_id() -> int:
    return next(_update_counter)


def _wamid() -> str:
    return f"wamid.SOAK{next(_wamid_counter):012d}"


def _telegram(update: dict[str, Any], secret: str) -> Request:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    raw = payloads.encode(update)
    provider_id = str(update["update_id"]) if "pre_checkout_query" not in update else ""
    return Request("/webhooks/telegram", raw, headers, provider_id)


def _whatsapp(body: dict[str, Any], app_secret: str) -> Request:
    raw = payloads.encode(body)
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    return Request("/webhooks/whatsapp", raw, payloads.whatsapp_headers(raw, app_secret), wamid)
