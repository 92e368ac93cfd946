"""SPEC §6 slot rules 1-5: the pure slot function, by properties and by DST examples."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from topsmile.scheduling.availability import (
    Buffers,
    Limits,
    Schedule,
    Service,
    Span,
    Verdict,
    WeeklyInterval,
    check,
    occupied_block,
    slots,
    wall_instant,
)

NEW_YORK = ZoneInfo("America/New_York")
ZONES = ["America/New_York", "America/Sao_Paulo", "Asia/Kolkata", "UTC", "Europe/London"]
# Days around clock changes (New York, London, Sao Paulo's last DST years) and plain days.
DAYS = [
    date(2026, 3, 7),
    date(2026, 3, 29),
    date(2026, 10, 31),
    date(2026, 10, 25),
    date(2018, 11, 3),
    date(2019, 2, 16),
    date(2026, 6, 15),
    date(2026, 1, 12),
]
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def every_day(start: int, end: int) -> tuple[WeeklyInterval, ...]:
    return tuple(WeeklyInterval(weekday, start, end) for weekday in range(1, 8))


def anyone(step: int = 15) -> Limits:
    return Limits(LONG_AGO, None, step)


def plain(duration: int, before: int = 0, after: int = 0) -> Service:
    return Service(duration, Buffers(before, after))


# --- properties --------------------------------------------------------------------------


@st.composite
def weekly_hours(draw: st.DrawFn) -> tuple[WeeklyInterval, ...]:
    """Per weekday, cut points in 0..1440 and a working flag per segment: intervals of one
    day never overlap, and neighbouring working segments touch (rule 1's merge)."""
    hours = []
    for weekday in range(1, 8):
        cuts = sorted(draw(st.sets(st.integers(0, 1440), min_size=2, max_size=6)))
        for start, end in itertools.pairwise(cuts):
            if draw(st.booleans()):
                hours.append(WeeklyInterval(weekday, start, end))
    return tuple(hours)


def spans_near(day: date) -> st.SearchStrategy[list[Span]]:
    origin = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    one = st.builds(
        lambda offset, length: Span(
            origin + timedelta(minutes=offset), origin + timedelta(minutes=offset + length)
        ),
        st.integers(-1440, 3 * 1440),
        st.integers(1, 300),
    )
    return st.lists(one, max_size=6)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schedule, Service, Limits, date, date]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    first = draw(st.sampled_from(DAYS)) + timedelta(days=draw(st.integers(0, 2)))
    last = first + timedelta(days=draw(st.integers(0, 1)))
    schedule = Schedule(
        zone, draw(weekly_hours()), tuple(draw(spans_near(first))), tuple(draw(spans_near(first)))
    )
    buffers = Buffers(draw(st.integers(0, 60)), draw(st.integers(0, 60)))
    service = Service(draw(st.integers(5, 240)), buffers)
    origin = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    earliest = origin + timedelta(minutes=draw(st.integers(-1440, 2 * 1440)))
    horizon = draw(st.none() | st.integers(0, 2).map(lambda n: first + timedelta(days=n)))
    limits = Limits(earliest, horizon, draw(st.sampled_from([5, 10, 15, 20, 30, 45, 60, 120])))
    return schedule, service, limits, first, last


def overlaps(block: Span, spans: tuple[Span, ...]) -> bool:
    return any(block.start < s.end and s.start < block.end for s in spans)


def wall_working(instant: datetime, schedule: Schedule) -> bool:
    """Rule 1 read naively: the instant's local wall time lies in one of its weekday's
    intervals (a necessary condition for working; DST only ever removes time from it)."""
    local = instant.astimezone(schedule.zone)
    minute = local.hour * 60 + local.minute
    return any(
        i.weekday == local.isoweekday() and i.start_minute <= minute < i.end_minute
        for i in schedule.hours
    )


