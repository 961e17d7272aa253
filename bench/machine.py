"""What the numbers were measured on: cores, CPU, memory, OS, Python, servers, libraries."""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "gunicorn",
    "flask",
    "sqlalchemy",
    "psycopg",
    "redis",
    "dramatiq",
    "python-telegram-bot",
    "httpx",
)


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu: str
    memory_gib: float
    os: str
    kernel: str
    python: str
    postgres: str
    redis: str
    libraries: dict[str, str]
    commit: str
    measured_at: str = ""  # when the run began, UTC


def _first(path: str, pattern: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError:
        return "?"
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1).strip() if match else "?"


def _output(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (done.stdout or done.stderr).strip() or "?"


def _postgres() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    binary = found[-1] if found else shutil.which("postgres")
    if binary is None:
        return "not found"
    match = re.search(r"\(PostgreSQL\) (\S+)", _output(binary, "--version"))
    return match.group(1) if match else "?"


def _redis() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        return "not found"
    match = re.search(r"v=(\S+)", _output(binary, "--version"))
    return match.group(1) if match else "?"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    """HEAD, and whether files outside bench/ differ from it (others' work in progress)."""
    head = _output("git", "rev-parse", "--short", "HEAD")
    changed = [
        line[3:]
        for line in _output("git", "status", "--porcelain").splitlines()
        if len(line) > 3 and not line[3:].startswith(("bench/", "docs/BENCHMARKS.md", "var/"))
    ]
    return f"{head} + uncommitted changes in {len(changed)} files" if changed else head


def describe() -> Machine:
    memory_kib = _first("/proc/meminfo", r"^MemTotal:\s+(\d+)")
    cpu = _first("/proc/cpuinfo", r"^model name\s*:\s*(.+)$")
    if "hypervisor" in _first("/proc/cpuinfo", r"^flags\s*:\s*(.+)$").split():
        cpu += " (virtual machine)"
    return Machine(
        cores=len(os.sched_getaffinity(0)),
        cpu=cpu,
        memory_gib=int(memory_kib) / 1024 / 1024 if memory_kib.isdigit() else 0.0,
        os=_first("/etc/os-release", r'^PRETTY_NAME="?([^"\n]+)"?'),
        kernel=platform.release(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        postgres=_postgres(),
        redis=_redis(),
        libraries={name: _version(name) for name in LIBRARIES},
        commit=_commit(),
        measured_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
