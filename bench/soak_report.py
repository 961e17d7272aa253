"""The soak's section of docs/BENCHMARKS.md."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench import rig
from bench import soak_traffic as traffic
from bench.markdown import ms, table
from bench.soak_check import Answered
from bench.soak_fakes import GROQ_LATENCY, STRIPE_LATENCY, TELEGRAM_LATENCY, WHATSAPP_LATENCY
from bench.stats import percentile

if TYPE_CHECKING:
    from bench.soak import Result

TITLE = "## Load and soak: text, voice and payments for 10 minutes"
CHART = "soak-queue.png"  # beside docs/BENCHMARKS.md


def _seconds(values: Sequence[float]) -> list[str]:
    ordered = sorted(values)
    return [_s(percentile(ordered, q)) for q in (50, 90, 99)] + [
        _s(ordered[-1] if ordered else math.nan)
    ]


def _s(value: float) -> str:
    """Seconds as ms below 10 s (the ms helper's precision), else seconds."""
    if math.isnan(value):
        return "–"
    return f"{ms(value * 1000)} ms" if value < 10 else f"{value:.1f} s"


def _latency_rows(answered: list[Answered]) -> list[list[object]]:
    rows: list[list[object]] = []
    for kind in traffic.KINDS:
        mine = [a for a in answered if a.kind == kind]
        if not mine:
            continue
        first = [a.first - a.due for a in mine if a.first is not None]
        acks = [a.acknowledged - a.due for a in mine]
        replies = sum(a.replies for a in mine)
        rows.append(
            [kind, len(mine), len(first), f"{replies / len(mine):.2f}", *_seconds(first)]
            + [_s(percentile(sorted(acks), 50)), _s(percentile(sorted(acks), 99))]
        )
    everything = [a.first - a.due for a in answered if a.first is not None]
    rows.append(["**all**", len(answered), len(everything), "", *_seconds(everything), "", ""])
    return rows


def _minute_rows(result: Result) -> list[list[object]]:
    rows: list[list[object]] = []
    minutes = math.ceil(max((d.at for d in result.watch.depths), default=0.0) / 60)
    answered = result.check.answered
    for minute in range(minutes):
        start, end = minute * 60.0, minute * 60.0 + 60.0
        depths = [d for d in result.watch.depths if start <= d.at < end]
        due = [a for a in answered if start <= a.due - result.started < end]
        arrived = [
            a for a in answered if a.first is not None and start <= a.first - result.started < end
        ]
        latencies = sorted(a.first - a.due for a in due if a.first is not None)
        cores = [c for c in result.watch.cores if start <= c[0] < end]
        rows.append(
            [
                f"{minute}–{minute + 1}",
                len(due),
                len(arrived),
                _mean_max([d.inbox_pending for d in depths]),
                _mean_max([d.outbox_due for d in depths]),
                _s(percentile(latencies, 50)),
                _s(percentile(latencies, 99)),
                _cores(cores),
            ]
        )
    return rows


def _cores(samples: list[tuple[float, float, float]]) -> str:
    if not samples:
        return "–"
    ours = sum(c[1] for c in samples) / len(samples)
    other = sum(c[2] for c in samples) / len(samples)
    return f"{ours:.2f} / {other:.2f}"


def _mean_max(values: list[int]) -> str:
    if not values:
        return "–"
    return f"{sum(values) / len(values):.1f} / {max(values)}"


def _usage_rows(result: Result) -> list[list[object]]:
    seconds = max(1.0, result.load_seconds + (result.drained_after or 0.0))
    messages = max(1, result.check.accepted)
    rows: list[list[object]] = []
    for usage in result.watch.usage.values():
        rows.append(
            [
                usage.name,
                f"{usage.cpu:.1f}",
                f"{usage.cpu / seconds:.2f}",
                f"{usage.cpu / messages * 1000:.1f}",
                f"{usage.peak_cores:.2f}",
                f"{usage.rss_start:.0f}",
                f"{usage.rss_peak:.0f}",
                f"{usage.rss_end:.0f}",
            ]
        )
    machine = result.watch.machine_busy / seconds
    known = sum(u.cpu for u in result.watch.usage.values())
    other = max(0.0, result.watch.machine_busy - known)
    rows.append(["anything else on the machine", f"{other:.1f}", f"{other / seconds:.2f}"])
    rows[-1] += ["", "", "", "", ""]
    rows.append(["**whole machine busy**", f"{result.watch.machine_busy:.1f}", f"{machine:.2f}"])
    rows[-1] += ["", "", "", "", ""]
    return rows


def _counter(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items())) or "none"


def _problems(result: Result) -> str:
    check = result.check
    if check.passed:
        return "**none**: every check below held."
    lines = []
    for name, count in sorted(check.problems.items()):
        examples = "; ".join(check.examples.get(name, []))
        lines.append(f"- **{name}: {count}**" + (f" (e.g. {examples})" if examples else ""))
    return "\n".join(lines)


