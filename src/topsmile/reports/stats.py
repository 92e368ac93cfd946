"""`GET /api/scheduling/stats` (SPEC §6): the clinic's numbers over a range, read in one
tenant transaction with a few aggregate queries, never cached (docs/ARCHITECTURE.md "Stats").

- The range is `from`/`to` as every listing reads them (core/ranges.py); a missing `from` is
  the first day of the current clinic-local month, a missing `to` the last day of `from`'s
  local month. At most `MAX_DAYS` local dates, so working time stays cheap to compute.
- Appointments count when their start lies in the range. Every rate has the same
  denominator, all of those appointments (`total`), and is 0 when there are none.
- `bookedMinutes`: durations of the provider's live and completed appointments (any status
  but `cancelled` and `no_show`); `workingMinutes`: the weekly hours on each local date the
  range touches, made real instants (DST correct, `availability.wall_instant`), clipped to
  the range, minus the provider's time off and the clinic's closures.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from topsmile.clinics.queries import clinic_by_id
from topsmile.core import clock, db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import ValidationError
from topsmile.core.ranges import parse_range
from topsmile.payments.queries import revenue
from topsmile.reports.schemas import AppointmentCounts, Revenue, StatsView, Utilization
from topsmile.scheduling.availability import Span, merge_spans, wall_instant
from topsmile.scheduling.schemas import STATUSES

MAX_DAYS = 366
MIN_YEAR, MAX_YEAR = 1900, 9000


class _StatusCount(rows.Row, frozen=True):
    status: str
    n: int
    late: int


class _ProviderWork(rows.Row, frozen=True):
    id: uuid.UUID
    booked_minutes: int
    weekdays: list[int]
    starts: list[int]
    ends: list[int]


class _Closed(rows.Row, frozen=True):
    provider_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime


def _range(from_: str | None, to: str | None, tz: str) -> tuple[datetime, datetime, date, date]:
    """`[start, end)` in UTC and the first and last local dates it touches."""
    zone = ZoneInfo(tz)
    start, end = parse_range(from_, to, tz)
    if start is None:
        if end is not None:
            raise ValidationError.on("from", "Give `from` with `to`.")
        start, _ = parse_range(
            clock.now().astimezone(zone).date().replace(day=1).isoformat(), None, tz
        )
    assert start is not None
    # Far-off instants would overflow local dates and wall-clock arithmetic.
    if start.year < MIN_YEAR:
        raise ValidationError.on("from", "This date is out of range.")
    if end is not None and end.year > MAX_YEAR:
        raise ValidationError.on("to", "This date is out of range.")
    first = start.astimezone(zone).date()
    if end is None:
        last_of_month = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        _, end = parse_range(None, last_of_month.isoformat(), tz)
        assert end is not None
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError.on("to", f"Ask for at most {MAX_DAYS} days.")
    return start, end, first, last


def _minutes(spans: list[Span]) -> int:
    return int(sum((s.end - s.start).total_seconds() for s in spans) // 60)


def working_minutes(
    hours: list[tuple[int, int, int]],
    closed: list[Span],
    zone: ZoneInfo,
    window: tuple[datetime, datetime, date, date],
) -> int:
    """Minutes of weekly `hours` (weekday, start minute, end minute) on the window's local
    dates, clipped to `[start, end)`, that no `closed` span covers."""
    start, end, first, last = window
    working: list[Span] = []
    day = first
    while day <= last:
        for weekday, from_minute, to_minute in hours:
            if weekday == day.isoweekday():
                lo = max(wall_instant(day, from_minute, zone), start)
                hi = min(wall_instant(day, to_minute, zone), end)
                if lo < hi:
                    working.append(Span(lo, hi))
        day += timedelta(days=1)
    working = merge_spans(working)
    overlap = [
        Span(max(w.start, c.start), min(w.end, c.end))
        for w in working
        for c in merge_spans(closed)
        if c.start < w.end and w.start < c.end
    ]
    return _minutes(working) - _minutes(overlap)


async def stats(actor: Actor, from_: str | None, to: str | None) -> StatsView:
    async with db.tenant_transaction(actor.clinic_id):
        clinic = await clinic_by_id(actor.clinic_id)
        window = _range(from_, to, clinic.timezone)
        start, end = window[0], window[1]
        counts = await rows.fetch_all(
            _StatusCount,
            "SELECT status, count(*)::int AS n, count(*) FILTER (WHERE late_cancellation)::int"
            " AS late FROM appointment WHERE starts_at >= {} AND starts_at < {} GROUP BY status",
            start,
            end,
        )
        providers = await rows.fetch_all(
            _ProviderWork,
            "SELECT p.id,"
            " coalesce((SELECT sum(extract(epoch FROM a.ends_at - a.starts_at))::bigint / 60"
            "   FROM appointment a WHERE a.provider_id = p.id AND a.starts_at >= {}"
            "   AND a.starts_at < {} AND a.status NOT IN ('cancelled', 'no_show')), 0)::int"
            "   AS booked_minutes,"
            " coalesce(array_agg(w.weekday::int) FILTER (WHERE w.id IS NOT NULL),"
            "   ARRAY[]::int[]) AS weekdays,"
            " coalesce(array_agg(w.start_minute::int) FILTER (WHERE w.id IS NOT NULL),"
            "   ARRAY[]::int[]) AS starts,"
            " coalesce(array_agg(w.end_minute::int) FILTER (WHERE w.id IS NOT NULL),"
            "   ARRAY[]::int[]) AS ends"
            " FROM provider p LEFT JOIN working_hours w ON w.provider_id = p.id"
            " WHERE p.active GROUP BY p.id ORDER BY p.last_name, p.first_name, p.id",
            start,
            end,
        )
        closed = await rows.fetch_all(
            _Closed,
            "SELECT provider_id, starts_at, ends_at FROM time_off"
            " WHERE starts_at < {} AND ends_at > {}"
            " UNION ALL SELECT NULL, starts_at, ends_at FROM closure"
            " WHERE starts_at < {} AND ends_at > {}",
            end,
            start,
            end,
            start,
        )
        paid, refunded = await revenue(start, end, clinic.currency)
        new_patients = await rows.count(
            "SELECT count(*) AS n FROM patient WHERE created_at >= {} AND created_at < {}",
            start,
            end,
        )
    zone = ZoneInfo(clinic.timezone)
    by_status = dict.fromkeys(STATUSES, 0) | {c.status: c.n for c in counts}
    total = sum(by_status.values())
    late = sum(c.late for c in counts if c.status == "cancelled")

    def rate(n: int) -> float:
        return n / total if total else 0.0

    utilization = [
        Utilization(
            provider_id=p.id,
            booked_minutes=p.booked_minutes,
            working_minutes=working_minutes(
                list(zip(p.weekdays, p.starts, p.ends, strict=True)),
                [Span(c.starts_at, c.ends_at) for c in closed if c.provider_id in (None, p.id)],
                zone,
                window,
            ),
        )
        for p in providers
    ]
    return StatsView(
        appointments=AppointmentCounts(total=total, by_status=by_status),
        no_show_rate=rate(by_status["no_show"]),
        cancellation_rate=rate(by_status["cancelled"]),
        late_cancellation_rate=rate(late),
        utilization=utilization,
        revenue=Revenue(paid_amount=paid, refunded_amount=refunded, currency=clinic.currency),
        new_patients=new_patients,
    )
