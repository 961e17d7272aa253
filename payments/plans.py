"""What learners can buy and what the free tier allows, read from a YAML file.

The shipped ``payments/plans.yaml`` has a free tier (lessons a week, voice notes a
day), a monthly subscription and a pack of lessons; ``TUTOR_PLANS_FILE`` names another
file of the same shape. Prices are per rail: whole Telegram Stars, and minor units of a
currency for Stripe. A file that does not parse or names impossible prices stops the
service at start, with the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from tutor.errors import ConfigurationError

SHIPPED = Path(__file__).with_name("plans.yaml")
#: Telegram allows one Stars subscription period, 30 days, and at most 10,000 Stars.
STARS_SUBSCRIPTION_MAX = 10_000
STARS_PACK_MAX = 100_000
FREE = "free"


class PlanKind(StrEnum):
    SUBSCRIPTION = "subscription"
    PACK = "pack"


@dataclass(frozen=True, slots=True)
class Plan:
    """One thing to buy. ``stars`` 0 or ``stripe_amount`` 0: not sold on that rail."""

    id: str
    kind: PlanKind
    title: dict[str, str]
    stars: int = 0
    stripe_amount: int = 0
    currency: str = "eur"
    stripe_price: str = ""
    stripe_link: str = ""
    lessons: int = 0
    #: Other currencies' prices in minor units (WhatsApp Pay: INR in India, BRL in Brazil).
    prices: dict[str, int] = field(default_factory=dict)

    def name(self, lang: str) -> str:
        return self.title.get(lang) or self.title.get("en") or self.id

    @property
    def on_stripe(self) -> bool:
        return self.stripe_amount > 0 or bool(self.stripe_price or self.stripe_link)


@dataclass(frozen=True, slots=True)
class FreeTier:
    lessons_per_week: int = 3
    voice_notes_per_day: int = 3


@dataclass(frozen=True, slots=True)
class Catalog:
    """The free tier and the plans, in the file's order (offers are shown in it)."""

    free: FreeTier
    plans: tuple[Plan, ...] = field(default=())

    def get(self, plan_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.id == plan_id), None)

    @property
    def subscription(self) -> Plan | None:
        return next((p for p in self.plans if p.kind is PlanKind.SUBSCRIPTION), None)


def load(path: Path | None = None) -> Catalog:
    """Read and check a plans file (the shipped one when ``path`` is None)."""
    source = path or SHIPPED
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"plans file {source}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"plans file {source}: not a mapping")
    return parse(data, str(source))


def parse(data: dict[str, Any], where: str = "plans") -> Catalog:
    """A Catalog from the file's mapping; ConfigurationError names the field at fault."""
    free = data.get("free") or {}
    if not isinstance(free, dict):
        raise ConfigurationError(f"{where}: free must be a mapping")
    tier = FreeTier(
        lessons_per_week=_count(free, "lessons_per_week", f"{where}: free", default=3),
        voice_notes_per_day=_count(free, "voice_notes_per_day", f"{where}: free", default=3),
    )
    plans = data.get("plans") or {}
    if not isinstance(plans, dict):
        raise ConfigurationError(f"{where}: plans must be a mapping of plan id to plan")
    return Catalog(tier, tuple(_plan(str(key), value, where) for key, value in plans.items()))


def _plan(plan_id: str, value: Any, where: str) -> Plan:
    at = f"{where}: plans.{plan_id}"
    if plan_id == FREE or not plan_id.replace("_", "").isalnum() or len(plan_id) > 24:
        raise ConfigurationError(f"{at}: a plan id is up to 24 letters, digits or _, not 'free'")
    if not isinstance(value, dict):
        raise ConfigurationError(f"{at}: must be a mapping")
    try:
        kind = PlanKind(str(value.get("kind")))
    except ValueError:
        raise ConfigurationError(f"{at}.kind: subscription or pack") from None
    title = value.get("title") or {"en": plan_id}
    if isinstance(title, str):
        title = {"en": title}
    if not isinstance(title, dict) or not all(isinstance(v, str) for v in title.values()):
        raise ConfigurationError(f"{at}.title: a text or a mapping of language to text")
    plan = Plan(
        id=plan_id,
        kind=kind,
        title={str(k): v for k, v in title.items()},
        stars=_count(value, "stars", at),
        stripe_amount=_count(value, "stripe_amount", at),
        currency=str(value.get("currency") or "eur").lower(),
        stripe_price=str(value.get("stripe_price") or ""),
        stripe_link=str(value.get("stripe_link") or ""),
        lessons=_count(value, "lessons", at),
        prices=_prices(value.get("prices"), at),
    )
    if kind is PlanKind.PACK and plan.lessons < 1:
        raise ConfigurationError(f"{at}.lessons: a pack adds at least one lesson")
    limit = STARS_SUBSCRIPTION_MAX if kind is PlanKind.SUBSCRIPTION else STARS_PACK_MAX
    if plan.stars > limit:
        raise ConfigurationError(f"{at}.stars: Telegram allows at most {limit:,} Stars here")
    if len(plan.currency) != 3 or not plan.currency.isalpha():
        raise ConfigurationError(f"{at}.currency: a three-letter ISO code")
    if not plan.stars and not plan.on_stripe:
        raise ConfigurationError(f"{at}: give a price in stars or stripe_amount")
    return plan


def _count(data: dict[str, Any], key: str, at: str, default: int = 0) -> int:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{at}.{key}: a whole number, 0 or more")
    return value


def _prices(value: Any, at: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigurationError(f"{at}.prices: a mapping of currency to minor units")
    prices = {}
    for currency in value:
        code = str(currency).upper()
        if len(code) != 3 or not code.isalpha():
            raise ConfigurationError(f"{at}.prices.{currency}: a three-letter ISO code")
        prices[code] = _count(value, currency, f"{at}.prices")
    return prices
