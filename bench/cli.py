"""``python -m bench [webhook|worker|rss]``: run the benchmarks, print or write the report."""

from __future__ import annotations

import argparse
import pickle
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol, TypeVar

from bench import machine, markdown, report, rig, rss, webhook, worker

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "BENCHMARKS.md"
QUICK_DOC = ROOT / "var" / "bench" / "BENCHMARKS-quick.md"
LAST = ROOT / "var" / "bench" / "last-run.pickle"

DESCRIPTION = """\
Benchmarks for the tutor service. Each one starts what it needs (a private
PostgreSQL and Redis on free loopback ports, the fake Telegram Bot API, gunicorn
with gunicorn.conf.py and `tutor worker`) and stops it all at the end.

With no command, runs all three and writes docs/BENCHMARKS.md (about 7 minutes).
A single command prints its section of the report to stdout.
"""


def _webhook_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = webhook.Options()
    parser = commands.add_parser(
        "webhook",
        help="webhook acknowledgement latency under open-loop load (~3.5 min)",
        description="Signed Telegram updates POSTed to gunicorn at a fixed rate (open loop), "
        "first without a worker, then with `tutor worker` processing at the same time; "
        "then the handler in-process under cProfile.",
    )
    parser.add_argument(
        "--rate", type=float, default=defaults.rate, help="messages/s (%(default)s)"
    )
    parser.add_argument(
        "--duration", type=float, default=defaults.duration, help="measured seconds (%(default)s)"
    )
    parser.add_argument(
        "--warmup", type=float, default=defaults.warmup, help="uncounted seconds (%(default)s)"
    )
    parser.add_argument(
        "--learners", type=int, default=defaults.learners, help="distinct senders (%(default)s)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=defaults.connections,
        help="most keep-alive connections the client opens (%(default)s)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=defaults.drain_timeout,
        help="seconds to wait for the worker to catch up (%(default)s)",
    )
    parser.add_argument(
        "--profile-requests",
        type=int,
        default=defaults.profile_requests,
        help="in-process profiled requests; 0 skips (%(default)s)",
    )
    parser.add_argument("--no-ack-only", action="store_true", help="skip the run without a worker")
    parser.add_argument(
        "--worker-nice",
        type=int,
        metavar="N",
        default=defaults.worker_nice,
        help="a third run with `tutor worker` reniced to N so the web gets the CPU first; "
        "0 skips it (%(default)s)",
    )


def _worker_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = worker.Options()
    parser = commands.add_parser(
        "worker",
        help="worker CPU per text message, SQLite and PostgreSQL+Redis (~2.5 min)",
        description="Pre-loads inbox rows, then times Worker.drain / Worker.sweep in-process "
        "with time.process_time(); then profiles the `task` mode under cProfile.",
    )
    parser.add_argument(
        "--messages", type=int, default=defaults.messages, help="measured per run (%(default)s)"
    )
    parser.add_argument(
        "--learners", type=int, default=defaults.learners, help="distinct senders (%(default)s)"
    )
    parser.add_argument(
        "--backends",
        default=",".join(defaults.backends),
        help="comma-separated: sqlite, postgres (%(default)s)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(defaults.modes),
        help="task (one drain per message), drain (one per learner), sweep (%(default)s)",
    )
    parser.add_argument(
        "--profile-messages",
        type=int,
        default=defaults.profile_messages,
        help="messages profiled per back end; 0 skips (%(default)s)",
    )


def _rss_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = rss.Options()
    parser = commands.add_parser(
        "rss",
        help="RSS of the gunicorn web workers after warm-up and N requests (~40 s)",
        description="Reads VmRSS of each gunicorn worker from /proc at start, after warm-up "
        "and while N more webhooks arrive.",
    )
    parser.add_argument(
        "--requests", type=int, default=defaults.requests, help="measured webhooks (%(default)s)"
    )
    parser.add_argument("--rate", type=float, default=defaults.rate, help="per s (%(default)s)")
    parser.add_argument(
        "--warmup", type=int, default=defaults.warmup, help="uncounted webhooks (%(default)s)"
    )


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m bench",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    main.add_argument(
        "--quick",
        action="store_true",
        help=f"short runs to check the harness; the report goes to {QUICK_DOC.relative_to(ROOT)}",
    )
    main.add_argument(
        "--output", type=Path, help=f"where the full run writes (default {DOC.relative_to(ROOT)})"
    )
    main.add_argument(
        "--patience",
        type=float,
        default=180.0,
        metavar="SECONDS",
        help="wait up to this long before each benchmark for other processes to stop using "
        "the CPU (%(default)s)",
    )
    main.add_argument(
        "--retries",
        type=int,
        default=2,
        help="run a benchmark again when other processes disturbed it (%(default)s)",
    )
    main.add_argument(
        "--render-only",
        action="store_true",
        help=f"rewrite the report from the last full run's results ({LAST.relative_to(ROOT)}) "
        "without measuring again",
    )
    commands = main.add_subparsers(dest="command", metavar="{webhook,worker,rss}")
    _webhook_parser(commands)
    _worker_parser(commands)
    _rss_parser(commands)
    return main


