"""The slot rules of SPEC §6 (rules 1-5) as one pure function: no I/O, no clock.

`check()` (what booking accepts) is `_Plan.verdict()`, the rules as written, one start at a
time. `slots()` (what availability lists) is `slot_starts()`: the same rules walked over each
day's grid in integer microseconds, jumping over blocked time instead of testing every
candidate. Property tests (tests/unit/test_availability.py) compare the two on every minute
of random ranges, schedules, blocks and DST days: a start is listed exactly when `check()`
says ok.

Decisions (docs/ARCHITECTURE.md "Slot rules"):
- A day's wall-clock interval becomes real instants for that date. A wall time that does not
  exist that day (spring forward) is the first instant after the gap; one that happens twice
  (fall back) is the earlier. `24:00` is the next day's midnight.
- Candidate starts step by real minutes from the start of each local day's chain of touching
  intervals (intervals of one date that touch count as one). Chains of different dates that
  touch at midnight are one interval for the fit rule, so an appointment may run past
  midnight into the next day's hours, but each date keeps its own grid: a start's validity
  never depends on which dates someone asked about.
- Time off and closures are compared with the occupied block (rule 4 says so): buffers are
  the provider's preparation and cleanup, which they cannot do while away or closed. They
  make a start `not_bookable` (nobody took it: 422); only another live appointment's
  occupied block makes it `unavailable` (409).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_MINUTES = 1440
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
STAFF_STEP_MINUTES = 5


class Verdict(StrEnum):
    OK = "ok"
    NOT_BOOKABLE = "not_bookable"  # never a valid slot for this caller: 422 not-bookable
    UNAVAILABLE = "unavailable"  # a valid slot another appointment holds: 409 slot-unavailable


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    """Wall-clock working time: ISO weekday (1 = Monday), minutes since midnight, end may be
    1440 (24:00)."""

    weekday: int
    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open `[start, end)` of aware instants."""

    start: datetime
    end: datetime


Slot = Span


