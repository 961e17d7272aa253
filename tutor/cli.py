"""The ``tutor`` command: serve, worker, scheduler, chat, doctor, db, telegram, inbox,
memory, learner, payments, users."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tutor.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from tutor.services import Services
    from tutor.settings import Settings


def _settings() -> Settings:
    from tutor import logs
    from tutor.settings import load_settings

    try:
        settings = load_settings()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    logs.configure(settings.log_level, settings.log_format)
    if settings.metrics_dir:
        # prometheus_client reads this when first imported.
        Path(settings.metrics_dir).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.metrics_dir))
    return settings


def _services(settings: Settings, **options: Any) -> Services:
    from tutor.services import build_services

    metrics_dir = str(settings.metrics_dir) if settings.metrics_dir else None
    return build_services(settings, metrics_dir=metrics_dir, **options)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _start_worker(services: Services, stop: threading.Event) -> threading.Thread:
    from tutor.worker import Worker

    worker = Worker(services)
    thread = threading.Thread(
        target=services.queue.run,
        args=(worker.drain, worker.sweep, stop, services.settings.worker_threads),
        name="tutor-queue",
        daemon=True,
    )
    thread.start()
    return thread


@click.group()
@click.version_option(package_name="tutor")
def main() -> None:
    """tutor: a language tutor for WhatsApp and Telegram."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Web threads.")
