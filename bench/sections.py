"""The report's three sections: webhook acknowledgement, worker overhead, web worker memory."""

from __future__ import annotations

from collections.abc import Sequence

from bench import handler, rss, webhook, worker
from bench.markdown import hottest, ms, pct, shares, table, verdict


def _phase_rows(phases: Sequence[webhook.Phase]) -> list[list[object]]:
    rows: list[list[object]] = []
    for phase in phases:
        errors = ", ".join(f"{name}: {n}" for name, n in phase.errors.items()) or "0"
        lat = phase.latency
        rows.append(
            [
                phase.name,
                f"{phase.offered_rate:g}",
                f"{phase.achieved_rate:.1f}",
                len(phase.run.samples),
                errors,
                ms(lat.p50),
                ms(lat.p95),
                ms(lat.p99),
                ms(lat.p999),
                ms(lat.max),
            ]
        )
    return rows


def _cpu_rows(phase: webhook.Phase) -> list[list[object]]:
    seconds = phase.run.wall_seconds or 1.0
    count = len(phase.run.samples) or 1
    rows: list[list[object]] = []
    for name, used in phase.cpu.items():
        if name.startswith("machine"):
            continue
        rows.append([name, f"{used:.2f}", f"{used / seconds:.2f}", ms(used / count * 1000)])
    busy, total = phase.cpu.get("machine busy", 0.0), phase.cpu.get("machine total", 0.0)
    if total:
        known = sum(used for name, used in phase.cpu.items() if not name.startswith("machine"))
        other = max(0.0, busy - known)
        rows.append(["anything else on the machine", f"{other:.2f}", f"{other / seconds:.2f}", ""])
        rows.append(["**whole machine busy**", f"{busy:.2f}", f"{busy / seconds:.2f}", ""])
    return rows


def _server_rows(phase: webhook.Phase) -> str:
    cells = [f"≤ {le * 1000:g} ms: {pct(share)}" for le, share in phase.server_buckets.items()]
    return f"mean {ms(phase.server_mean_ms)} ms; " + ", ".join(cells[:6])


def _catch_up(phase: webhook.Phase) -> str:
    if phase.backlog_at_end is None:
        return ""
    lines = [
        f"- When the last request was answered the worker was **{phase.backlog_at_end} messages"
        f" behind**: it had answered"
        f" {phase.accepted_at_end - phase.backlog_at_end} of the {phase.accepted_at_end}"
        f" accepted since it started (warm-up included); replies waiting to be sent:"
        f" {phase.replies_waiting_at_end}."
    ]
    if not phase.drain_timeout:
        lines.append("- This run does not wait for the worker to catch up.")
    elif phase.inbox_drained_after is not None:
        rate = phase.backlog_at_end / phase.inbox_drained_after if phase.inbox_drained_after else 0
        lines.append(
            f"- The inbox was empty **{phase.inbox_drained_after:.1f} s** later"
            f" (about {rate:.0f} messages/s once the webhooks stopped)"
            + (
                f"; every reply was sent after {phase.all_sent_after:.1f} s."
                if phase.all_sent_after is not None
                else "."
            )
        )
    else:
        done = (phase.backlog_at_end or 0) - (phase.backlog_left or 0)
        rate = done / phase.drain_timeout
        projected = (
            f"; at that rate it would catch up about"
            f" **{(phase.backlog_at_end or 0) / rate:.0f} s** after the webhooks stopped"
            f" (projected)"
            if rate
            else ""
        )
        lines.append(
            f"- It had **not caught up after {phase.drain_timeout:.0f} s** (the benchmark's"
            f" limit): {phase.backlog_left} still pending, {rate:.0f} messages/s drained once"
            f" the webhooks stopped{projected}."
        )
    if phase.worker_rss_mb is not None:
        lines.append(f"- `tutor worker` RSS at the end: {phase.worker_rss_mb:.0f} MiB.")
    return "\n".join(lines)


def _windows(phase: webhook.Phase) -> str:
    rows = [
        [
            f"{w.start:.0f}–{w.start + 5:.0f}",
            w.requests,
            ms(w.latency.p50),
            ms(w.latency.p95),
            ms(w.latency.p99),
            ms(w.latency.max),
            "–" if w.backlog is None else w.backlog,
        ]
        for w in phase.windows
    ]
    return table(["Seconds", "Answered", "p50", "p95", "p99", "max", "Inbox pending"], rows)


def _handler(profile: handler.HandlerProfile | None) -> str:
    if profile is None:
        return ""
    return f"""### Where a webhook's CPU goes (in-process profile)

The same handler called in-process {profile.requests} times with the WSGI environ gunicorn
would build (PostgreSQL, Redis and the Dramatiq queue real; no HTTP server): **{
        ms(profile.cpu_ms_per_request)
    } ms CPU** and {ms(profile.wall_ms_per_request)} ms wall per request without the
profiler. Under cProfile (process time; the profiler inflates call-heavy code):

{shares(profile.steps, "inclusive")}

By library (own time):

{shares(profile.groups, "own")}

{hottest(profile.functions)}
"""


