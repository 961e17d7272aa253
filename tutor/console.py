"""``tutor chat``: be a learner in the terminal, over the same inbox, worker and outbox."""

from __future__ import annotations

import queue
import threading
import uuid
from datetime import UTC, datetime

import click

from tutor import intake
from tutor.channels.web import ConsoleChannel
from tutor.messages import Channel, Inbound, Kind, Reply
from tutor.services import build_services
from tutor.settings import Settings
from tutor.worker import Worker

FIRST_REPLY_TIMEOUT = 15.0
MORE_REPLIES_TIMEOUT = 0.4


def run_console(settings: Settings, learner: str) -> None:
    """Read lines, send each through the pipeline, print the tutor's replies."""
    services = build_services(settings)
    replies: queue.Queue[Reply] = queue.Queue()
    services.channels[Channel.CONSOLE] = ConsoleChannel(lambda _chat, reply: replies.put(reply))
    worker = Worker(services)
    stop = threading.Event()
    consumer = threading.Thread(
        target=services.queue.run, args=(worker.drain, worker.sweep, stop, 2), daemon=True
    )
    consumer.start()
    click.echo('Type a message ("hi" to start, "menu", "help"); Ctrl+D to leave.')
    try:
        while True:
            try:
                line = click.prompt("you", prompt_suffix="> ", default="", show_default=False)
            except (EOFError, click.Abort):
                break
            if not line.strip():
                continue
            inbound = Inbound(
                channel=Channel.CONSOLE,
                chat_id=learner,
                learner_key=f"console:{learner}",
                provider_message_id=uuid.uuid4().hex,
                kind=Kind.COMMAND if line.startswith("/") else Kind.TEXT,
                text=line.strip(),
                sent_at=datetime.now(UTC),
            )
            intake.receive(services, inbound)
            _show_replies(replies)
    finally:
        stop.set()
        consumer.join(timeout=5)
        services.close()
    click.echo("Bye! 👋")


def _show_replies(replies: queue.Queue[Reply]) -> None:
    timeout = FIRST_REPLY_TIMEOUT
    while True:
        try:
            reply = replies.get(timeout=timeout)
        except queue.Empty:
            if timeout == FIRST_REPLY_TIMEOUT:
                click.echo("tutor> (no answer yet; is the worker running?)")
            return
        for line in reply.numbered_text().splitlines() or [""]:
            click.echo(f"tutor> {line}")
        timeout = MORE_REPLIES_TIMEOUT