def serve(host: str, port: int, threads: int) -> None:
    """Run web, worker and scheduler in one process (the embedded default)."""
    import waitress

    from tutor.app import create_app, max_request_bytes
    from tutor.scheduler import build_scheduler

    settings = _settings()
    services = _services(settings)
    stop = threading.Event()
    worker_thread = _start_worker(services, stop)
    scheduler = build_scheduler(services, blocking=False)
    scheduler.start()
    app = create_app(settings, services)
    # waitress buffers a whole body before the app sees it: refuse past the app's own limit.
    server = waitress.create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="tutor",
        max_request_body_size=max_request_bytes(settings),
    )

    def shutdown(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # leaves server.run() in the main thread, like Ctrl+C

    signal.signal(signal.SIGTERM, shutdown)
    click.echo(f"tutor is running: chat with it at http://{host}:{port}/  (Ctrl+C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        stop.set()
        scheduler.shutdown(wait=False)
        worker_thread.join(timeout=10)
        services.close()


@main.command()
@click.option("--threads", type=int, default=None, help="Worker threads (TUTOR_WORKER_THREADS).")
def worker(threads: int | None) -> None:
    """Process the inbox: consume the task queue and sweep for stragglers."""
    from tutor.worker import Worker

    settings = _settings()
    services = _services(settings, migrate_embedded=True)
    stop = threading.Event()
    _stop_on_signals(stop)
    engine_worker = Worker(services)
    click.echo(f"worker started ({settings.resolved_queue} queue)", err=True)
    try:
        services.queue.run(
            engine_worker.drain, engine_worker.sweep, stop, threads or settings.worker_threads
        )
    finally:
        services.close()


@main.command()
def scheduler() -> None:
    """Run scheduled jobs (one scheduler process per deployment)."""
    from tutor.scheduler import build_scheduler

    settings = _settings()
    services = _services(settings)
    click.echo("scheduler started", err=True)
    try:
        build_scheduler(services, blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        services.close()


@main.command()
@click.option("--learner", default="local", show_default=True, help="Who you are in the chat.")
def chat(learner: str) -> None:
    """Be a learner in the terminal, over the same pipeline as the webhooks."""
    from tutor.console import run_console

    settings = _settings()
    run_console(settings, learner)


@main.command()
def doctor() -> None:
    """Print the resolved configuration and check every part."""
    from tutor.doctor import run_checks

    settings = _settings()
    ok = run_checks(settings, click.echo)
    sys.exit(0 if ok else 1)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (SQLite, PostgreSQL or Oracle); safe to run twice."""
    from tutor import migrate
    from tutor.db import make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current(engine)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION (``base`` drops everything)."""
    from tutor import migrate
    from tutor.db import make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current(engine)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision."""
    from tutor import migrate
    from tutor.db import make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    click.echo(f"current: {migrate.current(engine)}  head: {migrate.head()}")


@main.group()
def telegram() -> None:
    """Telegram bot settings."""


def _telegram_client(settings: Settings) -> Any:
    import httpx

    from tutor.channels.telegram import TelegramClient

    if settings.telegram_bot_token is None:
        raise click.ClickException("set TUTOR_TELEGRAM_BOT_TOKEN first")
    return TelegramClient(
        settings.telegram_api_url,
        settings.telegram_bot_token.get_secret_value(),
        httpx.Client(timeout=15),
        15.0,
    )


@telegram.command("set-webhook")
@click.argument("url", required=False)
@click.option("--drop-pending", is_flag=True, help="Discard updates Telegram has queued.")
def telegram_set_webhook(url: str | None, drop_pending: bool) -> None:
    """Register URL (default: TUTOR_PUBLIC_URL + /webhooks/telegram) with the secret token."""
    from tutor.errors import ChannelError

    settings = _settings()
    if url is None:
        if not settings.public_url:
            raise click.ClickException("give the URL or set TUTOR_PUBLIC_URL")
        url = settings.public_url.rstrip("/") + "/webhooks/telegram"
    if settings.telegram_webhook_secret is None:
        raise click.ClickException("set TUTOR_TELEGRAM_WEBHOOK_SECRET first")
    if not url.startswith("https://"):
        raise click.ClickException("Telegram only delivers webhooks to https:// URLs")
    client = _telegram_client(settings)
    try:
        client.set_webhook(
            url,
            settings.telegram_webhook_secret.get_secret_value(),
            drop_pending_updates=drop_pending,
        )
    except ChannelError as exc:
        raise click.ClickException(f"Telegram refused: {exc}") from exc
    click.echo(f"webhook set: {url}")


@telegram.command("info")
def telegram_info() -> None:
    """Show what Telegram knows about the webhook."""
    settings = _settings()
    info = _telegram_client(settings).get_webhook_info()
    for key in ("url", "pending_update_count", "last_error_date", "last_error_message"):
        if key in info:
            click.echo(f"{key}: {info[key]}")


@main.group()
def llm() -> None:
    """Model routing: breakers, budgets, caches, costs."""


def _router(settings: Settings) -> Any:
    return _services(settings).router


@llm.command("status")
def llm_status() -> None:
    """Breaker states, budget use, cache hit rates, last errors."""
    from tutor.llm.status import status_lines

    settings = _settings()
    for line in status_lines(_router(settings)):
        click.echo(line)


@llm.command("report")
@click.option("--days", default=30, show_default=True, help="How far back.")
@click.option(
    "--by",
    "group",
    default="provider",
    show_default=True,
    type=click.Choice(["provider", "learner", "agent", "day", "tier"]),
)
def llm_report(days: int, group: str) -> None:
    """Model cost and usage per provider, learner, agent, day or tier."""
    from datetime import UTC, datetime, timedelta

    from tutor.llm.status import report_lines

    settings = _settings()
    until = datetime.now(UTC)
    for line in report_lines(_router(settings), until - timedelta(days=days), until, group):  # type: ignore[arg-type]
        click.echo(line)


@main.group()
def simulate() -> None:
    """Simulations that answer planning questions."""


@simulate.command("costs")
@click.option("--learners", default=1000, show_default=True)
@click.option("--days", default=30, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--fail-rate", default=0.0, show_default=True, help="Share of provider calls that fail."
)
@click.option(
    "--redis-url",
    default="",
    help="A scratch Redis database (much faster than the embedded store).",
)
def simulate_costs(learners: int, days: int, seed: int, fail_rate: float, redis_url: str) -> None:
    """Replay a month of learners through the real router with priced simulated providers."""
    from tutor.llm import simulate as simulation

    settings = _settings()
    with click.progressbar(length=days, label="simulating days", file=sys.stderr) as bar:
        report = simulation.run(
            settings,
            learners=learners,
            days=days,
            seed=seed,
            fail_rate=fail_rate,
            redis_url=redis_url,
            progress=bar.update,
        )
    for line in report.lines():
        click.echo(line)


@main.group()
def curriculum() -> None:
    """Curricula: check and list them."""


@curriculum.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def curriculum_validate(files: tuple[str, ...]) -> None:
    """Check curriculum YAML FILES; every problem is printed with its line."""
    from agents.curriculum import MINIMUMS, CurriculumError, load

    failed = False
    for name in files:
        try:
            loaded = load(Path(name))
        except CurriculumError as exc:
            failed = True
            for problem in exc.problems:
                click.echo(f"{name}: {problem}", err=True)
            continue
        counts = loaded.counts()
        short = [f"{k} {counts[k]} < {v}" for k, v in MINIMUMS.items() if counts[k] < v]
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        if short:
            failed = True
            click.echo(f"{name}: valid but short of the minimum: {'; '.join(short)}", err=True)
        else:
            click.echo(f"{name}: ok ({loaded.id} v{loaded.version}: {summary})")
    sys.exit(1 if failed else 0)


@curriculum.command("list")
def curriculum_list() -> None:
    """The curricula that ship with the service."""
    from agents.curriculum import CurriculumError, load, shipped

    for path in shipped():
        try:
            loaded = load(path)
        except CurriculumError as exc:
            click.echo(f"{path.name}: INVALID ({len(exc.problems)} problems)")
            continue
        counts = ", ".join(f"{n} {k}" for k, n in loaded.counts().items())
        click.echo(f"{loaded.id} v{loaded.version} ({loaded.target_language}): {counts}")


@curriculum.command("assign")
@click.argument("learner_key")
@click.argument("curriculum_key", metavar="CURRICULUM@VERSION")
def curriculum_assign(learner_key: str, curriculum_key: str) -> None:
    """Move a learner to another curriculum version (e.g. telegram:42 es-for-en@2)."""
    from sqlalchemy import select, update

    from agents.registry import shipped_library
    from tutor.models import learners

    engine = _migrated_store(_settings())
    chosen = shipped_library().with_store(engine).get(curriculum_key)
    if chosen is None:
        raise click.ClickException(f"no curriculum {curriculum_key!r} (see: list)")
    with engine.begin() as connection:
        profile = connection.execute(
            select(learners.c.profile).where(learners.c.key == learner_key)
        ).scalar_one_or_none()
        if profile is None:
            raise click.ClickException(f"no learner {learner_key!r}")
        if chosen.target_language != profile.get("target_language"):
            raise click.ClickException(
                f"{curriculum_key} teaches {chosen.target_language}; "
                f"the learner practises {profile.get('target_language')}"
            )
        connection.execute(
            update(learners)
            .where(learners.c.key == learner_key)
            .values(profile={**profile, "curriculum": curriculum_key})
        )
    click.echo(f"{learner_key}: now on {curriculum_key}")


@main.group()
def inbox() -> None:
    """The durable inbox and its dead letters."""


def _migrated_store(settings: Settings) -> Engine:
    """The SQL store, refused with advice (not a traceback) before its first migration."""
    from tutor import migrate
    from tutor.db import make_engine

    engine = make_engine(settings.resolved_database_url)
    if migrate.current(engine) is None:
        engine.dispose()
        raise click.ClickException(
            "the database has no schema yet: run `tutor db upgrade` (or start `tutor serve`)"
        )
    return engine


@inbox.command("failed")
@click.option("--limit", default=50, show_default=True)
def inbox_failed(limit: int) -> None:
    """List messages and replies that failed for good (dead letters)."""
    from tutor import inbox as inbox_store

    settings = _settings()
    rows = inbox_store.failed(_migrated_store(settings), limit)
    if not rows:
        click.echo("no dead letters")
        return
    for row in rows:
        click.echo(
            f"{row['created_at']:%Y-%m-%d %H:%M:%S}  {row['source']:<6} #{row['ref_id']:<8} "
            f"{row['channel']:<9} {row['correlation_id']}  {row['error']}"
        )


@inbox.command("stats")
def inbox_stats() -> None:
    """Count inbox rows by status."""
    from tutor import inbox as inbox_store

    settings = _settings()
    counts = inbox_store.counts(_migrated_store(settings))
    click.echo("  ".join(f"{status}: {n}" for status, n in counts.items()))


@main.group()
def memory() -> None:
    """What the tutor remembers: the nightly summaries."""


@memory.command("nightly")
@click.option(
    "--now",
    "any_hour",
    is_flag=True,
    help="Summarise every learner's yesterday now, not only those whose night it is.",
)
@click.option("--batch-size", type=int, default=None, help="Learners read at a time.")
def memory_nightly(any_hour: bool, batch_size: int | None) -> None:
    """Turn yesterday's sessions into memory notes (safe to rerun or interrupt)."""
    from tqdm import tqdm

    from memory import nightly
    from memory.embeddings import embedder_for

    settings = _settings()
    engine = _migrated_store(settings)
    with tqdm(unit="learner", disable=not sys.stderr.isatty()) as bar:

        def set_total(total: int) -> None:
            bar.total = total
            bar.refresh()

        report = nightly.run(
            engine,
            embedder_for(settings),
            any_hour=any_hour,
            retention_days=settings.memory_retention_days,
            batch_size=batch_size or settings.memory_batch_size,
            progress=bar.update,
            total=set_total,
        )
    engine.dispose()
    click.echo(
        f"learners seen {report.seen}, summarised {report.done}, already done "
        f"{report.skipped}, notes written {report.notes}, old turns pruned "
        f"{report.pruned_turns}, in {report.seconds:.1f} s"
    )


@main.group()
def learner() -> None:
    """One learner's data: export it, or erase it everywhere."""


@learner.command("export")
@click.argument("key")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the JSON here instead of to standard output.",
)
def learner_export(key: str, out: Path | None) -> None:
    """Everything stored about learner KEY (e.g. telegram:12345) as JSON."""
    from memory import export

    settings = _settings()
    engine = _migrated_store(settings)
    try:
        with engine.connect() as connection:
            document = export.collect(connection, key)
    finally:
        engine.dispose()
    if document is None:
        raise click.ClickException(f"no learner {key!r}")
    data = export.render(document)
    if out is None:
        click.echo(data.decode())
        return
    out.write_bytes(data)
    click.echo(f"{key}: written to {out}", err=True)


@learner.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Confirm: the erasure cannot be undone.")
def learner_delete(key: str, yes: bool) -> None:
    """Erase learner KEY everywhere: SQL rows, Redis keys and cached answers."""
    from memory import erase

    if not yes:
        raise click.ClickException("this erases the learner for good: add --yes to confirm")
    settings = _settings()
    _migrated_store(settings).dispose()  # refuses a store without a schema, with advice
    services = _services(settings, migrate_embedded=False)
    try:
        erasure = erase.erase(services.engine, services.redis, key, hot=services.hot)
    finally:
        services.close()
    if not erasure.found:
        raise click.ClickException(f"no learner {key!r}")
    click.echo(f"{key}: erased")
    for line in erasure.lines():
        click.echo(f"  {line}")


def _register() -> None:
    from tutor.cli_payments import payments
    from tutor.cli_users import users

    main.add_command(payments)
    main.add_command(users)


_register()

if __name__ == "__main__":
    main()
