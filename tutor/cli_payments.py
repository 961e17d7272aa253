"""``tutor payments ...``: a learner's plan and history, grants, Stars refunds, reconciliation.

Every change goes through :mod:`payments.admin` (a payment event with the reason) and
tells the learner in their chat, as a payment from a provider would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from payments import admin
from payments.ledger import Applied

if TYPE_CHECKING:
    from tutor.services import Services


def _with_services(action: Callable[[Services], None]) -> None:
    from tutor.cli import _services, _settings

    services = _services(_settings())
    try:
        action(services)
    except admin.AdminError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        services.close()


def _tell(services: Services, applied: Applied) -> None:
    """Report what changed and queue the learner's notice."""
    from tutor import billing

    click.echo(f"{applied.status.value}: {applied.detail}")
    if applied.new and applied.learner_id is not None:
        with services.engine.begin() as connection:
            key = billing.queue_notice(connection, applied)
        billing.notify(services, key)


@click.group()
def payments() -> None:
    """Plans, entitlements and payments."""


@payments.command("status")
@click.argument("key")
def payments_status(key: str) -> None:
    """Learner KEY's plan, what is left, and their payment events."""
    from tutor.models import utcnow

    def show(services: Services) -> None:
        for line in admin.summary(services.engine, key).lines(utcnow()):
            click.echo(line)

    _with_services(show)


@payments.command("grant")
@click.argument("key")
@click.option("--days", type=click.IntRange(min=0), default=0, help="Days of the monthly plan.")
@click.option("--lessons", type=click.IntRange(min=0), default=0, help="Lessons to add.")
@click.option("--reason", required=True, help="Why (kept in the learner's payment history).")
def payments_grant(key: str, days: int, lessons: int, reason: str) -> None:
    """Give learner KEY days of the subscription and/or lessons."""
    _with_services(
        lambda services: _tell(
            services,
            admin.grant(
                services.engine, services.catalog, key, days=days, lessons=lessons, reason=reason
            ),
        )
    )


@payments.command("revoke")
@click.argument("key")
@click.option("--lessons", type=click.IntRange(min=0), default=0, help="Lessons to take back.")
@click.option("--reason", required=True, help="Why (kept in the learner's payment history).")
def payments_revoke(key: str, lessons: int, reason: str) -> None:
    """Take back a granted subscription (or, with --lessons, some lessons) from KEY."""
    _with_services(
        lambda services: _tell(
            services,
            admin.revoke(services.engine, services.catalog, key, lessons=lessons, reason=reason),
        )
    )


@payments.command("refund")
@click.argument("key")
@click.argument("charge_id")
@click.option("--reason", required=True, help="Why (kept in the learner's payment history).")
def payments_refund(key: str, charge_id: str, reason: str) -> None:
    """Refund learner KEY's Stars payment CHARGE_ID (refundStarPayment) and take back
    what it bought."""
    from tutor.channels.telegram import TelegramClient
    from tutor.messages import Channel

    def refund(services: Services) -> None:
        client = services.channels.get(Channel.TELEGRAM)
        if not isinstance(client, TelegramClient):
            raise click.ClickException("Telegram is not configured (TUTOR_TELEGRAM_BOT_TOKEN)")
        applied = admin.refund_stars(
            services.engine,
            services.catalog,
            key,
            charge_id,
            client.refund_star_payment,
            reason=reason,
        )
        _tell(services, applied)

    _with_services(refund)


@payments.command("reconcile")
def payments_reconcile() -> None:
    """Compare Stripe's subscriptions with the entitlement records and report drift."""
    from payments import reconcile
    from tutor.models import utcnow

    def run(services: Services) -> None:
        if services.stripe is None:
            raise click.ClickException("Stripe is not configured (TUTOR_STRIPE_API_KEY)")
        report = reconcile.reconcile_stripe(services.engine, services.stripe, utcnow())
        for line in report.lines():
            click.echo(line)

    _with_services(run)
