"""The soak's network edge: Telegram, WhatsApp, Groq and Stripe fakes with realistic latency.

They run in one spawned child process (so serving them costs the load generator's
process nothing) and answer after a random delay drawn per request. Every accepted send
is logged with the provider's message id and the time the request arrived, which is
when the learner would see the reply; the parent reads that log at the end.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any, Self

from bench.fake import ServedFromChild
from tests.fakes.groq import FakeGroq
from tests.fakes.server import FakeResponse, RecordedRequest
from tests.fakes.stripe import FakeStripe
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp

#: Seconds each fake waits before answering (uniform between the two).
TELEGRAM_LATENCY = (0.040, 0.120)
WHATSAPP_LATENCY = (0.060, 0.200)
GROQ_LATENCY = (0.150, 0.600)
STRIPE_LATENCY = (0.100, 0.300)
#: File and media ids under this prefix all serve the soak's voice note.
VOICE_PREFIX = "soakvoice"
_TELEGRAM_SENDS = ("/sendMessage", "/sendVoice", "/sendDocument", "/sendPhoto", "/sendInvoice")


@dataclass(frozen=True, slots=True)
class Delivery:
    """One send a fake accepted: the id it answered with and when the request arrived."""

    channel: str
    provider_id: str
    chat: str
    method: str
    arrived: float


@dataclass
class EdgeReport:
    """What the fakes saw over the run."""

    deliveries: list[Delivery]
    statuses: Counter[str]
    model_calls: int
    voice_downloads: int


class _Log:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: list[Delivery] = []
        self.statuses: Counter[str] = Counter()
        self.downloads = 0

    def status(self, name: str, response: FakeResponse) -> None:
        with self.lock:
            self.statuses[f"{name} {response.status}"] += 1

    def add(self, delivery: Delivery) -> None:
        with self.lock:
            self.deliveries.append(delivery)


def _delayed(response: FakeResponse, span: tuple[float, float]) -> FakeResponse:
    return replace(response, delay=response.delay + random.uniform(*span))  # noqa: S311


class SlowTelegram(FakeTelegram):
    """The fake Bot API answering after 40-120 ms; any ``soakvoice*`` file is the voice note."""

    def __init__(self, log: _Log, voice: bytes) -> None:
        super().__init__()
        self.log = log
        self.voice = voice

    def handle(self, request: RecordedRequest) -> FakeResponse:
        file_id = str((request.query.get("file_id") or [""])[-1])
        if isinstance(request.json, dict):
            file_id = str(request.json.get("file_id", file_id))
        if file_id.startswith(VOICE_PREFIX) and file_id not in self.files:
            self.add_file(file_id, self.voice)
        if "/file/" in request.path:
            with self.log.lock:
                self.log.downloads += 1
        response = super().handle(request)
        self.log.status("telegram", response)
        if response.status == 200 and request.path.endswith(_TELEGRAM_SENDS):
            result = response.body["result"]
            self.log.add(
                Delivery(
                    "telegram",
                    str(result["message_id"]),
                    str(result["chat"]["id"]),
                    request.path.rsplit("/", 1)[-1],
                    request.received_at,
                )
            )
        return _delayed(response, TELEGRAM_LATENCY)


class SlowWhatsApp(FakeWhatsApp):
    """The fake Cloud API answering after 60-200 ms; any ``soakvoice*`` media is the note."""

    def __init__(self, log: _Log, voice: bytes) -> None:
        super().__init__()
        self.log = log
        self.voice = voice

    def handle(self, request: RecordedRequest) -> FakeResponse:
        media_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        if media_id.startswith(VOICE_PREFIX) and media_id not in self.media:
            self.add_media(media_id, self.voice)
        if "/media-download/" in request.path:
            with self.log.lock:
                self.log.downloads += 1
        response = super().handle(request)
        self.log.status("whatsapp", response)
        if response.status == 200 and request.path.endswith("/messages"):
            body = response.body
            self.log.add(
                Delivery(
                    "whatsapp",
                    str(body["messages"][0]["id"]),
                    str(body["contacts"][0]["input"]),
                    str((request.json or {}).get("type", "")),
                    request.received_at,
                )
            )
        return _delayed(response, WHATSAPP_LATENCY)


def model_answer(body: dict[str, Any]) -> str:
    """What a well-behaved fast model answers to the tutor's prompts: the JSON a
    classification or a correction asks for, else a short line in the language asked for."""
    text = " ".join(str(m.get("content", "")) for m in body.get("messages") or [])
    if '"intent"' in text:
        return json.dumps({"intent": "conversation", "confidence": 0.9})
    if '"errors"' in text:
        return json.dumps({"errors": []})
    if "json" in text.lower():
        return json.dumps({"reply": "¡Muy bien! ¿Y qué haces los fines de semana?"})
    if "in English" in text and "in Spanish" not in text:
        return "Nice! What do you usually do at the weekend?"
    return "¡Muy bien! ¿Y qué haces normalmente los fines de semana?"


class SlowGroq(FakeGroq):
    def __init__(self, log: _Log) -> None:
        super().__init__(responder=model_answer)
        self.log = log

    def handle(self, request: RecordedRequest) -> FakeResponse:
        response = super().handle(request)
        self.log.status("groq", response)
        return _delayed(response, GROQ_LATENCY)


class SlowStripe(FakeStripe):
    def __init__(self, log: _Log) -> None:
        super().__init__()
        self.log = log

    def handle(self, request: RecordedRequest) -> FakeResponse:
        response = super().handle(request)
        self.log.status("stripe", response)
        return _delayed(response, STRIPE_LATENCY)


def _serve(conn: Connection, voice: bytes) -> None:
    log = _Log()
    fakes = (SlowTelegram(log, voice), SlowWhatsApp(log, voice), SlowGroq(log), SlowStripe(log))
    for fake in fakes:
        fake.start()
    conn.send([fake.url for fake in fakes])
    groq = fakes[2]
    while True:
        command = conn.recv()
        if command == "stop":
            break
        with log.lock:
            if command == "count":
                conn.send(len(log.deliveries))
            elif command == "report":
                conn.send(EdgeReport(list(log.deliveries), Counter(log.statuses), 0, log.downloads))
        if command == "report":
            conn.send(groq.calls)
    for fake in fakes:
        fake.stop()


class Edge(ServedFromChild):
    """``with Edge(voice_note) as edge:`` serves the four fakes; ``edge.telegram_url`` etc."""

    def __init__(self, voice: bytes) -> None:
        super().__init__(_serve, (voice,), "soak-fakes")

    def start(self, timeout: float = 60) -> Self:
        super().start(timeout)
        self.telegram_url, self.whatsapp_url, self.groq_url, self.stripe_url = self.served
        return self

    def sends(self) -> int:
        """Sends accepted so far (both channels)."""
        return int(self.ask("count"))

    def report(self) -> EdgeReport:
        report: EdgeReport = self.ask("report")
        report.model_calls = int(self._conn.recv())
        return report
