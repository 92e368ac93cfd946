"""The pure slot function alone: µs per provider-week (no I/O, no app).

    uv run python bench/slot_function.py [--runs 2000]

One provider in America/Sao_Paulo, Mon-Fri 08:00-12:00 + 13:00-18:00 and Sat 08:00-12:00,
a 30-minute service with buffers 0/5, two one-hour time offs, and a 15-minute check-up booked
at every working hour's :00 (~49 live occupied blocks, each leaving one 30-minute slot per
hour). Figures: `slots()` on the patient grid (15 minutes) and the staff grid (5 minutes),
`slot_starts()` (the same starts as integers) and one `check()`, each the median of 5 rounds
of `--runs` calls.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from topsmile.scheduling.availability import (
    Buffers,
    Limits,
    Schedule,
    Service,
    Span,
    WeeklyInterval,
    check,
    slot_starts,
    slots,
    wall_instant,
)

ZONE = ZoneInfo("America/Sao_Paulo")
FIRST = date(2026, 12, 7)  # a Monday
LAST = FIRST + timedelta(days=6)
HOURS = tuple(
    WeeklyInterval(weekday, start, end)
    for weekday in range(1, 7)
    for start, end in ([(480, 720)] + ([(780, 1080)] if weekday <= 5 else []))
)


def schedule() -> Schedule:
    busy = []
    for offset in range(7):
        day = FIRST + timedelta(days=offset)
        for interval in HOURS:
            if interval.weekday != day.isoweekday():
                continue
            for minute in range(interval.start_minute, interval.end_minute, 60):
                start = wall_instant(day, minute, ZONE)
                busy.append(Span(start, start + timedelta(minutes=15)))
    closed = tuple(
        Span(wall_instant(day, 840, ZONE), wall_instant(day, 900, ZONE))
        for day in (FIRST + timedelta(days=1), FIRST + timedelta(days=3))
    )
    return Schedule(ZONE, HOURS, tuple(busy), closed)


def per_call_us(call: Callable[[], object], runs: int) -> float:
    rounds = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(runs):
            call()
        rounds.append((time.perf_counter() - began) / runs * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    sched = schedule()
    service = Service(30, Buffers(0, 5))
    earliest = datetime.combine(FIRST, datetime.min.time(), UTC) - timedelta(days=1)
    patient = Limits(earliest, None, 15)
    staff = Limits(earliest, None, 5)
    probe = wall_instant(FIRST + timedelta(days=2), 615, ZONE)
    print(f"{len(sched.busy)} busy blocks, {len(sched.closed)} closed spans\n")
    print("| call | slots | µs per provider-week |")
    print("|---|---|---|")
    for name, limits in (("`slots()`, patient 15-min grid", patient), ("staff 5-min grid", staff)):
        count = len(slots(sched, service, limits, FIRST, LAST))
        cost = per_call_us(lambda lim=limits: slots(sched, service, lim, FIRST, LAST), args.runs)
        print(f"| {name} | {count} | {cost:.0f} |")
    cost = per_call_us(lambda: slot_starts(sched, service, patient, FIRST, LAST), args.runs)
    print(f"| `slot_starts()` (integers, what availability calls), patient grid | - | {cost:.0f} |")
    cost = per_call_us(lambda: check(probe, sched, service, patient), args.runs)
    print(f"| `check()` of one start | - | {cost:.0f} |")


if __name__ == "__main__":
    main()
