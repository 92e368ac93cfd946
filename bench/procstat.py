"""CPU and memory of processes from /proc, for the benches that run real servers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import asyncpg

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (so state is [0], ppid [1])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a process so far (fields 14 and 15 of its stat)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICK


def parent_of(pid: int) -> int:
    return int(_stat(pid)[1])


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid`, in pid order."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if parent_of(int(entry)) == pid:
                    found.append(int(entry))
            except (OSError, ValueError):
                continue  # gone meanwhile
    return sorted(found)


def postgres_cpu(postmaster: int) -> float:
    """User + system CPU seconds of the postmaster and its children (backends, writers),
    those that have exited included (the postmaster's cutime + cstime)."""
    total = sum(int(f) for f in _stat(postmaster)[11:15]) / TICK
    for child in children_of(postmaster):
        try:
            total += cpu_of(child)
        except (OSError, ValueError):
            continue
    return total


async def postmaster_of(database_url: str) -> int:
    """The postmaster serving `database_url` (the parent of a backend of ours)."""
    connection = await asyncpg.connect(database_url)
    try:
        return parent_of(int(await connection.fetchval("SELECT pg_backend_pid()")))
    finally:
        await connection.close()


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status (VmRSS, VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
