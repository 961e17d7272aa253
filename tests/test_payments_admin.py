"""The admin side of payments from the command line: status, grants, Stars refunds; and a
learner's payments kept anonymised when they are erased."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from memory import erase
from tests.conftest import channel_env
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp
from tests.support import payloads
from tests.support.harness import Harness
from tutor import cli
from tutor.models import entitlements, payment_events


@pytest.fixture
def runner(
    harness: Harness,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
    monkeypatch: pytest.MonkeyPatch,
) -> CliRunner:
    env = {
        **channel_env(fake_telegram, fake_whatsapp),
        "TUTOR_DATABASE_URL": str(harness.settings.database_url),
        "TUTOR_VAR_DIR": str(harness.settings.var_dir),
        "TUTOR_SECRET_KEY": "test-secret-key",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner()


def _invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(cli.main, ["payments", *args])


def _buy_pack(harness: Harness, user_id: int, charge: str) -> None:
    harness.telegram_says(user_id, "upgrade")
    harness.telegram_says(user_id, "2")
    assert harness.telegram is not None
    invoice = [m.payload for m in harness.telegram.sent if m.method == "sendInvoice"][-1]
    body = payloads.telegram_stars_payment(user_id, invoice["payload"], 49, charge)
    assert harness.post_telegram(body) == 200
    harness.worker.sweep()


def test_a_grant_is_audited_and_the_learner_is_told(harness: Harness, runner: CliRunner) -> None:
    harness.onboard(601)
    refused = _invoke(runner, "grant", "telegram:601", "--days", "30")
    assert refused.exit_code != 0 and "--reason" in refused.output
    result = _invoke(runner, "grant", "telegram:601", "--days", "30", "--reason", "school prize")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("applied: granted monthly until ")
    assert "school prize (by cli)" in result.stdout
    harness.worker.sweep()
    assert harness.telegram is not None
    told = harness.telegram.sent_texts(601)[-1]
    assert told.startswith("Good news: you've been given Monthly (")
    status = harness.telegram_says(601, "subscription status")[0]
    assert status.startswith("Plan: Monthly (a gift) · until ")
    shown = _invoke(runner, "status", "telegram:601")
    assert "plan: monthly (active), rail: grant" in shown.stdout
    assert "admin grant" in shown.stdout and "[applied]" in shown.stdout
    missing = _invoke(runner, "grant", "telegram:999", "--lessons", "1", "--reason", "x")
    assert missing.exit_code != 0 and "no learner 'telegram:999'" in missing.output


def test_a_stars_refund_from_the_admin_side_is_applied_once(
    harness: Harness, runner: CliRunner, fake_telegram: FakeTelegram
) -> None:
    harness.onboard(602)
    _buy_pack(harness, 602, "stxREF1")
    unknown = _invoke(runner, "refund", "telegram:602", "stxNOPE", "--reason", "asked")
    assert unknown.exit_code != 0 and "no Stars payment 'stxNOPE'" in unknown.output
    result = _invoke(runner, "refund", "telegram:602", "stxREF1", "--reason", "asked")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("applied: -10 lessons (0 left)")
    (refund,) = fake_telegram.star_refunds
    assert refund["user_id"] in (602, "602") and refund["telegram_payment_charge_id"] == "stxREF1"
    harness.worker.sweep()
    assert fake_telegram.sent_texts(602)[-1] == (
        "Your refund went through. You have 0 lessons from packs."
    )
    # Telegram's own refund update for the same charge changes nothing and says nothing.
    before = len(fake_telegram.sent_texts(602))
    body = payloads.telegram_stars_payment(602, "pack10:1:1", 49, "stxREF1", refunded=True)
    assert harness.post_telegram(body) == 200
    harness.worker.sweep()
    assert len(fake_telegram.sent_texts(602)) == before
    with harness.services.engine.connect() as connection:
        kinds = (
            connection.execute(select(payment_events.c.kind).order_by(payment_events.c.id))
            .scalars()
            .all()
        )
    assert kinds == ["purchase", "refund"]


def test_an_erased_learners_payments_stay_anonymised(harness: Harness) -> None:
    harness.onboard(603)
    _buy_pack(harness, 603, "stxERASE")
    erase.erase(harness.services.engine, harness.services.redis, "telegram:603")
    with harness.services.engine.connect() as connection:
        (row,) = connection.execute(select(payment_events)).all()
        assert connection.execute(select(entitlements)).all() == []
    assert row.learner_id is None and row.amount == 49 and row.plan == "pack10"
    assert set(row.data) <= {"provider", "kind", "plan", "amount", "currency", "occurred_at"}
    assert "603" not in str(row.data)
