"""The real processes: gunicorn serving the app and ``tutor worker``, as an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    name: str,
    logs: Callable[[], str],
    timeout: float = 30.0,
) -> None:
    """Poll ``url``/healthz until it answers 200; fail with the process's output if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{logs()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not become healthy:\n{logs()}")


class Stack:
    """gunicorn + N ``tutor worker`` processes sharing one environment of TUTOR_* settings."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.env = {
            **os.environ,
            "TUTOR_LOG_LEVEL": "INFO",
            "TUTOR_VAR_DIR": str(workdir / "var"),
            "TUTOR_BIND": f"127.0.0.1:{self.port}",
            "TUTOR_WEB_WORKERS": "2",
            **env,
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}-{len(self._logs)}.log"
        self._logs.append(log)
        with log.open("wb") as handle:
            return subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_web(self) -> None:
        self.web = self._spawn("web", [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")])
        wait_healthy(self.url, self.web, "gunicorn", self.logs)

    def start_worker(self) -> subprocess.Popen[bytes]:
        process = self._spawn("worker", [str(BIN / "tutor"), "worker"])
        self.workers.append(process)
        return process

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.workers.remove(process)

    def stop(self) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [*self.workers, *([self.web] if self.web else [])]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.workers.clear()

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
            for log in self._logs
            if log.exists()
        )

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
