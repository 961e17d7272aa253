"""``python -m bench.soak [--minutes 10] [--learners 3000] [--rate R] [--write]``: load and soak.

The real stack (gunicorn with 2 web workers, 2 ``tutor worker`` processes, one ``tutor
scheduler``, private PostgreSQL and Redis) takes signed webhooks from thousands of
simulated learners on Telegram and WhatsApp for ``--minutes``: text turns (onboarding,
lessons, conversation, vocabulary review), voice notes (a real OGG/Opus recording the
fakes serve, transcribed by the bundled faster-whisper tiny.en) and payments (Telegram
Stars pre-checkout + successful_payment, signed Stripe checkouts). The fake Bot API,
Cloud API, Groq and Stripe answer on loopback after realistic delays
(:mod:`bench.soak_fakes`). Afterwards it waits for the queues to drain, then checks from
the database and the fakes that every accepted message was answered exactly once and
every payment applied exactly once; it exits non-zero otherwise. ``--write`` replaces
its section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, select

from bench import machine, procs, rig
from bench import soak_traffic as traffic
from bench.markdown import write_block
from bench.soak_check import Check, verify
from bench.soak_fakes import Edge, EdgeReport
from bench.soak_report import CHART, chart, section, summary_line
from bench.soak_watch import Watch, depth
from payments import entitlements as records
from tests.fakes.groq import DEFAULT_API_KEY as GROQ_KEY
from tests.fakes.stripe import DEFAULT_API_KEY as STRIPE_KEY
from tests.fakes.whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID
from tests.support.stack import BIN, ROOT, Stack
from tutor.db import make_engine
from tutor.models import learners, utcnow

DOC = ROOT / "docs" / "BENCHMARKS.md"
BLOCK = "soak"
APP_SECRET = "soak-app-secret"  # noqa: S105 - local test values
VERIFY_TOKEN = "soak-verify-token"  # noqa: S105
STRIPE_SECRET = "whsec_soak_0123456789"  # noqa: S105
VOICE_SENTENCE = "I usually walk to the park with my dog before breakfast."
DEFAULT_RATE = 8.0


@dataclass(frozen=True)
class Options:
    minutes: float
    learners: int
    rate: float
    seed: int
    drain_seconds: float
    write: bool
    command: str
    worker_threads: int = 0  # 0: the settings' default


@dataclass(frozen=True, slots=True)
class Sent:
    """One webhook as the load generator saw it (wall-clock seconds)."""

    kind: str
    channel: str
    learner_key: str
    provider_id: str
    due: float
    sent: float
    done: float
    status: int
    error: str = ""
    answer_ok: bool | None = None  # a pre-checkout's answer in the response body


@dataclass
class Result:
    options: Options
    plan: traffic.Plan
    sent: list[Sent]
    started: float
    load_seconds: float
    drained_after: float | None
    watch: Watch
    edge: EdgeReport
    check: Check
    machine: machine.Machine
    background_cores: float
    voice_seconds: float
    versions: dict[str, str] = field(default_factory=dict)


# The voice note ---------------------------------------------------------------------------


def spoken_ogg(sentence: str = VOICE_SENTENCE) -> tuple[bytes, float]:
    """A short sentence spoken by espeak-ng, as OGG/Opus the way a phone sends a voice
    note; and its length in seconds."""
    with tempfile.TemporaryDirectory() as folder:
        wav, ogg = Path(folder) / "s.wav", Path(folder) / "s.ogg"
        subprocess.run(  # noqa: S603 - fixed arguments
            ["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(wav), sentence],  # noqa: S607
            check=True,
        )
        subprocess.run(  # noqa: S603
            ["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libopus", "-b:a", "24k", str(ogg)],  # noqa: S607
            check=True,
        )
        with wave.open(str(wav)) as recording:
            seconds = recording.getnframes() / recording.getframerate()
        return ogg.read_bytes(), seconds


# The processes ----------------------------------------------------------------------------


def environment(
    database_url: str, redis_url: str, edge: Edge, worker_threads: int = 0
) -> dict[str, str]:
    env = rig.stack_env(database_url, redis_url, edge.telegram_url)
    if worker_threads:
        env["TUTOR_WORKER_THREADS"] = str(worker_threads)
    env.update(
        TUTOR_WEB_WORKERS="2",
        TUTOR_WHATSAPP_PHONE_NUMBER_ID=DEFAULT_PHONE_NUMBER_ID,
        TUTOR_WHATSAPP_ACCESS_TOKEN=DEFAULT_ACCESS_TOKEN,
        TUTOR_WHATSAPP_APP_SECRET=APP_SECRET,
        TUTOR_WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        TUTOR_WHATSAPP_API_URL=edge.whatsapp_url + "/v23.0",
        TUTOR_GROQ_API_KEY=GROQ_KEY,
        TUTOR_GROQ_BASE_URL=edge.groq_url,
        TUTOR_STRIPE_API_KEY=STRIPE_KEY,
        TUTOR_STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        TUTOR_STRIPE_API_URL=edge.stripe_url,
    )
    return env


def start_scheduler(stack: Stack) -> subprocess.Popen[bytes]:
    log = stack.workdir / "scheduler.log"
    with log.open("wb") as handle:
        return subprocess.Popen(  # noqa: S603 - our own command
            [str(BIN / "tutor"), "scheduler"],
            cwd=ROOT,
            env=stack.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_scheduler(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# The load ---------------------------------------------------------------------------------


@dataclass
class Payers:
    """What the payment webhooks need to know about a learner, looked up before the run."""

    ids: dict[str, int]
    references: dict[str, str]
    issued: int


def payers(engine: Engine, plan: traffic.Plan) -> Payers:
    keys = {e.learner.key for e in plan.events if e.kind in traffic.PAYMENT_KINDS}
    ids: dict[str, int] = {}
    references: dict[str, str] = {}
    with engine.begin() as connection:
        rows = connection.execute(
            select(learners.c.key, learners.c.id).where(learners.c.key.in_(keys))
        )
        ids = {str(key): int(n) for key, n in rows}
        for key, learner_id in ids.items():
            if key.startswith("whatsapp:"):
                references[key] = records.ensure(connection, learner_id, utcnow()).reference
    return Payers(ids, references, int(time.time()))


def build(event: traffic.Event, who: Payers) -> traffic.Request:
    key = event.learner.key
    if event.kind == traffic.VOICE:
        return traffic.voice(event, rig.TELEGRAM_SECRET, APP_SECRET)
    if event.kind == traffic.STARS_CHECKOUT:
        payload = traffic.stars_payload(who.ids[key], who.issued)
        return traffic.pre_checkout(event, payload, rig.TELEGRAM_SECRET)
    if event.kind == traffic.STARS_PAYMENT:
        payload = traffic.stars_payload(who.ids[key], who.issued)
        return traffic.stars_payment(event, payload, rig.TELEGRAM_SECRET)
    if event.kind == traffic.STRIPE_PAYMENT:
        return traffic.stripe_checkout(who.references[key], STRIPE_SECRET)
    return traffic.text(event, rig.TELEGRAM_SECRET, APP_SECRET)


async def _post(
    client: httpx.AsyncClient, event: traffic.Event, request: traffic.Request, due: float
) -> Sent:
    sent = time.time()
    answer_ok: bool | None = None
    try:
        response = await client.post(request.path, content=request.body, headers=request.headers)
    except httpx.HTTPError as exc:
        return Sent(
            event.kind,
            event.learner.channel,
            event.learner.key,
            request.provider_id,
            due,
            sent,
            time.time(),
            0,
            type(exc).__name__,
        )
    done = time.time()
    if event.kind == traffic.STARS_CHECKOUT:
        try:
            answer_ok = bool(json.loads(response.content).get("ok"))
        except ValueError:
            answer_ok = False
    return Sent(
        event.kind,
        event.learner.channel,
        event.learner.key,
        request.provider_id,
        due,
        sent,
        done,
        response.status_code,
        answer_ok=answer_ok,
    )


async def send_all(url: str, plan: traffic.Plan, who: Payers, started: float) -> list[Sent]:
    """Every event at its due time, whatever happened to earlier ones (open loop)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    tasks: list[asyncio.Task[Sent]] = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        for event in plan.events:
            due = started + event.at
            if (wait := due - time.time()) > 0:
                await asyncio.sleep(wait)
            request = build(event, who)
            tasks.append(asyncio.create_task(_post(client, event, request, due)))
        return list(await asyncio.gather(*tasks))