PROPERTY = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@PROPERTY
@given(cases())
def test_slots_respect_every_rule(case: tuple[Schedule, Service, Limits, date, date]) -> None:
    schedule, service, limits, first, last = case
    found = slots(schedule, service, limits, first, last)
    assert found == sorted(found, key=lambda s: s.start)
    for slot in found:
        block = occupied_block(slot.start, service)
        assert not overlaps(block, schedule.busy), "a slot overlaps an appointment's block"
        assert not overlaps(block, schedule.closed), "a slot overlaps time off or a closure"
        assert slot.end - slot.start == timedelta(minutes=service.duration_minutes)
        assert slot.start >= limits.earliest
        local_day = slot.start.astimezone(schedule.zone).date()
        assert first <= local_day <= last
        assert limits.last_day is None or local_day <= limits.last_day
        minute = slot.start
        while minute < slot.end:  # the whole appointment lies in working time
            assert wall_working(minute, schedule), f"{slot} leaves working hours at {minute}"
            minute += MINUTE


@settings(PROPERTY, max_examples=25)
@given(cases())
def test_slots_are_exactly_the_starts_check_accepts(
    case: tuple[Schedule, Service, Limits, date, date],
) -> None:
    schedule, service, limits, first, last = case
    listed = {slot.start for slot in slots(schedule, service, limits, first, last)}
    instant = wall_instant(first, 0, schedule.zone)
    end = wall_instant(last + timedelta(days=1), 0, schedule.zone)
    while instant < end:  # every minute of the range, not only the grid
        verdict = check(instant, schedule, service, limits)
        assert (verdict is Verdict.OK) == (instant in listed), f"{instant}: {verdict}"
        instant += MINUTE


def dense_spans_near(day: date) -> st.SearchStrategy[list[Span]]:
    """Many short blocks over the range's days: the fast listing jumps over each of them."""
    origin = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    one = st.builds(
        lambda offset, length: Span(
            origin + timedelta(minutes=offset), origin + timedelta(minutes=offset + length)
        ),
        st.integers(-600, 3 * 1440),
        st.integers(0, 45),
    )
    return st.lists(one, max_size=40)


@settings(PROPERTY, max_examples=25)
@given(cases(), st.data())
def test_with_many_blocks_slots_are_exactly_the_starts_check_accepts(
    case: tuple[Schedule, Service, Limits, date, date], data: st.DataObject
) -> None:
    schedule, service, limits, first, last = case
    busy = tuple(data.draw(dense_spans_near(first)))
    closed = tuple(data.draw(dense_spans_near(first)))
    schedule = Schedule(schedule.zone, schedule.hours, busy, closed)
    listed = {slot.start for slot in slots(schedule, service, limits, first, last)}
    instant = wall_instant(first, 0, schedule.zone)
    end = wall_instant(last + timedelta(days=1), 0, schedule.zone)
    while instant < end:
        verdict = check(instant, schedule, service, limits)
        assert (verdict is Verdict.OK) == (instant in listed), f"{instant}: {verdict}"
        instant += MINUTE


# --- rule 1: wall-clock intervals on DST days -----------------------------------------------


def starts(found: list[Span]) -> list[datetime]:
    return [slot.start for slot in found]


def test_a_normal_day_is_four_real_hours() -> None:
    day = date(2026, 1, 12)
    found = slots(Schedule(NEW_YORK, every_day(480, 720)), plain(15), anyone(), day, day)
    assert len(found) == 16
    assert found[0].start == utc(2026, 1, 12, 13)
    assert found[-1].end == utc(2026, 1, 12, 17)


def test_spring_forward_day_keeps_local_hours_and_real_length() -> None:
    day = date(2026, 3, 8)  # New York: 02:00 EST → 03:00 EDT
    found = slots(Schedule(NEW_YORK, every_day(480, 720)), plain(15), anyone(), day, day)
    assert found[0].start == utc(2026, 3, 8, 12)  # 08:00 EDT
    assert found[-1].end == utc(2026, 3, 8, 16)
    assert len(found) == 16


