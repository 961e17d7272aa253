"""``tutor serve`` as a subprocess for browser tests, and the chromium they drive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.services import free_port
from tests.support.stack import wait_healthy

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TUTOR = Path(sys.executable).parent / "tutor"


class Server:
    """``tutor serve`` on a free port, embedded store under a scratch directory."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.log = workdir / "serve.log"
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("TUTOR_") and name != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            TUTOR_VAR_DIR=str(workdir / "var"),
            TUTOR_DATABASE_URL=self.database_url,
            TUTOR_SECRET_KEY="browser-test-secret-key",
            TUTOR_SWEEP_INTERVAL_SECONDS="0.5",
            TUTOR_LOG_LEVEL="WARNING",
        )
        env.update(extra_env or {})
        self.env = env
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(TUTOR), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.workdir / 'var' / 'tutor.sqlite3'}"

    def wait_healthy(self, timeout: float = 30.0) -> None:
        wait_healthy(self.url, self.process, "tutor serve", self.output, timeout)

    def add_staff(self, email: str, role: str, name: str, password: str) -> None:
        """``tutor users create`` against this server's database, as an operator runs it."""
        made = subprocess.run(
            [
                str(TUTOR),
                "users",
                "create",
                email,
                "--role",
                role,
                "--name",
                name,
                "--password-stdin",
            ],
            input=password + "\n",
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        assert made.returncode == 0, made.stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl+C: waitress stops, then the worker
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def chromium(timeout_ms: int) -> Iterator[Any]:
    """Debian's chromium, headless, through Playwright; ``expect`` waits up to ``timeout_ms``
    (pages here wait on a real worker). Imported late: only once chromium is known to exist."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        expect.set_options(timeout=timeout_ms)
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