def webhook_section(result: webhook.Result) -> str:
    options = result.options
    parts = [
        f"""## 1. Webhook acknowledgement under load

**What it measures.** How long Telegram waits for `200 OK` when signed text updates
(unique `update_id`s, {options.learners} learners taking turns, the
`X-Telegram-Bot-Api-Secret-Token` header) arrive at a fixed rate. gunicorn
{result.gunicorn} runs with the repository's `gunicorn.conf.py` (2 `gthread` workers × 4
threads) on PostgreSQL {result.postgres} + Redis {result.redis} with the Dramatiq queue;
the fake Bot API runs in a child process. The load is **open-loop**: request *i* is due at
*i* / rate whatever happened to earlier ones, and latency is counted from that due time,
so a stalled server cannot hide behind a slower client (no coordinated omission). The
client is plain asyncio over up to {options.connections} keep-alive connections
(`bench/loadgen.py`); {options.warmup:g} s of warm-up at the same rate are not counted.
Runs: **ack-only** (no worker: acknowledgement alone), **with-worker** (`tutor worker`
consuming at the same time, the real situation; afterwards the benchmark waits up to
{options.drain_timeout:g} s for it to catch up) and, unless `--worker-nice 0`,
**with-worker-nice-N** (the same, with the worker reniced — thread and autogroup
niceness N — so the web gets the CPU first; no catch-up wait).

**Command:** `.venv/bin/python -m bench webhook` (options: `--help`).

**Target:** p95 under {webhook.TARGET_P95_MS:g} ms at {webhook.TARGET_RATE:g} messages/s
on 2 cores.

Latency in ms from when each request was due to its full response:

{
            table(
                [
                    "Run",
                    "Offered/s",
                    "Achieved/s",
                    "Requests",
                    "Errors",
                    "p50",
                    "p95",
                    "p99",
                    "p99.9",
                    "max",
                ],
                _phase_rows(result.phases),
            )
        }
"""
    ]
    for phase in result.phases:
        parts.append(
            f"""### {phase.name}

- Verdict: {verdict(phase.meets_target, phase.latency.p95, webhook.TARGET_P95_MS, "ms")}.
- Service time (from writing the request to the response): p50 {ms(phase.service.p50)},
  p95 {ms(phase.service.p95)}, p99 {ms(phase.service.p99)} ms. Waiting for a free
  connection or a late client (due → written): p50 {ms(phase.send_lag.p50)}, p99
  {ms(phase.send_lag.p99)} ms. Connections used: {phase.run.connections_opened}.
- The app's own `tutor_webhook_seconds` histogram (handler time inside gunicorn):
  {_server_rows(phase)}.
- Rows stored in the inbox: {phase.rows_stored} of {len(phase.run.samples)}. Web worker RSS
  at the end: {", ".join(f"{rss:.0f}" for rss in phase.web_rss_mb)} MiB.

CPU over the measured window ({phase.run.wall_seconds:.1f} s):

{table(["Process", "CPU s", "Cores", "ms per request"], _cpu_rows(phase))}
"""
        )
        if phase.with_worker:
            parts.append(f"{_windows(phase)}\n\n{_catch_up(phase)}\n")
    parts.append(_handler(result.handler))
    return "\n".join(parts)


