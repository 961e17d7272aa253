"""The disk under the embedded SQLite database fills up while ``tutor serve`` runs.

The database lives on a small tmpfs mounted for the test (root only; skipped
otherwise). While the disk is full, a webhook must not answer 200 for a message it
could not keep, and a message it did keep must not be given up on; the process keeps
running, and once space is freed everything is answered once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import channel_env
from tests.fakes.telegram import FakeTelegram
from tests.support.faults import Platform, assert_recovered, check_exactly_once, settle
from tests.support.payloads import telegram_text
from tests.support.serve import Server

pytestmark = pytest.mark.reliability


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs at tmp_path/disk, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to free the space)."""
    filler = disk / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(descriptor, b"\0" * size)
    finally:
        os.close(descriptor)
    with pytest.raises(OSError, match="No space left") as full:
        (disk / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


def test_a_full_disk_under_sqlite_refuses_webhooks_then_answers_them_once(
    tmp_path: Path, small_disk: Path, fake_telegram: FakeTelegram
) -> None:
    """Injects: the tmpfs holding the SQLite database filled to the last byte for 6 s while
        3 learners write to `tutor serve` (web, worker and scheduler in one process).
    Checks: webhooks answer 503 (never 200 for a message not kept) and the platform delivers
        again; no kept message is given up on; the process keeps running; once space is
        freed every message is answered exactly once and /readyz is ready."""
    database_url = f"sqlite:///{small_disk / 'tutor.sqlite3'}"
    env = {
        **channel_env(fake_telegram, None),
        "TUTOR_DATABASE_URL": database_url,
        "TUTOR_SEND_PACING": "false",
        "TUTOR_SEND_BACKOFF_SECONDS": "0.2",
        "TUTOR_LOG_LEVEL": "INFO",
    }
    server = Server(tmp_path, env)
    try:
        server.wait_healthy(timeout=120)  # the machine may be busy
        platform = Platform(server.url)
        users = [9601, 9602, 9603]
        for user in users:
            platform.telegram(telegram_text(user, "hi"))
        settle(database_url)

        filler = _fill(small_disk)
        writers = [
            threading.Thread(
                target=lambda user=user: [  # type: ignore[misc]
                    platform.telegram(telegram_text(user, text)) for text in ("help", "menu", "1")
                ]
            )
            for user in users
        ]
        for writer in writers:
            writer.start()
        time.sleep(6)
        assert server.process.poll() is None, server.output()
        refused = sum(platform.refused.values())
        filler.unlink()
        for writer in writers:
            writer.join(timeout=60)
        settle(database_url)
        check_exactly_once(database_url, fake_telegram, expected_messages=4 * len(users))
        assert_recovered(server.url, [server.process], redis=False)
    finally:
        server.stop()
    assert refused, "nothing was refused while the disk was full"
    print(f"refused while full: {dict(platform.refused)}")
