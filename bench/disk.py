"""How long the machine's disk takes to make a small write durable, measured beside a run.

A committing transaction waits for PostgreSQL's WAL `fdatasync`; read-only ones do not. When
the disk stalls, every commit in flight waits with it, so a stall shows up as writes
(bookings) finishing together. `FsyncProbe` writes 8 KiB and `fdatasync`s it every 20 ms in
a thread, in a directory on the database's file system, and reports the latencies.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STALL_MS = 100.0


@dataclass
class FsyncProbe:
    directory: Path
    interval_seconds: float = 0.02
    latencies_ms: list[float] = field(default_factory=list, init=False)
    # (UTC time, ms) of each write over STALL_MS
    stalls: list[tuple[str, float]] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def __enter__(self) -> FsyncProbe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        path = self.directory / "fsync-probe.dat"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        block = b"\0" * 8192
        try:
            while not self._stop.wait(self.interval_seconds):
                began = time.time()
                os.write(descriptor, block)
                os.fdatasync(descriptor)
                took = (time.time() - began) * 1000
                self.latencies_ms.append(took)
                if took > STALL_MS:
                    at = time.strftime("%H:%M:%S", time.gmtime(began))
                    self.stalls.append((f"{at}.{int(began * 1000) % 1000:03d}", took))
        finally:
            os.close(descriptor)
            path.unlink()

    def summary(self) -> str:
        ordered = sorted(self.latencies_ms) or [0.0]

        def at(share: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * share))]

        longest = ", ".join(f"{ms:.0f} ms at {when}" for when, ms in self.stalls[:5])
        return (
            f"p50 {at(0.5):.1f} / p99 {at(0.99):.1f} / max {ordered[-1]:.0f} ms over"
            f" {len(self.latencies_ms)} writes; {len(self.stalls)} over {STALL_MS:.0f} ms"
            + (f" ({longest}{', …' if len(self.stalls) > 5 else ''})" if self.stalls else "")
        )