def worker_section(result: worker.Result) -> str:
    options = result.options
    rows = []
    for m in result.measurements:
        others = ", ".join(
            f"{name} {ms(m.per_message(value) * 1000)}" for name, value in m.others_cpu.items()
        )
        commands = "–" if m.redis_commands is None else f"{m.per_message(m.redis_commands):.1f}"
        rows.append(
            [
                m.backend,
                f"`{m.mode}`",
                m.processed,
                m.replies_sent,
                f"**{ms(m.cpu_ms)}**",
                ms(m.wall_ms),
                f"{m.per_message(m.statements):.1f}",
                f"{m.per_message(m.checkouts):.1f}",
                f"{m.per_message(m.commits):.1f}",
                commands,
                others,
                f"{m.unrelated_cores:.2f}",
                "yes" if m.meets_target else "no",
            ]
        )
    parts = [
        f"""## 2. Worker overhead per text message

**What it measures.** The worker's own cost per message on the instant-reply path (rules,
onboarding and menu; no model call). {options.messages} inbox rows for
{options.learners} Telegram learners ({options.messages // max(1, options.learners)}
messages each, so a fifth are a learner's first contact) are stored first, as the webhook
stores them, then processed in this process on one thread: `task` calls
`Worker.drain(learner)` once per message in arrival order (what one Dramatiq task — or
one embedded-queue notification — per webhook does), `drain` calls it once per learner
(the least work possible), `sweep` calls `Worker.sweep()` until nothing is left (the
embedded worker's poll when gunicorn runs separately). Replies go to the fake Bot API in
a child process over real HTTP. CPU is `time.process_time()` of
the worker process; PostgreSQL's, Redis's and the fake's CPU are read from /proc and
shown beside it. {options.warmup} warm-up messages run first and are not counted.
Logging is configured as in `tutor worker` (JSON, INFO) into a file.

**Command:** `.venv/bin/python -m bench worker` (options: `--help`).

**Target:** under {worker.TARGET_CPU_MS:g} ms of CPU per message.

{
            table(
                [
                    "Back end",
                    "Mode",
                    "Messages",
                    "Replies sent",
                    "CPU ms/msg",
                    "Wall ms/msg",
                    "SQL statements/msg",
                    "Pool checkouts/msg",
                    "Commits/msg",
                    "Redis commands/msg",
                    "Other processes, CPU ms/msg",
                    "Unrelated load, cores",
                    "Target met",
                ],
                rows,
            )
        }
"""
    ]
    for m in result.measurements:
        parts.append(
            f"- {m.backend}, `{m.mode}`: "
            f"{verdict(m.meets_target, m.cpu_ms, worker.TARGET_CPU_MS, 'ms')}."
        )
    for p in result.profiles:
        parts.append(
            f"""
### Where a message's CPU goes: {p.backend}

`task` over {p.messages} messages under cProfile (process time), by step (inclusive):

{shares(p.steps, "inclusive")}

By library (own time):

{shares(p.groups, "own")}

{hottest(p.functions)}
"""
        )
    return "\n".join(parts)


def rss_section(result: rss.Result) -> str:
    options = result.options
    rows = [
        [
            w.pid,
            f"{w.started.rss:.1f}",
            f"{w.warmed.rss:.1f}",
            f"{w.loaded.rss:.1f}" if w.loaded else "gone",
            f"{w.loaded.peak_rss:.1f}" if w.loaded else "–",
            f"{w.loaded.anon:.1f} / {w.loaded.file:.1f}" if w.loaded else "–",
            f"{w.growth:+.1f}",
        ]
        for w in result.workers
    ]
    step = max(1, len(result.timeline) // 8)
    picked = result.timeline[::step]
    if result.timeline and picked[-1] is not result.timeline[-1]:
        picked.append(result.timeline[-1])
    timeline = [
        [f"{at:.0f}", done, " / ".join(f"{value:.1f}" for value in sample)]
        for at, done, sample in picked
    ]
    master = f"{result.master.rss:.1f} MiB" if result.master else "?"
    return f"""## 3. Memory of a gunicorn web worker

**What it measures.** VmRSS (from `/proc/<pid>/status`) of each gunicorn worker child of
the master, with the repository's `gunicorn.conf.py` on PostgreSQL + Redis: right after
start, after {options.warmup} warm-up webhooks (plus `/healthz`, `/readyz` and two
`/metrics` scrapes), and after {options.requests} more signed Telegram webhooks at
{options.rate:g}/s from {options.learners} learners, with a `/metrics` scrape every 5 s as
Prometheus would. RSS counts shared library pages too; the anonymous part is the
process's own heap.

**Command:** `.venv/bin/python -m bench rss` (options: `--help`).

**Target:** under {rss.TARGET_MB:g} MB per web worker, read strictly as 10⁶-byte
megabytes ({rss.TARGET_MB / rss.MB_PER_MIB:.1f} MiB); the tables are in MiB, as /proc
reports them.

{
        table(
            [
                "Worker pid",
                "At start MiB",
                "After warm-up",
                f"After +{options.requests}",
                "Peak (VmHWM)",
                "Anon / file",
                "Growth under load",
            ],
            rows,
        )
    }

- Verdict: {verdict(result.meets_target, result.peak_mb, rss.TARGET_MB, "MB")}: the
  highest RSS seen in either worker was {result.peak_mib:.1f} MiB.
- Achieved rate {result.achieved_rate:.0f}/s, errors {result.errors}, `/metrics` scrapes
  {result.metrics_scrapes}; gunicorn master RSS {master}. Workers recycled during the run:
  {"yes — the numbers after load belong to new processes" if result.recycled else "no"}
  (`max_requests = 10000` ± 1000 jitter restarts a worker after that many requests, which
  also caps any slow growth).

RSS over the run (MiB, one column per worker):

{table(["Seconds", "Requests sent", "RSS per worker"], timeline)}
"""
