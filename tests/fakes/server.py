"""A small threaded HTTP server base for fake platform APIs, with fault injection.

    with FakeTelegram() as fake:
        fake.inject(429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}})
        ...  # point the client at fake.url

Subclasses implement :meth:`FakeServer.handle`; every request is recorded first,
then any queued fault is returned instead of normal handling.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes = b""
    query: dict[str, list[str]] = field(default_factory=dict)
    #: When it arrived (``time.time()``), to measure the rate a client sent at.
    received_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class FakeResponse:
    """What the fake answers: a dict/list is sent as JSON, str/bytes as they are."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        if self.body is None:
            return b"", "text/plain"
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class _Fault:
    response: FakeResponse
    times: int


class FakeServer:
    """Threaded HTTP server on 127.0.0.1 (free port) recording requests and replaying faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._faults: deque[_Fault] = deque()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        """Bind a free port and serve in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns quickly
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed responses still sleeping are released."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # recording and faults ---------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()

    def inject(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` requests with this canned response (after ``delay`` s)."""
        response = FakeResponse(status, body, dict(headers or {}), delay)
        with self._lock:
            self._faults.append(_Fault(response, times))

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Block until ``predicate(requests)`` holds; return the requests or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.requests  # the predicate runs unlocked: it may read other state
            if predicate(snapshot):
                return snapshot
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{type(self).__name__}: condition not met in {timeout}s")
            with self._changed:
                # Woken after each request is handled; the short poll covers the gap between
                # checking and waiting.
                self._changed.wait(min(remaining, 0.05))

    # for subclasses -----------------------------------------------------------

    def handle(self, request: RecordedRequest) -> FakeResponse:
        """Answer one request; subclasses speak their platform's API here."""
        return FakeResponse(404, {"error": "not found"})

    # internals ----------------------------------------------------------------

    def _dispatch(self, request: RecordedRequest) -> FakeResponse:
        with self._changed:
            self._requests.append(request)
            fault = self._next_fault()
        response = fault if fault is not None else self.handle(request)
        with self._changed:
            self._changed.notify_all()  # after handling, so state the fake keeps is visible
        return response

    def _next_fault(self) -> FakeResponse | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._faults.popleft()
        return fault.response

    def _sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes; with Nagle on, the client's delayed ACK
        # would stall every keep-alive response by ~40 ms.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            """Keep test output quiet."""

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            split = urlsplit(self.path)
            request = RecordedRequest(
                method=self.command,
                path=split.path,
                headers={key.lower(): value for key, value in self.headers.items()},
                json=parsed,
                body=raw,
                query=parse_qs(split.query),
            )
            response = fake._dispatch(request)
            if response.delay:
                fake._sleep(response.delay)
            payload, content_type = response.encoded()
            try:
                self.send_response(response.status)
                headers = {"Content-Type": content_type, **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
