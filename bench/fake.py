"""The fake Telegram Bot API in a child process, so serving it costs the load generator nothing."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Self

from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram

__all__ = ["DEFAULT_TOKEN", "FakeTelegramProcess"]


def _serve(conn: Connection) -> None:
    with FakeTelegram() as fake:
        conn.send(fake.url)
        while True:
            command = conn.recv()
            if command == "stop":
                break
            if command == "sent":
                conn.send(len(fake.sent))


class FakeTelegramProcess:
    """``with FakeTelegramProcess() as fake:`` serves the Bot API at ``fake.url``."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child,), name="fake-telegram", daemon=True
        )
        self.url = ""

    def start(self) -> Self:
        self.process.start()
        if not self._conn.poll(30):
            self.stop()
            raise RuntimeError("the fake Telegram server did not start")
        self.url = str(self._conn.recv())
        return self

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def sent(self) -> int:
        """How many messages the fake has accepted so far."""
        self._conn.send("sent")
        return int(self._conn.recv())

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self._conn.send("stop")
            except OSError:
                pass
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