def test_a_nonexistent_start_is_the_first_instant_after_the_gap() -> None:
    day = date(2026, 3, 8)
    assert wall_instant(day, 150, NEW_YORK) == utc(2026, 3, 8, 7)  # 02:30 → 03:00 EDT
    found = slots(Schedule(NEW_YORK, every_day(150, 240)), plain(30), anyone(30), day, day)
    assert starts(found) == [utc(2026, 3, 8, 7), utc(2026, 3, 8, 7, 30)]  # 03:00, 03:30 EDT
    gone = slots(Schedule(NEW_YORK, every_day(130, 170)), plain(5), anyone(5), day, day)
    assert gone == []  # 02:10-02:50 does not exist that day


def test_fall_back_day_takes_the_earlier_of_an_ambiguous_time() -> None:
    day = date(2026, 11, 1)  # New York: 02:00 EDT → 01:00 EST
    assert wall_instant(day, 90, NEW_YORK) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    found = slots(Schedule(NEW_YORK, every_day(90, 180)), plain(30), anyone(30), day, day)
    assert found[0].start == utc(2026, 11, 1, 5, 30)
    assert found[-1].end == utc(2026, 11, 1, 8)  # 03:00 EST: 2.5 real hours
    assert len(found) == 5
    normal = slots(Schedule(NEW_YORK, every_day(480, 720)), plain(15), anyone(), day, day)
    assert normal[0].start == utc(2026, 11, 1, 13)
    assert len(normal) == 16


def test_a_skipped_midnight_starts_the_day_after_the_gap() -> None:
    sao_paulo = ZoneInfo("America/Sao_Paulo")
    day = date(2018, 11, 4)  # 00:00 → 01:00 (-02:00)
    found = slots(Schedule(sao_paulo, every_day(0, 240)), plain(60), anyone(60), day, day)
    assert starts(found) == [utc(2018, 11, 4, 3), utc(2018, 11, 4, 4), utc(2018, 11, 4, 5)]


def test_a_zone_without_dst() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    for day in (date(2026, 3, 8), date(2026, 11, 1), date(2026, 6, 1)):
        found = slots(Schedule(kolkata, every_day(540, 1020)), plain(60), anyone(60), day, day)
        assert found[0].start == datetime.combine(day, datetime.min.time(), UTC) + timedelta(
            hours=3, minutes=30
        )
        assert len(found) == 8


def test_touching_intervals_count_as_one() -> None:
    day = date(2026, 1, 12)  # Monday
    hours = (WeeklyInterval(1, 540, 720), WeeklyInterval(1, 720, 780))
    found = slots(Schedule(ZoneInfo("UTC"), hours), plain(60), anyone(30), day, day)
    assert utc(2026, 1, 12, 11, 30) in starts(found)  # 11:30-12:30 spans the touch point
    apart = (WeeklyInterval(1, 540, 720), WeeklyInterval(1, 725, 780))
    found = slots(Schedule(ZoneInfo("UTC"), apart), plain(60), anyone(5), day, day)
    assert utc(2026, 1, 12, 11, 30) not in starts(found)


def test_24_00_ends_at_next_midnight_and_touches_the_next_day() -> None:
    monday = date(2026, 1, 12)
    hours = (WeeklyInterval(1, 1320, 1440), WeeklyInterval(2, 0, 60))
    found = slots(Schedule(ZoneInfo("UTC"), hours), plain(60), anyone(30), monday, monday)
    # 23:30 runs into Tuesday's 00:00-01:00: the two touch at midnight.
    assert starts(found) == [utc(2026, 1, 12, 22) + timedelta(minutes=30 * n) for n in range(4)]
    alone = (WeeklyInterval(1, 1320, 1440),)
    found = slots(Schedule(ZoneInfo("UTC"), alone), plain(60), anyone(30), monday, monday)
    assert found[-1].start == utc(2026, 1, 12, 23)
    assert found[-1].end == utc(2026, 1, 13, 0)


# --- rules 3-5: buffers, blocks, limits ----------------------------------------------------


