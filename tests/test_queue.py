"""The TaskQueue contract, run against the in-process pool and Dramatiq on a real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tutor.queue import DramatiqQueue, EmbeddedQueue, TaskQueue


@pytest.fixture(params=["embedded", "dramatiq"])
def task_queue(request: pytest.FixtureRequest) -> Iterator[TaskQueue]:
    if request.param == "embedded":
        queue: TaskQueue = EmbeddedQueue(poll_interval=0.1)
    else:
        queue = DramatiqQueue(request.getfixturevalue("redis_url"), sweep_interval=0.1)
    yield queue
    queue.close()


def _run(
    queue: TaskQueue, drained: list[str], sweeps: list[int]
) -> tuple[threading.Event, threading.Thread]:
    lock = threading.Lock()

    def drain(key: str) -> int:
        with lock:
            drained.append(key)
        return 1

    def sweep() -> int:
        sweeps.append(1)
        return 0

    stop = threading.Event()
    thread = threading.Thread(target=queue.run, args=(drain, sweep, stop, 2), daemon=True)
    thread.start()
    return stop, thread


def _wait(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise TimeoutError


def test_every_notification_reaches_a_drain(task_queue: TaskQueue) -> None:
    drained: list[str] = []
    sweeps: list[int] = []
    stop, thread = _run(task_queue, drained, sweeps)
    time.sleep(0.3)  # consumers up
    keys = [f"telegram:{n}" for n in range(20)]
    for key in keys:
        task_queue.notify(key)
    _wait(lambda: len(drained) >= len(keys))
    _wait(lambda: len(sweeps) >= 2)  # the sweeper runs on its interval too
    stop.set()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert sorted(drained) == sorted(keys)


def test_a_failing_drain_does_not_stop_the_consumer(task_queue: TaskQueue) -> None:
    seen: list[str] = []

    def drain(key: str) -> int:
        seen.append(key)
        if key == "bad":
            raise RuntimeError("boom")
        return 1

    stop = threading.Event()
    thread = threading.Thread(target=task_queue.run, args=(drain, lambda: 0, stop, 1), daemon=True)
    thread.start()
    time.sleep(0.3)
    task_queue.notify("bad")
    task_queue.notify("good")
    _wait(lambda: "good" in seen)
    stop.set()
    thread.join(timeout=20)


def test_embedded_notify_is_a_no_op_without_a_consumer() -> None:
    queue = EmbeddedQueue()
    for n in range(1000):
        queue.notify(f"web:{n}")  # a web-only process must not pile these up
    assert queue._keys.qsize() == 0


def test_dramatiq_notify_fails_fast_when_redis_is_down() -> None:
    from tests.support.services import free_port

    queue = DramatiqQueue(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017, PT011 - any connection error will do
        queue.notify("telegram:1")
    assert time.monotonic() - started < 3
