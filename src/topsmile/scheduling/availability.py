"""The slot rules of SPEC §6 (rules 1-5) as one pure function: no I/O, no clock.

`slots()` (what availability lists) and `check()` (what booking accepts) both call
`_Plan.verdict()`: slots are the candidate grid filtered by it, so the two cannot disagree.

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


def _merge(spans: Iterable[Span]) -> list[Span]:
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


class _Blocks:
    """Sorted disjoint spans with a fast overlap test."""

    def __init__(self, spans: Iterable[Span]) -> None:
        self.spans = _merge(_utc(s) for s in spans)
        self.ends = [s.end for s in self.spans]

    def overlaps(self, start: datetime, end: datetime) -> bool:
        index = bisect.bisect_right(self.ends, start)
        return index < len(self.spans) and self.spans[index].start < end

    def covers(self, start: datetime, end: datetime) -> bool:
        index = bisect.bisect_right(self.ends, start)
        return (
            index < len(self.spans)
            and self.spans[index].start <= start
            and end <= self.spans[index].end
        )


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
        by_weekday: dict[int, list[WeeklyInterval]] = {}
        for interval in schedule.hours:
            by_weekday.setdefault(interval.weekday, []).append(interval)
        self.chains: dict[date, list[Span]] = {}
        day = first - timedelta(days=1)
        while day <= last + timedelta(days=2):
            self.chains[day] = _merge(
                Span(
                    wall_instant(day, i.start_minute, self.zone),
                    wall_instant(day, i.end_minute, self.zone),
                )
                for i in by_weekday.get(day.isoweekday(), ())
            )
            day += timedelta(days=1)
        self.working = _Blocks(span for spans in self.chains.values() for span in spans)
        self.busy = _Blocks(schedule.busy)
        self.closed = _Blocks(schedule.closed)

    def candidates(self, day: date) -> Iterable[datetime]:
        """The grid of `day`: each chain's start, then every step while inside the chain."""
        for chain in self.chains.get(day, ()):
            start = chain.start
            while start < chain.end:
                yield start
                start += self.step

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
        if self.closed.overlaps(*occupied):
            return Verdict.NOT_BOOKABLE
        if self.busy.overlaps(*occupied):
            return Verdict.UNAVAILABLE
        return Verdict.OK


def slots(
    schedule: Schedule, service: Service, limits: Limits, first: date, last: date
) -> list[Slot]:
    """Every start whose local date is in `first..last` (inclusive) that `check` accepts."""
    plan = _Plan(schedule, service, limits, first, last)
    found: list[Slot] = []
    day = first
    while day <= last:
        for start in plan.candidates(day):
            if plan.verdict(start) is Verdict.OK:
                found.append(Slot(start, start + plan.duration))
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
