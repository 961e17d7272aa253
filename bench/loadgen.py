"""An open-loop HTTP/1.1 load generator on plain asyncio streams (no dependencies).

Request ``i`` is due at ``start + i / rate`` whether or not earlier ones have been
answered, and its latency is measured from that due time, so a stalled server
shows up as latency rather than as a quietly lower offered rate (no coordinated
omission). Requests are pre-encoded bytes; connections are kept alive and
opened on demand up to a limit. The generator runs in the calling process and
so shares the machine's cores with the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """One request: times are seconds since the run started; status 0 means no answer."""

    due: float
    sent: float
    done: float
    status: int
    error: str = ""

    @property
    def latency(self) -> float:
        """From when the request was due to its full response (what the platform waits)."""
        return self.done - self.due

    @property
    def service(self) -> float:
        """From when the bytes were written to the full response."""
        return self.done - self.sent

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Run:
    samples: list[Sample]
    rate: float
    wall_seconds: float
    client_cpu_seconds: float
    connections_opened: int
    retried: int


def http_post(host: str, port: int, path: str, body: bytes, headers: Mapping[str, str]) -> bytes:
    """The bytes of one keep-alive ``POST``."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0

    def close(self) -> None:
        self.writer.close()


class _StaleConnection(Exception):
    """The server closed a kept-alive connection before answering: safe to send again."""


class OpenLoop:
    """Sends pre-encoded requests at a fixed rate to one ``host:port``."""

    def __init__(
        self, host: str, port: int, *, max_connections: int = 64, timeout: float = 10.0
    ) -> None:
        self._host = host
        self._port = port
        self._max = max_connections
        self._timeout = timeout
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._freed = asyncio.Event()
        self.opened = 0
        self.retried = 0

    async def warm(self, connections: int) -> None:
        """Open ``connections`` ahead of time so the first second measures no handshakes."""
        made = await asyncio.gather(*(self._connect() for _ in range(connections)))
        self._idle.extend(made)

    async def run(self, requests: Sequence[bytes], rate: float) -> Run:
        """Send every request at ``rate`` per second; returns once all are answered."""
        loop = asyncio.get_running_loop()
        cpu_started = time.process_time()
        retried = self.retried
        start = loop.time() + 0.01
        tasks: list[asyncio.Task[Sample]] = []
        for index, request in enumerate(requests):
            due = start + index / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(self._one(request, due, start)))
        samples = list(await asyncio.gather(*tasks))
        wall = max((sample.done for sample in samples), default=0.0)
        return Run(
            samples=samples,
            rate=rate,
            wall_seconds=wall,
            client_cpu_seconds=time.process_time() - cpu_started,
            connections_opened=self.opened,
            retried=self.retried - retried,
        )

    def close(self) -> None:
        while self._idle:
            self._idle.popleft().close()

    # One request ----------------------------------------------------------------

    async def _one(self, request: bytes, due: float, start: float) -> Sample:
        loop = asyncio.get_running_loop()
        sent = loop.time()
        try:
            async with asyncio.timeout(self._timeout):
                connection = await self._acquire()
                sent = loop.time()
                try:
                    status = await self._exchange(connection, request)
                except _StaleConnection:
                    self.retried += 1
                    connection = await self._acquire(fresh=True)
                    sent = loop.time()
                    status = await self._exchange(connection, request)
        except TimeoutError:
            return Sample(due - start, sent - start, loop.time() - start, 0, "timeout")
        except (OSError, asyncio.IncompleteReadError, ValueError, _StaleConnection) as exc:
            return Sample(due - start, sent - start, loop.time() - start, 0, type(exc).__name__)
        return Sample(due - start, sent - start, loop.time() - start, status)

    async def _exchange(self, connection: _Connection, request: bytes) -> int:
        """Write one request and read its response; releases or closes the connection."""
        reused = connection.used > 0
        connection.used += 1
        keep = False
        try:
            connection.writer.write(request)
            try:
                head = await connection.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
                partial = getattr(exc, "partial", b"")
                if reused and not partial:
                    raise _StaleConnection from exc
                raise
            status, length, keep = _parse_head(head)
            if length:
                await connection.reader.readexactly(length)
            return status
        finally:
            self._release(connection, keep)

    async def _acquire(self, *, fresh: bool = False) -> _Connection:
        while True:
            if self._idle and not fresh:
                return self._idle.popleft()
            if self._open < self._max:
                return await self._connect()
            self._freed.clear()
            await self._freed.wait()

    async def _connect(self) -> _Connection:
        self._open += 1
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except BaseException:
            self._open -= 1
            raise
        self.opened += 1
        return _Connection(reader, writer)

    def _release(self, connection: _Connection, keep: bool) -> None:
        if keep:
            self._idle.append(connection)  # FIFO: every connection stays warm
        else:
            connection.close()
            self._open -= 1
        self._freed.set()


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    """Status, Content-Length and whether the connection stays open."""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length, keep = 0, True
    for line in lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and "close" in value.lower():
            keep = False
    return status, length, keep
