"""Reminders from the chat, in English and Spanish: stop, start, and "remind me at 7pm"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tests.support.harness import Harness
from tutor.models import learners
from tutor.reminder_times import Policy, next_due
from tutor.reminders import run_due


def _row(harness: Harness, key: str) -> Any:
    with harness.services.engine.connect() as connection:
        return connection.execute(select(learners).where(learners.c.key == key)).one()


def test_remind_me_at_7pm_sets_the_time_and_schedules_it(harness: Harness) -> None:
    harness.onboard(601)
    before = datetime.now(UTC)
    assert harness.telegram_says(601, "remind me at 7pm") == [
        "I'll remind you at 19:00 (UTC time)."
    ]
    row = _row(harness, "telegram:601")
    assert (row.profile["practice_time"], row.profile["reminders"]) == ("19:00", True)
    assert row.next_reminder_at >= before  # the scheduler's next minute puts it in place
    run_due(harness.services.engine, datetime.now(UTC), Policy())
    expected = next_due(row.profile, datetime.now(UTC))
    assert _row(harness, "telegram:601").next_reminder_at == expected
    assert expected.hour == 19


def test_remind_me_at_0730_and_in_quiet_hours(harness: Harness) -> None:
    harness.onboard(602)
    assert harness.telegram_says(602, "remind me at 07:30") == [
        "07:30 is in my quiet hours, so I'll write at 08:00 (UTC time) instead."
    ]
    assert _row(harness, "telegram:602").profile["practice_time"] == "07:30"
    assert harness.telegram_says(602, "/remind 18:15") == ["I'll remind you at 18:15 (UTC time)."]


def test_stop_and_start_reminders_in_english(harness: Harness) -> None:
    harness.onboard(603)
    stopped = harness.telegram_says(603, "stop reminders")
    assert stopped == ['Okay, no more reminders. Send "start reminders" to turn them back on.']
    row = _row(harness, "telegram:603")
    assert (row.profile["reminders"], row.next_reminder_at) == (False, None)
    started = harness.telegram_says(603, "start reminders")
    assert started == ["Reminders are on again ⏰\nI'll remind you at 19:00 (UTC time)."]
    assert _row(harness, "telegram:603").next_reminder_at is not None


def test_the_same_in_spanish(harness: Harness) -> None:
    harness.onboard(604, target="en")  # explained in Spanish
    assert harness.telegram_says(604, "recuérdame a las 19:00") == [
        "Te avisaré a las 19:00 (hora de UTC)."
    ]
    assert harness.telegram_says(604, "para los recordatorios") == [
        'Vale, sin recordatorios. Manda "activar recordatorios" para volver a activarlos.'
    ]
    assert _row(harness, "telegram:604").next_reminder_at is None
    assert harness.telegram_says(604, "activa los recordatorios") == [
        "Recordatorios activados de nuevo ⏰\nTe avisaré a las 19:00 (hora de UTC)."
    ]
    assert _row(harness, "telegram:604").next_reminder_at is not None
    assert harness.telegram_says(604, "no más recordatorios")[0].startswith("Vale, sin")
    assert _row(harness, "telegram:604").profile["reminders"] is False


def test_commands_work_with_an_exercise_open(harness: Harness) -> None:
    harness.onboard(605)
    harness.telegram_says(605, "4")  # vocabulary: a question is open
    assert _row(harness, "telegram:605").state.get("exercise")
    assert harness.telegram_says(605, "remind me at 8pm") == [
        "I'll remind you at 20:00 (UTC time)."
    ]
