"""The learner's plan: status, the paywall, buying inside the chat, cancelling.

    "subscription status" / menu 6   → plan, renewal date, what is left, how to cancel
    "upgrade" / "comprar"            → the offers their channel can take, numbered
        1 / "buy:<plan>"             → Telegram: a Stars invoice (a subscription as an
                                       invoice link); WhatsApp: WhatsApp Pay where it
                                       exists, else a Stripe Payment Link
    "cancel subscription"            → are you sure? 1. yes  2. no
        yes                          → cancelled at the provider; access until the end
    a Stars payment or refund        → applied once (:mod:`payments.ledger`), thanked

The paywall is :meth:`SubscriptionAgent.admit`: the dispatcher asks it before a
tutoring agent runs (:mod:`payments.metering`). Nothing a learner types changes what
they have: only payment events do, and a cancellation is recorded once the provider
confirmed it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from agents.base import Agent, Context, Outcome
from payments import ledger, stars
from payments.entitlements import Entitlement
from payments.ledger import EventKind, PaymentEvent, Provider, Status
from payments.metering import Feature, Meter
from payments.plans import Catalog, Plan, PlanKind
from tutor.billing import confirmation, day
from tutor.errors import TutorError
from tutor.i18n import t
from tutor.messages import Channel, Inbound, Invoice, Kind, Option, Reply
from tutor.models import payment_events, utcnow
from tutor.text import fold, local_zone, parse_choice

logger = logging.getLogger(__name__)

#: Agents whose turns are lessons: metered, and behind the paywall when nothing is left.
PAID_AGENTS = frozenset({"conversation", "grammar", "vocabulary", "pronunciation"})

CANCEL = re.compile(r"\b(?:cancel\w*|unsubscribe|darme de baja|dar de baja|baja)\b")
BUY = re.compile(
    r"\b(?:upgrade|buy|purchase|plans|prices|pricing|pay|subscribe|premium|pack|packs"
    r"|mejorar|comprar|planes|precios|pagar|suscribirme|paquete|paquetes)\b"
)
_YES = frozenset({"yes", "y", "si", "confirm", "cancel", "cancelar", "yes cancel", "si cancelar"})
_NO = frozenset({"no", "nope", "keep", "keep it", "mantener", "no mantenerlo", "no keep it"})
SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£", "INR": "₹", "BRL": "R$"}


def money(amount: int, currency: str) -> str:
    code = currency.upper()
    value = f"{amount / 100:.2f}"
    symbol = SYMBOL.get(code)
    return f"{symbol}{value}" if symbol else f"{value} {code}"


@dataclass(frozen=True, slots=True)
class Checkout:
    """The ways to pay a worker can reach; each None when not configured."""

    #: A plan's Stripe Payment Link for a learner's reference.
    stripe_link: Callable[[Plan, str], str] | None = None
    #: Cancel a Stripe subscription at its period end; returns that end.
    stripe_cancel: Callable[[str], datetime | None] | None = None
    #: Cancel a Stars subscription: (Telegram user id, its first charge id).
    stars_cancel: Callable[[str, str], None] | None = None
    #: The currency WhatsApp Pay takes for a phone number, None where it does not exist.
    whatsapp_pay: Callable[[str], str | None] | None = None
    #: A WhatsApp Pay order for (plan, learner id, currency, language).
    whatsapp_order: Callable[[Plan, int, str, str], dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    plan: Plan
    label: str


class SubscriptionAgent:
    """Answers about plans and payments; gates paid features for the dispatcher."""

    name = "subscription"

    def __init__(
        self,
        engine: Engine,
        catalog: Catalog,
        meter: Meter,
        checkout: Checkout | None = None,
        fallback: Agent | None = None,
    ) -> None:
        self.engine = engine
        self.catalog = catalog
        self.meter = meter
        self.checkout = checkout or Checkout()
        #: Answers a message that leaves an open question (offers, "are you sure?").
        self.fallback = fallback

    # The gate -----------------------------------------------------------

    def admit(self, inbound: Inbound, context: Context, agent: str) -> Outcome | None:
        """None when ``agent`` may answer this turn; else the paywall."""
        if agent not in PAID_AGENTS or context.learner_id is None:
            return None
        if inbound.channel is Channel.CONSOLE:
            return None  # the operator's own console is never metered
        admission = self.meter.admit(
            context.learner_id,
            context.request_id or f"{inbound.channel.value}:{inbound.provider_message_id}",
            voice=inbound.kind in (Kind.VOICE, Kind.AUDIO),
            now=utcnow(),
            zone=local_zone(context.profile.get("timezone")),
        )
        if admission.allowed:
            return None
        logger.info("paywall", extra={"exhausted": str(admission.exhausted)})
        lang = context.lang
        reason = "paywall_voice" if admission.exhausted is Feature.VOICE else "paywall_lessons"
        if not admission.limit:
            reason = "paywall_lessons_none"
        later = "paywall_later_voice" if admission.exhausted is Feature.VOICE else "paywall_later"
        head = t(reason, lang, limit=admission.limit)
        return self._offers(inbound, context, head, t(later, lang))

    # Turns --------------------------------------------------------------

    def start(self, context: Context) -> Outcome:
        return Outcome(self.name, (Reply(self._status(context)),), state={})

    def handle(self, inbound: Inbound, context: Context) -> Outcome:
        if inbound.kind is Kind.PAYMENT:
            return self.payment(inbound, context)
        exercise = context.state.get("exercise")
        if isinstance(exercise, dict) and exercise.get("agent") == self.name:
            if exercise.get("type") == "offer":
                return self._chosen(inbound, context, exercise)
            if exercise.get("type") == "cancel":
                return self._cancel_answer(inbound, context)
        folded = fold(inbound.button or inbound.text)
        if inbound.button and inbound.button.startswith("buy:"):
            return self._buy(inbound, context, inbound.button[4:])
        if CANCEL.search(folded):
            return self._cancel_question(context)
        if BUY.search(folded):
            return self._offers(inbound, context, "", "")
        return self.start(context)

    def payment(self, inbound: Inbound, context: Context) -> Outcome:
        """A Stars payment or refund reported in the learner's chat, applied once."""
        update = inbound.payment
        if update is None or context.learner_id is None:
            return Outcome("payments", ())
        event = stars.event(update, context.learner_id, inbound.sent_at, context.request_id)
        applied = ledger.record(self.engine, event, self.catalog)
        text = confirmation(applied, context.lang)
        return Outcome("payments", (Reply(text),) if text else ())

    # Status -------------------------------------------------------------

    def _status(self, context: Context) -> str:
        if context.learner_id is None:
            return t("offer_none", context.lang)
        lang = context.lang
        now = utcnow()
        allowance = self.meter.allowance(
            context.learner_id, now, local_zone(context.profile.get("timezone"))
        )
        record = allowance.entitlement
        lines = []
        if allowance.subscribed:
            plan = self.catalog.get(record.plan)
            name = plan.name(lang) if plan else record.plan
            if record.rail == "stars":
                name += " ⭐"
            date = day(record.next_payment_date, lang)
            if record.rail == ledger.RAIL[Provider.ADMIN]:
                lines.append(t("plan_status_granted", lang, plan=name, date=date))
            elif record.cancel_at_period_end or record.rail == ledger.RAIL[Provider.WHATSAPP]:
                lines.append(t("plan_status_ending", lang, plan=name, date=date))
            else:
                lines.append(t("plan_status_subscribed", lang, plan=name, date=date))
        else:
            lines.append(
                t(
                    "plan_status_free",
                    lang,
                    lessons=allowance.lessons_left,
                    lessons_limit=allowance.lessons_limit,
                    voice=allowance.voice_left,
                    voice_limit=allowance.voice_limit,
                )
            )
        if record.lessons_remaining:
            lines.append(t("plan_status_pack", lang, count=record.lessons_remaining))
        last = self._last_payment(record, lang)
        if last:
            lines.append(last)
        subscribed_here = allowance.subscribed and record.rail in ("stars", "stripe")
        if subscribed_here and not record.cancel_at_period_end:
            lines.append(t("plan_how_to_cancel", lang))
        elif not allowance.subscribed:
            lines.append(t("plan_how_to_upgrade", lang))
        return "\n".join(lines)

    def _last_payment(self, record: Entitlement, lang: str) -> str | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(payment_events.c.plan, payment_events.c.occurred_at)
                .where(
                    payment_events.c.learner_id == record.learner_id,
                    payment_events.c.status == Status.APPLIED.value,
                    payment_events.c.kind.in_((EventKind.PURCHASE.value, EventKind.RENEWAL.value)),
                )
                .order_by(payment_events.c.occurred_at.desc(), payment_events.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        plan = self.catalog.get(row.plan or "")
        what = plan.name(lang) if plan else str(row.plan)
        return t("plan_history", lang, what=what, date=day(row.occurred_at, lang))

    # Offers -------------------------------------------------------------

    def _offer_list(self, inbound: Inbound, context: Context) -> list[Offer]:
        lang = context.lang
        offers = []
        currency = self._whatsapp_currency(inbound)
        for plan in self.catalog.plans:
            monthly = plan.kind is PlanKind.SUBSCRIPTION
            if inbound.channel is Channel.TELEGRAM:
                if not plan.stars:
                    continue
                key = "offer_stars_month" if monthly else "offer_stars_pack"
                price = t(key, lang, amount=plan.stars, lessons=plan.lessons)
            elif inbound.channel is Channel.WHATSAPP:
                key = "offer_money_month" if monthly else "offer_money_pack"
                if currency and plan.prices.get(currency):
                    amount = money(plan.prices[currency], currency)
                elif self.checkout.stripe_link is not None and plan.on_stripe:
                    amount = money(plan.stripe_amount, plan.currency)
                else:
                    continue
                price = t(key, lang, amount=amount, lessons=plan.lessons)
            else:
                continue
            offers.append(Offer(plan, price))
        return offers

    def _whatsapp_currency(self, inbound: Inbound) -> str | None:
        if inbound.channel is not Channel.WHATSAPP or self.checkout.whatsapp_pay is None:
            return None
        if self.checkout.whatsapp_order is None:
            return None
        return self.checkout.whatsapp_pay(inbound.chat_id)

    def _offers(self, inbound: Inbound, context: Context, head: str, later: str) -> Outcome:
        lang = context.lang
        offers = self._offer_list(inbound, context)
        if not offers:
            none = "offer_none" if inbound.channel in (Channel.WEB, Channel.CONSOLE) else None
            text = "\n".join(p for p in (head, later, t(none or "offer_unavailable", lang)) if p)
            return Outcome(self.name, (Reply(text),), state={})
        between = t("paywall_or", lang)
        summary = t("paywall_offer", lang, offers=between.join(o.label for o in offers))
        text = "\n".join(p for p in (head, summary, t("paywall_pick", lang)) if p)
        options = tuple(
            Option(f"buy:{o.plan.id}", f"{o.plan.name(lang)} — {o.label}") for o in offers
        )
        state = {
            "exercise": {
                "agent": self.name,
                "type": "offer",
                "options": [o.plan.id for o in offers],
            }
        }
        replies = [Reply(text, options)]
        if later:
            replies.append(Reply(later))
        return Outcome(self.name, tuple(replies), state=state)

    def _chosen(self, inbound: Inbound, context: Context, exercise: dict[str, Any]) -> Outcome:
        plans = [str(p) for p in exercise.get("options", [])]
        button = inbound.button or ""
        if button.startswith("buy:") and button[4:] in plans:
            return self._buy(inbound, context, button[4:])
        index = parse_choice(inbound.text, len(plans)) if inbound.text else None
        if index is not None:
            return self._buy(inbound, context, plans[index])
        folded = fold(inbound.text)
        for plan_id in plans:
            plan = self.catalog.get(plan_id)
            if plan and any(fold(name) == folded for name in plan.title.values()):
                return self._buy(inbound, context, plan_id)
        return self._moved_on(inbound, context)

    def _buy(self, inbound: Inbound, context: Context, plan_id: str) -> Outcome:
        plan = self.catalog.get(plan_id)
        lang = context.lang
        if plan is None or context.learner_id is None:
            return self._offers(inbound, context, "", "")
        monthly = plan.kind is PlanKind.SUBSCRIPTION
        description = (
            t("invoice_description_month", lang)
            if monthly
            else t("invoice_description_pack", lang, lessons=plan.lessons)
        )
        try:
            invoice = self._invoice(inbound, context, plan, description)
        except TutorError:
            logger.warning("could not make a payment link", exc_info=True)
            invoice = None
        if invoice is None:
            return Outcome(self.name, (Reply(t("offer_unavailable", lang)),), state={})
        return Outcome(self.name, (Reply(invoice=invoice),), state={})

    def _invoice(
        self, inbound: Inbound, context: Context, plan: Plan, description: str
    ) -> Invoice | None:
        learner_id = context.learner_id
        assert learner_id is not None
        lang = context.lang
        now = utcnow()
        if inbound.channel is Channel.TELEGRAM and plan.stars:
            return stars.invoice(plan, learner_id, lang, description, now)
        if inbound.channel is not Channel.WHATSAPP:
            return None
        currency = self._whatsapp_currency(inbound)
        if currency and plan.prices.get(currency) and self.checkout.whatsapp_order:
            order = self.checkout.whatsapp_order(plan, learner_id, currency, lang)
            amount = plan.prices[currency]
            payload = str(order.get("reference_id", ""))
            return Invoice(plan.name(lang), description, payload, currency, amount, order=order)
        if self.checkout.stripe_link is None or not plan.on_stripe:
            return None
        from payments.entitlements import ensure

        with self.engine.begin() as connection:
            reference = ensure(connection, learner_id, now).reference
        url = self.checkout.stripe_link(plan, reference)
        return Invoice(
            plan.name(lang), description, reference, plan.currency, plan.stripe_amount, url=url
        )

    def _moved_on(self, inbound: Inbound, context: Context) -> Outcome:
        """The learner went on without answering: the question closes, the message is
        answered as if nothing was open (metered like any tutoring turn)."""
        context = _without_exercise(context)
        folded = fold(inbound.text)
        if self.fallback is None or CANCEL.search(folded) or BUY.search(folded):
            return self.handle(inbound, context)
        paywall = self.admit(inbound, context, self.fallback.name)
        if paywall is not None:
            return paywall
        outcome = self.fallback.handle(inbound, context)
        return outcome if outcome.state is not None else replace(outcome, state=context.state)

    # Cancelling ---------------------------------------------------------

    def _record(self, context: Context) -> Entitlement | None:
        if context.learner_id is None:
            return None
        now = utcnow()
        allowance = self.meter.allowance(
            context.learner_id, now, local_zone(context.profile.get("timezone"))
        )
        return allowance.entitlement if allowance.subscribed else None

    def _cancel_question(self, context: Context) -> Outcome:
        lang = context.lang
        record = self._record(context)
        if record is None:
            return Outcome(self.name, (Reply(t("cancel_nothing", lang)),), state={})
        plan = self.catalog.get(record.plan)
        name = plan.name(lang) if plan else record.plan
        date = day(record.next_payment_date, lang)
        if record.cancel_at_period_end or record.rail not in ("stars", "stripe"):
            return Outcome(self.name, (Reply(t("cancel_already", lang, plan=name, date=date)),))
        options = (Option("yes", t("cancel_yes", lang)), Option("no", t("cancel_no", lang)))
        reply = Reply(t("cancel_confirm", lang, plan=name, date=date), options)
        state = {"exercise": {"agent": self.name, "type": "cancel"}}
        return Outcome(self.name, (reply,), state=state)

    def _cancel_answer(self, inbound: Inbound, context: Context) -> Outcome:
        lang = context.lang
        answer = fold(inbound.button or inbound.text)
        index = parse_choice(inbound.text, 2) if inbound.text else None
        if answer in _NO or index == 1:
            return Outcome(self.name, (Reply(t("cancel_kept", lang)),), state={})
        if not (answer in _YES or index == 0):
            return self._moved_on(inbound, context)
        record = self._record(context)
        if record is None:
            return Outcome(self.name, (Reply(t("cancel_nothing", lang)),), state={})
        try:
            until = self._cancel_at_provider(inbound, record)
        except TutorError:
            logger.warning("cancelling at the provider failed", exc_info=True)
            return Outcome(self.name, (Reply(t("cancel_failed", lang)),), state={})
        plan = self.catalog.get(record.plan)
        name = plan.name(lang) if plan else record.plan
        date = day(until or record.next_payment_date, lang)
        return Outcome(self.name, (Reply(t("cancel_done", lang, plan=name, date=date)),), state={})

    def _cancel_at_provider(self, inbound: Inbound, record: Entitlement) -> datetime | None:
        """Cancel at the provider; the record changes only once the provider confirmed."""
        ref = record.subscription_ref
        if record.rail == "stripe" and ref and self.checkout.stripe_cancel is not None:
            return self.checkout.stripe_cancel(ref)  # Stripe's webhook records it
        if record.rail == "stars" and ref and self.checkout.stars_cancel is not None:
            charge = ref  # a Stars subscription is known by its first charge
            user_id = inbound.learner_key.split(":", 1)[1]
            self.checkout.stars_cancel(user_id, charge)
            event = PaymentEvent(
                provider=Provider.TELEGRAM,
                event_id=f"cancel:{charge}:{record.next_payment_date:%Y%m%d}",
                kind=EventKind.CANCEL,
                occurred_at=utcnow(),
                learner_id=record.learner_id,
                subscription_ref=ref,
            )
            ledger.record(self.engine, event, self.catalog)
            return record.next_payment_date
        raise TutorError(f"no way to cancel a {record.rail} subscription here")


def _without_exercise(context: Context) -> Context:
    state = {k: v for k, v in context.state.items() if k != "exercise"}
    return replace(context, state=state)