def test_zero_buffers_are_real_and_none_means_the_providers() -> None:
    assert Buffers.of(0, None, 10, 20) == Buffers(0, 20)
    assert Buffers.of(None, 0, 10, 20) == Buffers(10, 0)
    assert Buffers.of(None, None, 10, 20) == Buffers(10, 20)
    day = date(2026, 1, 12)
    booked = (Span(utc(2026, 1, 12, 9), utc(2026, 1, 12, 10)),)
    schedule = Schedule(ZoneInfo("UTC"), every_day(540, 720), busy=booked)
    service_zero = Service(30, Buffers.of(0, 0, 15, 15))
    assert check(utc(2026, 1, 12, 10), schedule, service_zero, anyone()) is Verdict.OK
    providers = Service(30, Buffers.of(None, None, 15, 15))
    assert check(utc(2026, 1, 12, 10), schedule, providers, anyone()) is Verdict.UNAVAILABLE
    assert utc(2026, 1, 12, 10, 15) in starts(slots(schedule, providers, anyone(), day, day))


def test_verdicts() -> None:
    zone = ZoneInfo("UTC")
    schedule = Schedule(
        zone,
        every_day(540, 720),
        busy=(Span(utc(2026, 1, 12, 10), utc(2026, 1, 12, 10, 30)),),
        closed=(Span(utc(2026, 1, 12, 11, 30), utc(2026, 1, 12, 12)),),
    )
    service = plain(30, after=10)
    now = utc(2026, 1, 12, 8)
    patient = Limits.patient(
        now, zone, min_notice_minutes=60, horizon_days=1, slot_interval_minutes=15
    )

    def verdict(start: datetime, limits: Limits = patient) -> Verdict:
        return check(start, schedule, service, limits)

    assert verdict(utc(2026, 1, 12, 9, 0)) is Verdict.OK
    assert verdict(utc(2026, 1, 12, 9, 5)) is Verdict.NOT_BOOKABLE  # off the 15-min grid
    assert verdict(utc(2026, 1, 12, 9, 5), Limits.staff(now)) is Verdict.OK  # staff: 5 min
    assert verdict(utc(2026, 1, 12, 8, 45)) is Verdict.NOT_BOOKABLE  # before opening
    assert verdict(utc(2026, 1, 12, 11, 45)) is Verdict.NOT_BOOKABLE  # runs past 12:00
    assert verdict(utc(2026, 1, 12, 9, 45)) is Verdict.UNAVAILABLE  # into the appointment
    assert verdict(utc(2026, 1, 12, 9, 30)) is Verdict.UNAVAILABLE  # its after-buffer does
    assert verdict(utc(2026, 1, 12, 10, 30)) is Verdict.OK
    assert verdict(utc(2026, 1, 12, 11)) is Verdict.NOT_BOOKABLE  # its buffer hits the closure
    assert verdict(utc(2026, 1, 13, 9)) is Verdict.OK  # tomorrow: inside the horizon
    assert verdict(utc(2026, 1, 14, 9)) is Verdict.NOT_BOOKABLE  # beyond the horizon
    assert verdict(utc(2026, 1, 14, 9), Limits.staff(now)) is Verdict.OK  # staff: no horizon
    early = Limits.patient(
        utc(2026, 1, 12, 8, 30),
        zone,
        min_notice_minutes=60,
        horizon_days=1,
        slot_interval_minutes=15,
    )
    assert verdict(utc(2026, 1, 12, 9, 15), early) is Verdict.NOT_BOOKABLE  # too soon
    assert verdict(utc(2026, 1, 12, 10, 30), early) is Verdict.OK
    later = Limits.staff(utc(2026, 1, 12, 9, 1))
    assert verdict(utc(2026, 1, 12, 9), later) is Verdict.NOT_BOOKABLE  # the past


def test_check_reads_any_offset() -> None:
    schedule = Schedule(NEW_YORK, every_day(480, 720))
    local = datetime(2026, 1, 12, 8, 0, tzinfo=NEW_YORK)
    assert check(local, schedule, plain(30), anyone()) is Verdict.OK
