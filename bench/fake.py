"""The fake Telegram Bot API in a child process, so serving it costs the load generator nothing."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

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


class ServedFromChild:
    """Fake servers run by ``target(conn, *args)`` in a spawned child: it sends what it
    serves (its URLs) once started, then answers commands until "stop"."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), name=name, daemon=True)
        self.served: Any = None

    def start(self, timeout: float = 30) -> Self:
        self.process.start()
        if not self._conn.poll(timeout):
            self.stop()
            raise RuntimeError(f"{self.process.name} did not start")
        self.served = self._conn.recv()
        return self

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def ask(self, command: str) -> Any:
        self._conn.send(command)
        return self._conn.recv()

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self._conn.send("stop")
            except OSError:
                pass
            self.process.join(10)
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


class FakeTelegramProcess(ServedFromChild):
    """``with FakeTelegramProcess() as fake:`` serves the Bot API at ``fake.url``."""

    def __init__(self) -> None:
        super().__init__(_serve, (), "fake-telegram")

    @property
    def url(self) -> str:
        return str(self.served or "")

    def sent(self) -> int:
        """How many messages the fake has accepted so far."""
        return int(self.ask("sent"))
