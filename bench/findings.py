"""The report's last section: what dominates, and what could be done about it.

The numbers come from the run; the code it points at was read at commit 3e82064.
If the code changes, re-read it before trusting the suggestions.
"""

from __future__ import annotations

from bench import rss, webhook, worker
from bench.machine import Machine
from bench.profile import Share


def _share(rows: list[Share], prefix: str) -> float:
    return sum(row.share for row in rows if row.group.startswith(prefix))


def _measurement(work: worker.Result, backend: str, mode: str) -> worker.Measurement | None:
    for m in work.measurements:
        if m.backend == worker.BACKENDS[backend] and m.mode == mode:
            return m
    return None


def _phase(hook: webhook.Result, name: str) -> webhook.Phase | None:
    return next((phase for phase in hook.phases if phase.name == name), None)


def _per_request(phase: webhook.Phase, process: str) -> float:
    count = len(phase.run.samples) or 1
    return sum(v for k, v in phase.cpu.items() if k.startswith(process)) / count * 1000


def capacity(machine: Machine, hook: webhook.Result, work: worker.Result) -> str:
    ack = _phase(hook, "ack-only")
    task = _measurement(work, "postgres", "task")
    if ack is None or task is None:
        return ""
    web = _per_request(ack, "gunicorn")
    web_db = _per_request(ack, "PostgreSQL") + _per_request(ack, "Redis")
    turn = task.cpu_ms
    turn_db = sum(task.per_message(v) * 1000 for k, v in task.others_cpu.items() if "fake" not in k)
    total = web + web_db + turn + turn_db
    rate = machine.cores * 1000 / total
    live = _phase(hook, "with-worker")
    p95 = f"{live.latency.p95:.0f} ms" if live is not None else "not measured"
    drained = ""
    if live is not None and live.backlog_at_end and live.drain_timeout:
        if live.inbox_drained_after:
            rate_after = live.backlog_at_end / live.inbox_drained_after
        else:
            rate_after = (live.backlog_at_end - (live.backlog_left or 0)) / live.drain_timeout
        drained = (
            f" The real `tutor worker` drained its backlog at {rate_after:.0f} messages/s"
            " once the webhooks stopped: one process is held to about one core by the GIL,"
            " whatever `TUTOR_WORKER_THREADS` says, and each Dramatiq task adds its own"
            " overhead."
        )
    return f"""1. **End to end, this machine processes about {rate:.0f} messages/s, not 300.** A
   message costs {web:.1f} ms of gunicorn CPU and {web_db:.1f} ms of PostgreSQL/Redis CPU to
   acknowledge, then {turn:.1f} ms of worker CPU and {turn_db:.1f} ms of PostgreSQL/Redis CPU
   to answer (`task` mode): {total:.1f} ms in all, so {machine.cores} cores saturate near
   {rate:.0f} messages/s before the load generator takes its share. Acknowledgement alone fits
   (about {(web + web_db) * webhook.TARGET_RATE / 1000:.1f} cores at 300/s: the ack-only p95 was
   {ack.latency.p95:.1f} ms); with the worker running the p95 was {p95}: the worker soaks up
   every idle cycle, the web workers wait for CPU and the open-loop latency climbs for as
   long as the load lasts.{drained} Nothing is lost — every message is in the inbox — but
   at 300/s replies fall further behind every second.
"""


def round_trips(work: worker.Result) -> str:
    task = _measurement(work, "postgres", "task")
    if task is None:
        return ""
    statements = task.per_message(task.statements)
    checkouts = task.per_message(task.checkouts)
    commits = task.per_message(task.commits)
    return f"""2. **Round trips per message.** On PostgreSQL the worker runs {statements:.1f} SQL
   statements, {checkouts:.1f} pool checkouts and {commits:.1f} commits per message. Every
   helper (`leases.acquire/release`, `inbox.pending/has_pending`,
   `learners.load_or_create`, `outbox._pending/_update`) opens its own
   `engine.connect()`/`engine.begin()`, and `tutor/db.py` sets `pool_pre_ping=True`, so
   each checkout adds a `SELECT 1` round trip, and each read-only block a `ROLLBACK`, on top
   of the statement itself. Suggested: one connection (and where possible one transaction)
   per message turn, passed down to the helpers; drop `pool_pre_ping` in favour of
   `pool_recycle` plus the existing retry-by-sweeper; send the reply's `UPDATE outbox` in
   the same connection as the `SELECT`.
"""