def drain(engine: Engine, edge: Edge, limit: float) -> float | None:
    """Seconds until nothing is pending in the inbox or outbox (None after ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        now = depth(engine, 0.0)
        if now.inbox_pending == 0 and now.outbox_pending == 0:
            sends = edge.sends()
            time.sleep(2.0)  # a send in flight lands; a late duplicate would show up
            if edge.sends() == sends and depth(engine, 0).outbox_pending == 0:
                return time.monotonic() - started - 2.0
        time.sleep(1.0)
    return None


def warm_up(url: str, edge: Edge, warm: list[traffic.Learner], folder: Path) -> None:
    """A lesson, a review, a conversation line and a voice note from a few returning
    learners, all answered before the load, then more voice notes until both workers
    have loaded the speech model (Dramatiq decides which worker takes a message). These
    learners are not measured, but their replies are checked like every other."""
    events = [
        traffic.Event(0.0, person, kind, text)
        for person in warm
        for kind, text in (
            (traffic.LESSON, "2"),
            (traffic.CONVERSATION, traffic.SPANISH[3] if person.target == "es" else "Hello"),
            (traffic.VOCABULARY, "review"),
            (traffic.VOICE, ""),
        )
    ]
    voices = [traffic.Event(0.0, person, traffic.VOICE) for person in warm]
    for round_ in range(1, 7):
        _send_and_wait(url, edge, events)
        logs = [path.read_text(errors="replace") for path in folder.glob("worker-*.log")]
        if sum("speech model loaded" in text for text in logs) >= 2:
            rig.say(f"warmed up in {round_} round(s): both workers hold the speech model")
            return
        events = voices
    rig.say("warning: a worker has not loaded the speech model before the load")


def _send_and_wait(url: str, edge: Edge, events: list[traffic.Event]) -> None:
    before = edge.sends()
    with httpx.Client(base_url=url, timeout=30) as client:
        for event in events:
            request = build(event, Payers({}, {}, 0))
            client.post(request.path, content=request.body, headers=request.headers)
            time.sleep(0.05)
    deadline = time.monotonic() + 180
    while edge.sends() < before + len(events) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)


# The run ------------------------------------------------------------------------------------


def run(options: Options) -> Result:
    rng = random.Random(options.seed)  # noqa: S311 - a reproducible simulation
    new = traffic.first_timers(options.learners, options.rate, options.minutes * 60)
    people = traffic.population(options.learners, new, rng)
    plan = traffic.plan(people, options.minutes * 60, options.rate, rng)
    rig.say(
        f"{len(plan.events)} events from {len(people)} learners over {options.minutes:g} min"
        f" (mean {len(plan.events) / plan.seconds:.1f}/s)"
    )
    described = machine.describe()
    background = rig.background_load(3.0)
    voice, voice_seconds = spoken_ogg()
    with rig.backends() as backends, rig.workdir("soak") as folder, Edge(voice) as edge:
        database_url = backends.database()
        engine = make_engine(database_url)
        warm = traffic.warm_learners()
        traffic.seed(engine, people + warm)
        who = payers(engine, plan)
        versions = {"postgres": backends.postgres_version(), "redis": backends.redis_version()}
        env = environment(database_url, backends.redis.url, edge, options.worker_threads)
        with rig.running_stack(env, folder) as stack:
            for _ in range(2):
                stack.start_worker()
            scheduler = start_scheduler(stack)
            try:
                rig.wait_for_workers(stack, 2)
                warm_up(stack.url, edge, warm, folder)
                watch = _watch(engine, stack, scheduler, backends, edge)
                started = time.time() + 0.5
                watch.start(started)
                rig.say(f"load started: {options.rate:g} messages/s for {options.minutes:g} min")
                sent = asyncio.run(send_all(stack.url, plan, who, started))
                load_seconds = time.time() - started
                rig.say(f"load done after {load_seconds:.0f} s; draining")
                drained = drain(engine, edge, options.drain_seconds)
                watch.stop()
            finally:
                stop_scheduler(scheduler)
                stack.stop()  # flushes the logs before they are read
            logs = [path for path in folder.glob("*.log")]
            report = edge.report()
            check = verify(engine, sent, report, logs)
        engine.dispose()
    return Result(
        options,
        plan,
        sent,
        started,
        load_seconds,
        drained,
        watch,
        report,
        check,
        described,
        background,
        voice_seconds,
        versions,
    )


def _watch(
    engine: Engine,
    stack: Stack,
    scheduler: subprocess.Popen[bytes],
    backends: rig.Backends,
    edge: Edge,
) -> Watch:
    assert stack.web is not None
    web = stack.web.pid
    postgres, redis_pid, me = backends.postgres_pid(), backends.redis_pid(), os.getpid()
    groups = {"gunicorn (master + 2 web workers)": lambda: [web, *procs.children(web)]}
    roots = {"gunicorn (master + 2 web workers)": web}
    for number, worker in enumerate(stack.workers, 1):
        pid = worker.pid
        groups[f"tutor worker {number}"] = lambda pid=pid: [pid, *procs.descendants(pid)]  # type: ignore[misc]
        roots[f"tutor worker {number}"] = pid
    groups["tutor scheduler"] = lambda: [scheduler.pid, *procs.descendants(scheduler.pid)]
    roots["tutor scheduler"] = scheduler.pid
    groups["PostgreSQL (postmaster + backends)"] = lambda: [postgres, *procs.descendants(postgres)]
    roots["PostgreSQL (postmaster + backends)"] = postgres
    groups["Redis"] = lambda: [redis_pid]
    roots["Redis"] = redis_pid
    groups["fake servers (Telegram, WhatsApp, Groq, Stripe)"] = lambda: [edge.pid]
    roots["fake servers (Telegram, WhatsApp, Groq, Stripe)"] = edge.pid
    groups["load generator (this process)"] = lambda: [me]
    roots["load generator (this process)"] = me
    return Watch(
        engine,
        groups,
        roots,
        shared_once=frozenset({"PostgreSQL (postmaster + backends)"}),
        alone=frozenset({"load generator (this process)"}),  # its children are the stack
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="messages a second")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--drain-seconds", type=float, default=300.0)
    parser.add_argument(
        "--worker-threads", type=int, default=0, help="threads per tutor worker (default: 4)"
    )
    parser.add_argument("--write", action="store_true", help="update docs/BENCHMARKS.md")
    parser.add_argument("--doc", type=Path, default=DOC, help=argparse.SUPPRESS)  # for trials
    args = parser.parse_args(argv)
    command = " ".join(
        [".venv/bin/python -m bench.soak", *(argv if argv is not None else sys.argv[1:])]
    )
    options = Options(
        args.minutes,
        args.learners,
        args.rate,
        args.seed,
        args.drain_seconds,
        args.write,
        command,
        args.worker_threads,
    )
    result = run(options)
    text = section(result)
    print(text)  # noqa: T201
    print(summary_line(result))  # noqa: T201
    if options.write:
        chart(result, args.doc.parent / CHART)
        write_block(args.doc, BLOCK, text)
        rig.say(f"wrote the soak section of {args.doc}")
    if not result.check.passed:
        rig.say("FAILED: " + "; ".join(result.check.failures))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
