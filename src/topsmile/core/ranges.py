"""The ranges a listing takes: a time range (`from`/`to`) and a page (`page`/`pageSize`).

A bound is either a calendar date `YYYY-MM-DD`, read in the clinic's time zone and inclusive
(`to=2030-01-07` covers that whole local day), or an instant with an explicit offset. A naive
datetime is rejected (SPEC §1). The result is half-open: `start <= at < end`, in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar.params import QueryParameter

from topsmile.core.errors import ValidationError

MAX_PAGE = 1_000_000
MAX_BOUND_LENGTH = 64

# Litestar names a query parameter that fails validation by its Python name, so handlers
# spell paging and filter parameters as on the wire (`pageSize`), and `from`/`to` (which
# cannot fail in Litestar's hands) are checked here, under their wire names.
Page = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PageSize = Annotated[int, QueryParameter(ge=1, le=100, description="Items per page (1-100).")]
_BOUND = "A clinic-local date `YYYY-MM-DD` (inclusive) or an instant with an offset."
From = Annotated[str | None, QueryParameter(name="from", description=_BOUND)]
To = Annotated[str | None, QueryParameter(name="to", description=_BOUND)]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# `+02:00` in a query string arrives as ` 02:00` when the client did not percent-encode it.
_SPACE_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2}[T ][\d:.]+) (\d{2}(?::?\d{2})?)")


def offset_of(page: int, page_size: int) -> int:
    return (page - 1) * page_size


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of `day` in `zone` (UTC). A midnight that happens twice is the
    earlier one; a midnight skipped by a clock change is the first instant after the gap."""
    naive = datetime.combine(day, time())
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == naive:
        return instant
    low, high = sorted(
        (instant, naive.replace(tzinfo=zone, fold=1).astimezone(UTC)),
    )
    # In the gap: local time jumps past `naive` at the transition, which lies in [low, high].
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) > naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _bound(value: str, field: str, zone: ZoneInfo, *, end: bool) -> datetime:
    if len(value) > MAX_BOUND_LENGTH:
        raise ValidationError.on(field, "This value is too long.")
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return start_of_day(day + timedelta(days=1) if end else day, zone)
        if match := _SPACE_OFFSET.fullmatch(text):
            text = f"{match.group(1)}+{match.group(2)}"
        instant = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValidationError.on(
            field, "Use a date YYYY-MM-DD or an ISO-8601 instant with an offset."
        ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError.on(field, "Give the instant an offset, such as Z or -03:00.")
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise ValidationError.on(field, "This instant is out of range.") from None


def parse_range(
    from_: str | None, to: str | None, tz: str
) -> tuple[datetime | None, datetime | None]:
    """`[start, end)` in UTC from the `from`/`to` query values; either may be absent."""
    zone = ZoneInfo(tz)
    start = _bound(from_, "from", zone, end=False) if from_ else None
    end = _bound(to, "to", zone, end=True) if to else None
    if start is not None and end is not None and end <= start:
        raise ValidationError.on("to", "`to` must be after `from`.")
    return start, end