STATIC = """3. **SQLAlchemy statement building.** Commit 89edd56 made the inbox, turn and
   outbox INSERTs and the pending-rows SELECT constant; the UPDATEs are still built per
   call (`inbox.mark_done`, `learners.save_turn` and `_append_to_session`,
   `leases.acquire/release`, `outbox._update`), as are `learners.load_or_create`'s INSERT
   and the `has_pending`/`_pending` SELECTs. Each one costs value coercion
   (`coercions.expect`) and a fresh cache key (`_generate_cache_key`, with
   `get_cls_kwargs` for the `JSON().with_variant(JSONB)` and `UTCDateTime` types): see the
   hottest functions in the worker profiles. Suggested: the same treatment for the rest,
   `bindparam()` in `where()` and parameters passed to `execute()`.
4. **The session document grows with every turn.** `learners._append_to_session` reads
   the open conversation's whole JSON document and writes it back with one more turn, so
   a turn costs O(turns so far) and a long session O(n²). The benchmark's learners have
   five turns each, so this is understated here. Suggested: keep turns in `turns` only
   (they are already there) and the document as a summary, or append with `jsonb ||` in
   SQL on PostgreSQL.
5. **Sends are synchronous inside `drain`.** `Sender.deliver` makes one HTTP call per
   reply while holding a worker thread and the learner's lease. Against the fake (≈1 ms
   a call) that is cheap, but the real Bot API answers in tens to hundreds of ms, so 4
   threads cap one worker process at a few dozen messages/s whatever the CPU. Suggested:
   more worker threads for I/O, or a separate sender pool fed by the outbox.
6. **The web and the worker compete for the same cores as equals.** This kernel has
   autogroup scheduling, and each process started in its own session (as `Stack` starts
   them, and as separate systemd services or containers are) gets an equal share when
   the CPU is contended: gunicorn's two workers share one group against the worker's and
   PostgreSQL's. The `with-worker-nice-10` run lowers only the worker's share (autogroup
   niceness 10) and keeps acknowledgement latency far lower under the same load, while
   the backlog waits safely in the inbox. Suggested for small hosts: give the web a
   higher CPU weight than the worker (`CPUWeight=`/`Nice=` under systemd, CPU shares in
   containers), or run them on separate hosts.
7. **The webhook handler.** Per request: `inbox.accept` (a checkout with its pre-ping,
   `BEGIN`, the `INSERT`, `COMMIT`) is the largest step, then PTB's `Update.de_json`,
   which builds PTB's whole object graph for a text message, and the Dramatiq enqueue
   (message building plus a Lua `EVALSHA`); see the in-process profile above. Dropping
   the pre-ping removes one of the four round trips.
8. **Embedded store.** On SQLite the hot tier is `fakeredis`, a Redis written in Python
   (with `lupa` for Lua): it is a large share of the worker's CPU in the SQLite profile.
   Suggested: a small dict-backed implementation of the hot-memory Protocol for the
   embedded mode.
9. **Web worker memory.** `tutor.services` imports `tutor.migrate` at module level, so
   every gunicorn worker loads Alembic, Mako and the migration scripts (~10 MiB) although
   only the embedded store migrates at start; PTB's `telegram` package is ~14 MiB more.
   Suggested: import `migrate` inside the embedded branch of `build_services`.
"""


def section(
    machine: Machine,
    hook: webhook.Result | None,
    work: worker.Result | None,
    memory: rss.Result | None,
) -> str:
    parts = ["## What dominates, and suggested fixes\n"]
    parts.append(
        "Nothing outside `bench/` was changed; these are suggestions. Items 2-9 describe"
        " the code as read at commit `3e82064`.\n"
    )
    if hook is not None and work is not None:
        parts.append(capacity(machine, hook, work))
    if work is not None:
        parts.append(round_trips(work))
    parts.append(STATIC)
    if memory is not None:
        headroom = rss.TARGET_MB - memory.peak_mb
        parts.append(
            f"The web workers' RSS is flat under load (no leak seen over"
            f" {memory.options.requests} requests); the headroom to {rss.TARGET_MB:g} MB is"
            f" {headroom:.1f} MB, most of it taken at import time before the first request.\n"
        )
    if hook is not None and hook.handler is not None:
        notify = _share(hook.handler.steps, "queue.notify")
        accept = _share(hook.handler.steps, "inbox.accept")
        parse = _share(hook.handler.steps, "telegram.parse_update")
        parts.append(
            f"In this run's handler profile: `inbox.accept` {accept:.0%},"
            f" `parse_update` {parse:.0%}, `queue.notify` {notify:.0%} of a request's CPU.\n"
        )
    return "\n".join(parts)