def throughput(result: Result) -> dict[str, float]:
    check, seconds = result.check, max(1.0, result.load_seconds)
    answered = [a for a in check.answered if a.first is not None]
    in_window = [a for a in answered if a.first is not None and a.first - result.started <= seconds]
    return {
        "offered": len(result.sent) / seconds,
        "accepted": check.accepted / seconds,
        "answered": len(in_window) / seconds,
        "sends": check.sends_at_fakes / max(1.0, seconds + (result.drained_after or 0.0)),
    }


def section(result: Result) -> str:
    options, check, m = result.options, result.check, result.machine
    rates = throughput(result)
    kinds = Counter(e.kind for e in result.plan.events)
    new = sum(1 for p in result.plan.learners if not p.returning)
    telegram = sum(1 for p in result.plan.learners if p.channel == "telegram")
    disturbed = result.background_cores >= rig.DISTURBED_CORES
    other = max(0.0, result.watch.machine_busy - sum(u.cpu for u in result.watch.usage.values()))
    other_cores = other / max(1.0, result.load_seconds + (result.drained_after or 0.0))
    drained = (
        f"{result.drained_after:.1f} s"
        if result.drained_after is not None
        else f"**not drained** after {options.drain_seconds:g} s"
    )
    depth_max = max((d.inbox_pending for d in result.watch.depths), default=0)
    due_max = max((d.outbox_due for d in result.watch.depths), default=0)
    latency = _latency_rows(check.answered)
    return f"""{TITLE}

**What it measures.** The whole production shape at once for {options.minutes:g} minutes:
gunicorn (the repository's `gunicorn.conf.py`, 2 web workers), 2 `tutor worker`
processes, one `tutor scheduler`, private PostgreSQL {result.versions.get("postgres", "?")}
and Redis {result.versions.get("redis", "?")}, with Telegram, WhatsApp, Groq and Stripe
replaced at the network edge by the fakes of `tests/fakes` running in a child process and
answering after realistic delays (Telegram {_span(TELEGRAM_LATENCY)}, WhatsApp
{_span(WHATSAPP_LATENCY)}, Groq {_span(GROQ_LATENCY)}, Stripe {_span(STRIPE_LATENCY)},
uniform). {len(result.plan.learners):,} simulated learners ({telegram:,} on Telegram, the
rest on WhatsApp; {new:,} writing for the first time and going through onboarding, the
others returning with their menu open) send signed webhooks **open-loop** at a mean
**{options.rate:g} messages/s**: each learner one session at a random moment, its messages
{traffic.MIN_THINK:g} s + an exponential {traffic.THINK_SECONDS:g} s apart (thousands of
sessions add up to a Poisson stream), never waiting for a reply; voice notes and payments
are Poisson streams of their own. Mix: {_counter(kinds)}. A voice note is a real
OGG/Opus recording (espeak-ng, {result.voice_seconds:.1f} s) the fake
serves through `getFile` / the media URL, transcribed by the bundled faster-whisper
tiny.en in the worker. A Stars payment is a `pre_checkout_query` (answered in the
webhook's response) and, 2-3 s later, a `successful_payment` for a 10-lesson pack; a
Stripe payment is a signed `checkout.session.completed` for the same pack. Outbound
pacing is on with the platforms' limits (Telegram 30/s per bot, 1/s per chat). Latency is
end to end: from when the webhook was due to when the first reply's request reached
the fake platform (each outbox row records the message ids the fake gave back; the fake
logged when each arrived); for a pre-checkout, its HTTP answer; for Stripe, the notice.
After the load the run waits for the inbox and outbox to empty, then checks
exactly-once from the database and the fakes (`bench/soak_check.py`).

**The rate.** {options.rate:g} messages/s is what this shared 2-core machine held steadily:
in trials on 2026-11-27 (other test suites using about one core meanwhile) 16/s for 2
minutes fell behind (12 answered/s, the inbox backlog past 500 rows and p50 19 s), and
10-12/s for a minute kept up but with the inbox backlog swinging up to 45-130 rows, so
the default leaves headroom. More worker threads (`--worker-threads 8`) did not help:
the workers are short of CPU, not of threads.

**Command:** `{options.command}`

**Machine:** {m.cores} cores, {m.cpu}, {m.memory_gib:.1f} GiB, {m.os}, Python
{m.python}; commit {m.commit}; measured {m.measured_at}.{
        _disturbed(disturbed, result.background_cores, other_cores)
    }

### Throughput

{
        table(
            [
                "Offered/s",
                "Accepted/s",
                "Answered/s",
                "Sends at the fakes/s",
                "Webhooks",
                "Refused",
                "Drained after the load",
            ],
            [
                [
                    f"{rates['offered']:.1f}",
                    f"{rates['accepted']:.1f}",
                    f"{rates['answered']:.1f}",
                    f"{rates['sends']:.1f}",
                    f"{len(result.sent):,}",
                    sum(check.refused.values()),
                    drained,
                ]
            ],
        )
    }

Model calls answered by the fake Groq: {result.edge.model_calls:,}; voice notes downloaded:
{result.edge.voice_downloads:,}; sends accepted by the fakes: {check.sends_at_fakes:,}.

### End-to-end latency by kind

From the webhook's due time to the first reply at the fake platform (p50, p90, p99, max);
"Ack" is the webhook's own HTTP answer.

{
        table(
            [
                "Kind",
                "Accepted",
                "Answered",
                "Replies each",
                "p50",
                "p90",
                "p99",
                "max",
                "Ack p50",
                "Ack p99",
            ],
            latency,
        )
    }

### Queue depth over time

Sampled every {result.watch.interval:g} s from the database: inbox rows pending, outbox
rows due (pending with `next_attempt_at` passed), as mean / max per minute; latency of
the webhooks due in that minute; cores used by the soak's processes and by everything
else on the machine. Peak inbox pending {depth_max}, peak outbox due {due_max}.

{
        table(
            [
                "Minute",
                "Webhooks due",
                "First replies",
                "Inbox pending",
                "Outbox due",
                "p50 e2e",
                "p99 e2e",
                "Cores: soak / other work",
            ],
            _minute_rows(result),
        )
    }

### CPU and memory per process

CPU over the load and the drain ({result.load_seconds + (result.drained_after or 0.0):.0f}
s) from /proc (a process with everything below it, reaped children included); peak cores
over a {result.watch.interval:g}-s sample; RSS in MiB (PostgreSQL: each process's private
memory plus shared memory once; "start" is after the warm-up). "ms per webhook" is CPU
divided by the webhooks accepted.

{
        table(
            [
                "Process",
                "CPU s",
                "Mean cores",
                "ms per webhook",
                "Peak cores",
                "RSS start",
                "RSS peak",
                "RSS end",
            ],
            _usage_rows(result),
        )
    }

### Errors

- Webhooks not answered 2xx: {_counter(check.refused)}.
- Dead letters: {check.dead_letters}.
- ERROR records and tracebacks in the processes' logs: {_counter(check.log_errors)}.
- WARNING records: {_counter(check.log_warnings)}.
- Answers of the fakes: {_counter(result.edge.statuses)}.

### Exactly once

- Inbox rows by status: {_counter(check.inbox_status)}; outbox rows by status:
  {_counter(check.outbox_status)}.
- Payments sent: {_counter(check.payments_sent)}; payment events in the ledger:
  {_counter(check.payments_applied)}.
- Lost or doubled: {_problems(result)}
"""


