"""Signed Telegram updates as load: unique update ids, many learners taking turns."""

from __future__ import annotations

from collections.abc import Iterable

from bench import rig
from bench.loadgen import http_post
from tests.support import payloads

#: What learners say, in turn: commands, onboarding answers, menu picks, free text.
TEXTS = ("/start", "hola", "1", "English", "2", "menu", "how do you say cat?", "gracias")
FIRST_USER_ID = 500_000_000


def text_for(index: int, learners: int) -> str:
    """The text of message ``index`` when ``learners`` take turns (each walks TEXTS)."""
    return TEXTS[(index // learners) % len(TEXTS)]


def bodies(count: int, learners: int, first_update_id: int) -> list[bytes]:
    """JSON bodies of ``count`` text updates; learner ``i % learners`` sends message ``i``."""
    found = []
    for index in range(count):
        user_id = FIRST_USER_ID + index % learners
        body = payloads.telegram_text(
            user_id, text_for(index, learners), update_id=first_update_id + index
        )
        found.append(payloads.encode(body))
    return found


def requests(port: int, encoded: Iterable[bytes]) -> list[bytes]:
    """Each body as a whole HTTP request carrying the webhook secret header."""
    headers = {"Content-Type": "application/json", rig.SECRET_HEADER: rig.TELEGRAM_SECRET}
    return [http_post("127.0.0.1", port, "/webhooks/telegram", body, headers) for body in encoded]
