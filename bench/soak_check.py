"""After the soak: match every webhook to its replies at the fakes, and check exactly-once.

A webhook that created an inbox row is answered by the outbox rows of that row (one
transaction writes them all); each outbox row records the message ids the platform
gave back, and the fakes logged when each id's request arrived. So:

- lost: an accepted webhook without an inbox row, a row not done, a row without replies,
  an outbox row not sent, or a recorded message id the fake never accepted;
- answered twice: a row whose replies come from two transactions (two ``created_at``),
  or a send at the fake that no outbox row claims (a reply delivered again);
- payments: each Stars charge and Stripe checkout sent is one applied ``payment_events``
  row, and the learners' event counts match what they paid.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select

from bench import soak_traffic as traffic
from bench.soak_fakes import Delivery, EdgeReport
from tutor.models import dead_letters, inbox, learners, outbox, payment_events

if TYPE_CHECKING:
    from bench.soak import Sent


@dataclass
class Answered:
    """One measured webhook and when its first (and last) reply reached the platform."""

    kind: str
    due: float
    acknowledged: float
    first: float | None = None
    last: float | None = None
    replies: int = 0


@dataclass
class Check:
    accepted: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    answered: list[Answered] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    inbox_status: Counter[str] = field(default_factory=Counter)
    outbox_status: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    sends_at_fakes: int = 0
    payments_sent: Counter[str] = field(default_factory=Counter)
    payments_applied: Counter[str] = field(default_factory=Counter)
    log_errors: Counter[str] = field(default_factory=Counter)
    log_warnings: Counter[str] = field(default_factory=Counter)

    @property
    def failures(self) -> list[str]:
        return [f"{name}: {n}" for name, n in sorted(self.problems.items()) if n]

    @property
    def passed(self) -> bool:
        return not self.failures

    def problem(self, name: str, example: str = "") -> None:
        self.problems[name] += 1
        if example and len(self.examples[name]) < 5:
            self.examples[name].append(example)


def verify(engine: Engine, sent: Sequence[Sent], edge: EdgeReport, logs: list[Path]) -> Check:
    check = Check()
    arrivals = {(d.channel, d.provider_id): d for d in edge.deliveries}
    check.sends_at_fakes = len(edge.deliveries)
    with engine.connect() as connection:
        rows = {
            (str(r.channel), str(r.provider_message_id)): r
            for r in connection.execute(
                select(inbox.c.id, inbox.c.channel, inbox.c.provider_message_id, inbox.c.status)
            )
        }
        replies: dict[int | None, list[Any]] = defaultdict(list)
        notices: dict[str, list[Any]] = defaultdict(list)
        for r in connection.execute(select(outbox).order_by(outbox.c.id)):
            check.outbox_status[str(r.status)] += 1
            if r.inbox_id is None:
                notices[str(r.learner_key)].append(r)
            replies[r.inbox_id].append(r)
        check.dead_letters = int(
            connection.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        )
        applied = connection.execute(
            select(learners.c.key, payment_events.c.provider, payment_events.c.status).select_from(
                payment_events.join(learners)
            )
        ).all()
    for row in rows.values():
        check.inbox_status[str(row.status)] += 1
    if check.dead_letters:
        check.problem("dead letters")
    _outbox(check, replies, arrivals, edge.deliveries)
    _webhooks(check, sent, rows, replies, notices, arrivals)
    _payments(check, sent, applied)
    _logs(check, logs)
    return check


def _outbox(
    check: Check,
    replies: dict[int | None, list[Any]],
    arrivals: dict[tuple[str, str], Delivery],
    deliveries: list[Delivery],
) -> None:
    claimed: set[tuple[str, str]] = set()
    for rows in replies.values():
        for row in rows:
            ids = [str(i) for i in (row.provider_message_ids or [])]
            if row.status != "sent" or not ids:
                check.problem(f"outbox row {row.status}", f"outbox {row.id}: {row.error}")
            for provider_id in ids:
                key = (str(row.channel), provider_id)
                if key not in arrivals:
                    check.problem("message id never seen at the fake", f"outbox {row.id}")
                claimed.add(key)
    for delivery in deliveries:
        if (delivery.channel, delivery.provider_id) not in claimed:
            check.problem(
                "send at the fake no outbox row claims (sent twice)",
                f"{delivery.channel} {delivery.chat} {delivery.method}",
            )


def _first_last(rows: list[Any], arrivals: dict[tuple[str, str], Delivery]) -> list[float]:
    times = []
    for row in rows:
        for provider_id in row.provider_message_ids or []:
            found = arrivals.get((str(row.channel), str(provider_id)))
            if found is not None:
                times.append(found.arrived)
    return sorted(times)


def _webhooks(
    check: Check,
    sent: Sequence[Sent],
    rows: dict[tuple[str, str], Any],
    replies: dict[int | None, list[Any]],
    notices: dict[str, list[Any]],
    arrivals: dict[tuple[str, str], Delivery],
) -> None:
    stripe_by_learner: dict[str, list[tuple[Sent, Answered]]] = defaultdict(list)
    for item in sent:
        if not 200 <= item.status < 300:
            check.refused[f"{item.kind}: {item.status or item.error}"] += 1
            continue
        check.accepted += 1
        answered = Answered(item.kind, item.due, item.done)
        check.answered.append(answered)
        if item.kind == traffic.STARS_CHECKOUT:
            answered.first = answered.last = item.done  # answered in the response body
            answered.replies = 1
            if not item.answer_ok:
                check.problem("pre-checkout refused", item.learner_key)
            continue
        if item.kind == traffic.STRIPE_PAYMENT:
            stripe_by_learner[item.learner_key].append((item, answered))
            continue
        row = rows.get((item.channel, item.provider_id))
        if row is None:
            check.problem("accepted but not in the inbox (lost)", item.provider_id)
            continue
        if row.status != "done":
            check.problem(f"inbox row {row.status}", f"inbox {row.id}")
        mine = replies.get(row.id, [])
        if not mine:
            check.problem("inbox row without a reply (unanswered)", f"inbox {row.id}")
            continue
        if len({r.created_at for r in mine}) > 1:
            check.problem("inbox row answered by two turns (answered twice)", f"inbox {row.id}")
        times = _first_last(mine, arrivals)
        answered.replies = len(mine)
        if times:
            answered.first, answered.last = times[0], times[-1]
    for key, pairs in stripe_by_learner.items():
        told = notices.get(key, [])
        if len(told) != len(pairs):
            check.problem(
                "Stripe payments and notices differ", f"{key}: {len(pairs)} paid, {len(told)} told"
            )
        for (_, answered), notice in zip(sorted(pairs, key=lambda p: p[0].due), told, strict=False):
            times = _first_last([notice], arrivals)
            answered.replies = 1
            if times:
                answered.first = answered.last = times[0]


def _payments(check: Check, sent: Sequence[Sent], applied: Sequence[Any]) -> None:
    paid: Counter[str] = Counter()
    for item in sent:
        if (
            item.kind in (traffic.STARS_PAYMENT, traffic.STRIPE_PAYMENT)
            and 200 <= item.status < 300
        ):
            paid[item.learner_key] += 1
            check.payments_sent[item.kind] += 1
    events: Counter[str] = Counter()
    for key, provider, status in applied:
        check.payments_applied[f"{provider} {status}"] += 1
        if status == "applied":
            events[str(key)] += 1
        else:
            check.problem(f"payment event {status}", str(key))
    for key in set(paid) | set(events):
        if paid[key] != events[key]:
            check.problem(
                "payments sent and applied differ",
                f"{key}: {paid[key]} sent, {events[key]} applied",
            )


_LEVEL = re.compile(r'"level":\s*"(WARNING|ERROR|CRITICAL)"')


def _logs(check: Check, logs: list[Path]) -> None:
    """WARNING, ERROR and CRITICAL records and tracebacks in the processes' logs, by
    process and message."""
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{") and _LEVEL.search(line):
                try:
                    record = json.loads(line)
                except ValueError:
                    check.log_errors[f"{path.stem}: unparsable error line"] += 1
                    continue
                name = f"{path.stem.split('-')[0]}: {str(record.get('message', ''))[:80]}"
                if record.get("level") == "WARNING":
                    check.log_warnings[name] += 1
                else:
                    check.log_errors[name] += 1
            elif line.startswith("Traceback"):
                check.log_errors[f"{path.stem.split('-')[0]}: traceback"] += 1
