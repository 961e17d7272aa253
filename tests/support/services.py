"""Private, throwaway PostgreSQL and Redis servers for tests and benchmarks.

Each server runs Debian's binaries on a free loopback port with its data in a fresh
temporary directory, so the machine's own instances (5432, 6379) are never touched.

    with PostgresServer() as pg, RedisServer() as rs:
        engine = sqlalchemy.create_engine(pg.url)
        client = redis.Redis.from_url(rs.url)
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HINT = "run `make test`, which installs postgresql and redis-server"
_running: set[_Server] = set()  # stopped at interpreter exit as a backstop


def free_port() -> int:
    """A currently unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class _Server:
    port: int

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        try:
            server.stop()
        except Exception:  # best effort at exit
            pass


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bindir() -> Path:
    if env := os.environ.get("PG_BINDIR"):
        if not (Path(env) / "initdb").is_file():
            raise RuntimeError(f"PG_BINDIR={env} has no initdb; {HINT}")
        return Path(env)

    def version(initdb: str) -> tuple[int, ...]:
        name = Path(initdb).parent.parent.name  # /usr/lib/postgresql/<ver>/bin/initdb
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    if found:
        return Path(found[-1]).parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    raise RuntimeError(f"PostgreSQL binaries (initdb, pg_ctl) not found; {HINT}")


class PostgresServer(_Server):
    """A private PostgreSQL cluster with an empty database ``test`` (trust auth)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._bindir = _pg_bindir()
        self._base: Path | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``test`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/test"

    @property
    def dsn(self) -> str:
        """libpq URI of the ``test`` database (for psycopg.connect)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def start(self) -> Self:
        if self._base is not None:
            return self
        as_root = os.geteuid() == 0
        # PostgreSQL refuses to run as root: run it as `postgres`, which must be able
        # to reach the directory (hence /tmp rather than a possibly private $TMPDIR).
        self._base = Path(tempfile.mkdtemp(prefix="tutor-pg-", dir="/tmp" if as_root else None))
        _running.add(self)
        try:
            if as_root:
                try:
                    pw = pwd.getpwnam("postgres")
                except KeyError:
                    raise RuntimeError(f"no `postgres` user to run PostgreSQL as; {HINT}") from None
                os.chown(self._base, pw.pw_uid, pw.pw_gid)
            self._run(
                "initdb", "-D", str(self._base / "data"), "-A", "trust", "-U", "postgres",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
            self._start_postmaster()
            dsn = self.dsn.removesuffix("/test") + "/postgres"
            with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
                conn.execute("CREATE DATABASE test")
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def restart(self) -> None:
        """Fast shutdown and start again on the same port, keeping the data."""
        self._pg_ctl("-m", "fast", "stop")
        self._start_postmaster()

    def stop(self) -> None:
        base, self._base = self._base, None
        _running.discard(self)
        if base is None:
            return
        try:
            if (base / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(base / "data"), "-m", "immediate", "stop", cwd=base)
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def _start_postmaster(self) -> None:
        assert self._base is not None
        opts = (
            f"-p {self.port} -k {self._base} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl("-t", "30", "-l", str(self._base / "postgres.log"), "-o", opts, "start")

    def _pg_ctl(self, *args: str) -> None:
        if self._base is None:
            raise RuntimeError("PostgresServer is not started")
        self._run("pg_ctl", "-w", "-D", str(self._base / "data"), *args)

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> None:
        cwd = cwd or self._base
        argv = [str(self._bindir / tool), *args]
        if os.geteuid() == 0:
            if shutil.which("runuser"):
                argv = ["runuser", "-u", "postgres", "--", *argv]
            else:
                argv = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
        # cwd must be readable by `postgres`; stdout goes to a file, not a pipe, so a
        # daemonised postmaster can never keep us waiting on an open pipe.
        with tempfile.TemporaryFile() as out:
            proc = subprocess.run(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                timeout=60, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                out.seek(0)
                output = out.read().decode(errors="replace").strip()
                log = _tail(cwd / "postgres.log") if cwd else ""
                raise RuntimeError(
                    f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{output}\n{log}".strip()
                )


# --------------------------------------------------------------------------------- Redis


class RedisServer(_Server):
    """A private, non-persistent redis-server; ``kill()`` + ``restart()`` simulate an outage."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.access(exe, os.X_OK):
            raise RuntimeError(f"redis-server not found; {HINT}")
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="tutor-redis-"))
        _running.add(self)
        log = self._dir / "redis.log"
        argv = [
            exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self._dir),
        ]  # fmt: skip
        with log.open("ab") as out:
            self._proc = subprocess.Popen(
                argv, cwd=self._dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready(log)
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def _wait_ready(self, log: Path) -> None:
        assert self._proc is not None
        client = redis.Redis(port=self.port, socket_timeout=1, retry=Retry(NoBackoff(), 0))
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited ({self._proc.returncode}):\n{_tail(log)}"
                    )
                try:
                    # Make sure it is our process answering, not someone else's on this port.
                    if client.info("server")["process_id"] == self._proc.pid:
                        return
                except redis.ConnectionError:
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        raise RuntimeError(f"redis-server on port {self.port} did not answer:\n{_tail(log)}")

    def kill(self) -> None:
        """SIGKILL the server (simulated outage); ``restart()`` brings it back, empty."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)
            self._proc.wait()

    def restart(self) -> None:
        """Start again on the same port (after ``kill()``, or stopping it first)."""
        self._terminate()
        self.start()

    def stop(self) -> None:
        self._terminate()
        _running.discard(self)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