@dataclass(frozen=True, slots=True)
class Buffers:
    before: int
    after: int

    @classmethod
    def of(
        cls,
        service_before: int | None,
        service_after: int | None,
        provider_before: int,
        provider_after: int,
    ) -> Buffers:
        """The service's buffers, or the provider's where the service's are None (0 is real)."""
        return cls(
            provider_before if service_before is None else service_before,
            provider_after if service_after is None else service_after,
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """Who asks: the earliest start, the last local date a start may fall on, the grid step."""

    earliest: datetime
    last_day: date | None
    step_minutes: int

    @classmethod
    def patient(
        cls,
        now: datetime,
        zone: ZoneInfo,
        *,
        min_notice_minutes: int,
        horizon_days: int,
        slot_interval_minutes: int,
    ) -> Limits:
        today = now.astimezone(zone).date()
        return cls(
            now + timedelta(minutes=min_notice_minutes),
            today + timedelta(days=horizon_days),
            slot_interval_minutes,
        )

    @classmethod
    def staff(cls, now: datetime) -> Limits:
        """Any future start on a 5-minute grid, no notice, no horizon."""
        return cls(now, None, STAFF_STEP_MINUTES)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One provider's time, as availability and booking read it.

    `busy`: other live appointments' occupied blocks (buffers already added).
    `closed`: the provider's time off and the clinic's closures.
    """

    zone: ZoneInfo
    hours: tuple[WeeklyInterval, ...]
    busy: tuple[Span, ...] = ()
    closed: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    duration_minutes: int
    buffers: Buffers


def wall_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The real instant (UTC) of wall-clock `minute` on local `day` (rule 1)."""
    return _wall_instant(day, minute, zone)


@lru_cache(maxsize=65536)
def _wall_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    day, minute = day + timedelta(days=minute // DAY_MINUTES), minute % DAY_MINUTES
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    earlier = naive.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier of two
    if earlier.astimezone(zone).replace(tzinfo=None) == naive:
        return earlier
    # In a gap: fold=0 and fold=1 read it with the offsets after and before the change, so
    # the transition (the first instant after the gap) lies between the two readings.
    low, high = sorted((earlier, naive.replace(tzinfo=zone, fold=1).astimezone(UTC)))
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) > naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Sorted, disjoint spans; spans that overlap or touch become one; empty ones vanish."""
    merged: list[Span] = []
    for span in sorted((s for s in spans if s.end > s.start), key=lambda s: s.start):
        if merged and span.start <= merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = Span(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def _utc(span: Span) -> Span:
    return Span(span.start.astimezone(UTC), span.end.astimezone(UTC))


def _chains(schedule: Schedule, first: date, last: date) -> dict[date, list[Span]]:
    """Each local date's merged working intervals as instants, for `first - 1..last + 2`."""
    by_weekday: dict[int, list[WeeklyInterval]] = {}
    for interval in schedule.hours:
        by_weekday.setdefault(interval.weekday, []).append(interval)
    chains: dict[date, list[Span]] = {}
    day = first - timedelta(days=1)
    while day <= last + timedelta(days=2):
        chains[day] = merge_spans(
            Span(
                wall_instant(day, i.start_minute, schedule.zone),
                wall_instant(day, i.end_minute, schedule.zone),
            )
            for i in by_weekday.get(day.isoweekday(), ())
        )
        day += timedelta(days=1)
    return chains


class _Blocks:
    """Sorted disjoint spans (merged working intervals) with a fast cover test."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = merge_spans(_utc(s) for s in spans)
        self.ends = [s.end for s in self.spans]

    def covers(self, start: datetime, end: datetime) -> bool:
        index = bisect.bisect_right(self.ends, start)
        return (
            index < len(self.spans)
            and self.spans[index].start <= start
            and end <= self.spans[index].end
        )


@lru_cache(maxsize=1024)
def _working(
    zone: ZoneInfo, hours: tuple[WeeklyInterval, ...], first: date, last: date
) -> tuple[dict[date, list[Span]], _Blocks]:
    """`_chains` and their merged intervals (pure, so remembered; callers never change them)."""
    chains = _chains(Schedule(zone, hours), first, last)
    return chains, _Blocks(span for spans in chains.values() for span in spans)


def _meets(spans: tuple[Span, ...], start: datetime, end: datetime) -> bool:
    """Some non-empty span overlaps `[start, end)`: one pass, for one start's verdict."""
    return any(s.start < end and start < s.end and s.start < s.end for s in spans)


class _Plan:
    """The rules for one provider, service and caller over the local dates `first..last`
    (their neighbours are included so appointments may cross midnight)."""

    def __init__(
        self, schedule: Schedule, service: Service, limits: Limits, first: date, last: date
    ) -> None:
        self.zone = schedule.zone
        self.limits = limits
        self.duration = timedelta(minutes=service.duration_minutes)
        self.before = timedelta(minutes=service.buffers.before)
        self.after = timedelta(minutes=service.buffers.after)
        self.step = timedelta(minutes=limits.step_minutes)
        self.chains, self.working = _working(schedule.zone, schedule.hours, first, last)
        self.busy = schedule.busy
        self.closed = schedule.closed

    def on_grid(self, start: datetime, day: date) -> bool:
        for chain in self.chains.get(day, ()):
            if chain.start <= start < chain.end:
                return (start - chain.start) % self.step == timedelta(0)
        return False

    def verdict(self, start: datetime) -> Verdict:
        day = start.astimezone(self.zone).date()
        end = start + self.duration
        if (
            start < self.limits.earliest
            or (self.limits.last_day is not None and day > self.limits.last_day)
            or not self.on_grid(start, day)
            or not self.working.covers(start, end)
        ):
            return Verdict.NOT_BOOKABLE
        occupied = (start - self.before, end + self.after)
        if _meets(self.closed, *occupied):
            return Verdict.NOT_BOOKABLE
        if _meets(self.busy, *occupied):
            return Verdict.UNAVAILABLE
        return Verdict.OK


def slots(
    schedule: Schedule, service: Service, limits: Limits, first: date, last: date
) -> list[Slot]:
    """Every start whose local date is in `first..last` (inclusive) that `check` accepts."""
    duration = service.duration_minutes * 60_000_000
    return [
        Slot(instant(start), instant(start + duration))
        for start in slot_starts(schedule, service, limits, first, last)
    ]


def micros(moment: datetime) -> int:
    """An aware instant as whole microseconds since the Unix epoch (exact)."""
    return (moment - _EPOCH) // _MICROSECOND


@lru_cache(maxsize=16384)
def instant(microseconds: int) -> datetime:
    """The UTC instant of `micros()` (remembered: the same weeks' starts are asked again)."""
    return _EPOCH + timedelta(0, 0, microseconds)


def _merged(spans: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """`_merge` in microseconds: the starts and the ends of sorted disjoint spans."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


@lru_cache(maxsize=4096)
def _plain_day(day: date, zone: ZoneInfo) -> bool:
    """The local date is `day` at every instant between its midnights: the day is 24 hours
    long with one UTC offset at both ends (no clock change that day; two changes that
    cancel out within one day would pass, and tzdata has none we know of)."""
    start, end = wall_instant(day, 0, zone), wall_instant(day, DAY_MINUTES, zone)
    return end - start == timedelta(days=1) and start.astimezone(zone).utcoffset() == (
        (end - _MICROSECOND).astimezone(zone).utcoffset()
    )


@lru_cache(maxsize=1024)
def _chain_micros(
    zone: ZoneInfo, hours: tuple[WeeklyInterval, ...], first: date, last: date
) -> tuple[dict[date, tuple[tuple[int, int], ...]], tuple[int, ...]]:
    """`_chains` in `micros()` and the ends of the merged working intervals (pure, so the
    hours of the same weeks are converted once per process)."""
    chains = _working(zone, hours, first, last)[0]
    ends = _merged(
        (micros(span.start), micros(span.end)) for spans in chains.values() for span in spans
    )[1]
    as_micros = {
        day: tuple((micros(s.start), micros(s.end)) for s in spans) for day, spans in chains.items()
    }
    return as_micros, tuple(ends)


def slot_starts(
    schedule: Schedule, service: Service, limits: Limits, first: date, last: date
) -> list[int]:
    """The starts `slots()` lists, in `micros()`: the rules of `_Plan.verdict` walked per
    chain in integer microseconds, jumping over blocked time by arithmetic instead of testing
    each candidate (6-10x faster). tests/unit/test_availability.py checks on every minute of
    random ranges that it lists exactly the starts `check()` accepts."""
    blocked = ((micros(s.start), micros(s.end)) for s in (*schedule.busy, *schedule.closed))
    return free_starts(schedule.zone, schedule.hours, blocked, service, limits, first, last)


def free_starts(
    zone: ZoneInfo,
    hours: tuple[WeeklyInterval, ...],
    blocked: Iterable[tuple[int, int]],
    service: Service,
    limits: Limits,
    first: date,
    last: date,
) -> list[int]:
    """`slot_starts()` with the busy and closed spans already in `micros()`: listing does not
    tell them apart (time off, closures and appointments all just take starts away)."""
    chains, working_ends = _chain_micros(zone, hours, first, last)
    block_starts, block_ends = _merged(blocked)
    blocks = len(block_starts)
    minute = 60_000_000
    step, duration = limits.step_minutes * minute, service.duration_minutes * minute
    before, after = service.buffers.before * minute, service.buffers.after * minute
    earliest = micros(limits.earliest)
    found: list[int] = []
    day = first
    last_day = last if limits.last_day is None else min(last, limits.last_day)
    while day <= last_day:
        # On a day with a clock change, check each start's local date as the verdict does.
        plain = _plain_day(day, zone)
        for low, end in chains[day]:
            # The merged working interval holding the chain: the appointment must end in it.
            fits = working_ends[bisect.bisect_right(working_ends, low)] - duration
            high = min(end - 1, fits)  # the last possible start
            start = low if earliest <= low else low - (low - earliest) // step * step
            b = bisect.bisect_right(block_ends, start - before)  # blocks ending after it
            while start <= high:
                if b < blocks and block_starts[b] < start + duration + after:
                    # Block b overlaps the occupied block: next grid start clear of its end.
                    start = low - (low - block_ends[b] - before) // step * step
                elif plain:
                    # Every grid start up to block b's reach is free: take the run at once.
                    stop = high if b == blocks else min(high, block_starts[b] - duration - after)
                    run = range(start, stop + 1, step)
                    found.extend(run)
                    start += len(run) * step
                else:
                    if instant(start).astimezone(zone).date() == day:
                        found.append(start)
                    start += step
                while b < blocks and block_ends[b] <= start - before:
                    b += 1
        day += timedelta(days=1)
    return found


def check(start: datetime, schedule: Schedule, service: Service, limits: Limits) -> Verdict:
    """Booking's test of one start (any offset): ok, not_bookable (422) or unavailable (409)."""
    start = start.astimezone(UTC)
    day = start.astimezone(schedule.zone).date()
    return _Plan(schedule, service, limits, day, day).verdict(start)


def occupied_block(start: datetime, service: Service) -> Span:
    """Rule 3: `[start - before, start + duration + after)`."""
    end = start + timedelta(minutes=service.duration_minutes)
    return Span(
        start - timedelta(minutes=service.buffers.before),
        end + timedelta(minutes=service.buffers.after),
    )
