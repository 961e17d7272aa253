"""Reading other processes from /proc: children, CPU seconds and resident memory (Linux only)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def children(pid: int) -> list[int]:
    """Live direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == pid:
            found.append(int(entry.name))
    return sorted(found)


def descendants(pid: int) -> list[int]:
    pending, found = [pid], []
    while pending:
        for child in children(pending.pop()):
            found.append(child)
            pending.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and of its children it has already reaped."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of stat; fields[] starts at field 3.
    return sum(int(value) for value in fields[11:15]) / _TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU used so far by ``pid`` and every process below it, living or reaped."""
    return cpu_seconds(pid) + sum(cpu_seconds(child) for child in descendants(pid))


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory figures of one process from /proc/<pid>/status, in MiB."""

    rss: float
    peak_rss: float
    anon: float
    file: float
    shmem: float


def memory(pid: int) -> Memory | None:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    values: dict[str, float] = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0]) / 1024
    return Memory(
        rss=values.get("VmRSS", 0.0),
        peak_rss=values.get("VmHWM", 0.0),
        anon=values.get("RssAnon", 0.0),
        file=values.get("RssFile", 0.0),
        shmem=values.get("RssShmem", 0.0),
    )


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over all cores."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / _TICKS, (busy + idle + iowait) / _TICKS


def renice(pid: int, niceness: int) -> None:
    """Set the niceness of every thread of ``pid`` (Linux keeps it per thread).

    With autogroup scheduling a process that leads its own session is weighed against
    other sessions by its autogroup's niceness, so that is set too.
    """
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(niceness))
    except OSError:
        pass
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
        except (ProcessLookupError, PermissionError):
            pass