# Options from arguments -----------------------------------------------------------------------


def webhook_options(args: argparse.Namespace) -> webhook.Options:
    if args.quick:
        return webhook.Options(duration=5, warmup=1, drain_timeout=30, profile_requests=300)
    if args.command != "webhook":
        return webhook.Options()
    return webhook.Options(
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        learners=args.learners,
        connections=args.connections,
        drain_timeout=args.drain_timeout,
        profile_requests=args.profile_requests,
        ack_only=not args.no_ack_only,
        worker_nice=args.worker_nice,
    )


def worker_options(args: argparse.Namespace) -> worker.Options:
    if args.quick:
        return worker.Options(messages=300, learners=60, warmup=20, profile_messages=100)
    if args.command != "worker":
        return worker.Options()
    backends = tuple(name.strip() for name in args.backends.split(",") if name.strip())
    modes = tuple(name.strip() for name in args.modes.split(",") if name.strip())
    for name in backends:
        if name not in worker.BACKENDS:
            raise SystemExit(f"unknown back end {name!r}; choose from sqlite, postgres")
    for name in modes:
        if name not in worker.MODES:
            raise SystemExit(f"unknown mode {name!r}; choose from task, drain, sweep")
    return worker.Options(
        messages=args.messages,
        learners=args.learners,
        backends=backends,
        modes=modes,
        profile_messages=args.profile_messages,
    )


def rss_options(args: argparse.Namespace) -> rss.Options:
    if args.quick:
        return rss.Options(requests=2000, warmup=300)
    if args.command != "rss":
        return rss.Options()
    return rss.Options(requests=args.requests, rate=args.rate, warmup=args.warmup)


@dataclass
class Results:
    webhook: webhook.Result
    worker: worker.Result
    rss: rss.Result
    machine: machine.Machine
    elapsed: float
    quick: bool
    background: dict[str, float]


# Running --------------------------------------------------------------------------------------


def _stop(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds every `with`, which stops the servers and processes started.
    raise SystemExit(128 + signum)


class Disturbable(Protocol):
    @property
    def disturbance(self) -> float:
        """Cores other processes used while it was measured."""
        ...


R = TypeVar("R", bound=Disturbable)


def measured(
    name: str, run: Callable[[], R], args: argparse.Namespace, background: dict[str, float]
) -> R:
    """Run a benchmark on a quiet machine; again (up to --retries) if others disturbed it."""
    best: R | None = None
    for attempt in range(1 + args.retries):
        load = rig.wait_for_quiet(patience=args.patience)
        result = run()
        if best is None or result.disturbance < best.disturbance:
            best, background[name] = result, load
        if result.disturbance < rig.DISTURBED_CORES:
            break
        if attempt < args.retries:
            rig.say(
                f"{name}: other processes used {result.disturbance:.2f} cores during the run;"
                " running it again"
            )
    assert best is not None
    return best


def run_all(args: argparse.Namespace, host: machine.Machine, started: float) -> None:
    """All three benchmarks, then the report (results are kept to re-render it)."""
    if args.render_only:
        with LAST.open("rb") as handle:
            results: Results = pickle.load(handle)  # noqa: S301 - our own file
    else:
        background: dict[str, float] = {}
        hook = measured("webhook", lambda: webhook.run(webhook_options(args)), args, background)
        work = measured("worker", lambda: worker.run(worker_options(args)), args, background)
        memory = measured("rss", lambda: rss.run(rss_options(args)), args, background)
        results = Results(
            hook, work, memory, host, time.monotonic() - started, args.quick, background
        )
        LAST.parent.mkdir(parents=True, exist_ok=True)
        LAST.write_bytes(pickle.dumps(results))
    output = args.output or (QUICK_DOC if results.quick else DOC)
    notes = "\n**Quick run (`--quick`): short and small, not representative.**\n"
    text = report.document(
        results.machine,
        results.webhook,
        results.worker,
        results.rss,
        results.elapsed,
        notes if results.quick else "",
        getattr(results, "background", {}),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown.carry_blocks(output, text))
    rig.say(f"wrote {output}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    started = time.monotonic()
    loads: dict[str, float] = {}
    if args.command == "webhook":
        hook = measured("webhook", lambda: webhook.run(webhook_options(args)), args, loads)
        print(report.webhook_section(hook))
    elif args.command == "worker":
        work = measured("worker", lambda: worker.run(worker_options(args)), args, loads)
        print(report.worker_section(work))
    elif args.command == "rss":
        print(report.rss_section(measured("rss", lambda: rss.run(rss_options(args)), args, loads)))
    else:
        run_all(args, machine.describe(), started)
    rig.say(f"done in {time.monotonic() - started:.0f} s")
    return 0