def _span(span: tuple[float, float]) -> str:
    return f"{span[0] * 1000:.0f}-{span[1] * 1000:.0f} ms"


def _disturbed(disturbed: bool, before: float, during: float) -> str:
    notes = []
    if disturbed or during >= rig.DISTURBED_CORES:
        notes.append(
            f" ⚠ **disturbed**: the 2 cores were shared with other work ({before:.2f} cores busy"
            f" elsewhere just before the run, {during:.2f} on average during it), so the"
            " latencies are pessimistic."
        )
    return "".join(notes)


def summary_line(result: Result) -> str:
    check = result.check
    rates = throughput(result)
    everything = sorted(a.first - a.due for a in check.answered if a.first is not None)
    return (
        f"offered_per_s={rates['offered']:.1f} accepted_per_s={rates['accepted']:.1f} "
        f"answered_per_s={rates['answered']:.1f} p50_s={percentile(everything, 50):.3f} "
        f"p99_s={percentile(everything, 99):.3f} refused={sum(check.refused.values())} "
        f"dead_letters={check.dead_letters} problems={sum(check.problems.values())} "
        f"passed={'yes' if check.passed else 'NO'}"
    )


def chart(result: Result, path: Path) -> None:
    """Queue depth and throughput over the run, as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    depths = result.watch.depths
    figure, (top, bottom, cpu) = pyplot.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    top.plot([d.at for d in depths], [d.inbox_pending for d in depths], label="inbox pending")
    top.plot([d.at for d in depths], [d.outbox_due for d in depths], label="outbox due")
    top.set_ylabel("rows")
    top.legend(loc="upper right")
    top.set_title(f"Soak at {result.options.rate:g} messages/s: queue depth and throughput")
    step = 10.0
    edges = [n * step for n in range(int(result.load_seconds // step))]
    due = Counter(int((s.due - result.started) // step) for s in result.sent)
    first = Counter(
        int((a.first - result.started) // step) for a in result.check.answered if a.first
    )
    top_x = [edge + step / 2 for edge in edges]
    bottom.plot(top_x, [due[n] / step for n in range(len(edges))], label="webhooks sent /s")
    bottom.plot(top_x, [first[n] / step for n in range(len(edges))], label="first replies /s")
    bottom.set_ylabel(f"per second ({step:g}-s bins)")
    bottom.legend(loc="lower right")
    samples = result.watch.cores
    cpu.plot([c[0] for c in samples], [c[1] for c in samples], label="the soak's processes")
    cpu.plot([c[0] for c in samples], [c[2] for c in samples], label="other work")
    cpu.set_ylabel("cores")
    cpu.set_xlabel("seconds since the load started")
    cpu.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    pyplot.close(figure)
