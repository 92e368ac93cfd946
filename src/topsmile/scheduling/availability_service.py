"""`GET /api/scheduling/availability` (SPEC §6): read what the slot rules need in one query
(one tenant transaction), then let the pure `availability` module decide.

There is no cache: every answer is computed from committed rows, so nothing can show a taken
slot or hide a freed one (docs/ARCHITECTURE.md "Slot rules").
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import repeat
from operator import add, itemgetter
from zoneinfo import ZoneInfo

import msgspec

from topsmile.clinics.schemas import ClinicSettings
from topsmile.core import clock, db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import NotFound, ValidationError
from topsmile.scheduling import availability as rules
from topsmile.scheduling.schemas import MAX_OCCUPIED, AvailabilityView, SlotView

MAX_DAYS = 31
DEFAULT_DAYS = 7
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Blocks are read this far around the asked dates: appointments may cross midnight (the slot
# rules look one day either side) and buffers reach out up to 240 minutes.
_MARGIN = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class AvailabilityQuery:
    service_id: uuid.UUID
    provider_id: uuid.UUID | None = None
    from_: str | None = None
    to: str | None = None


class _Asked(rows.Row, frozen=True):
    """Everything one availability answer reads, in one row (`_READ`)."""

    timezone: str
    settings: str
    service_id: uuid.UUID | None
    duration_minutes: int | None
    buffer_before_minutes: int | None
    buffer_after_minutes: int | None
    active: bool | None
    online_bookable: bool | None
    providers: str  # JSON: [_ProviderHours, ...]
    blocks: str  # JSON: [_Blocked, ...]


class _ProviderHours(msgspec.Struct, frozen=True, array_like=True):
    id: uuid.UUID
    active: bool
    offers: bool
    buffer_before_minutes: int
    buffer_after_minutes: int
    hours: list[tuple[int, int, int]]  # weekday, start minute, end minute


class _Blocked(msgspec.Struct, frozen=True, array_like=True):
    """Time off, a closure (no provider: every provider's) or a live appointment's occupied
    block, in microseconds since the epoch (`rules.micros`)."""

    provider_id: uuid.UUID | None
    start: int
    end: int


_PROVIDERS = msgspec.json.Decoder(list[_ProviderHours])
_BLOCKS = msgspec.json.Decoder(list[_Blocked])
# One round trip: the clinic's zone and settings with the service; the provider asked for
# (whatever its state) or every active provider offering the service, with weekly hours; and
# what blocks them in the window, busy or closed alike (the rows of `blocking_intervals()`).
# Placeholders: service, provider, provider, service, (end, start) twice, then end, the earliest
# start a block overlapping the window can have, start, and service.
_READ = (
    "WITH staff AS MATERIALIZED (SELECT p.id, p.active, p.buffer_before_minutes,"
    " p.buffer_after_minutes, EXISTS (SELECT 1 FROM provider_service o"
    "   WHERE o.provider_id = p.id AND o.service_id = {}) AS offers"
    " FROM provider p WHERE p.id = {} OR ({}::uuid IS NULL AND p.active AND EXISTS ("
    "   SELECT 1 FROM provider_service o WHERE o.provider_id = p.id AND o.service_id = {})))"
    " SELECT c.timezone, c.settings::text AS settings, s.id AS service_id, s.duration_minutes,"
    " s.buffer_before_minutes, s.buffer_after_minutes, s.active, s.online_bookable,"
    " (SELECT coalesce(json_agg(json_build_array(t.id, t.active, t.offers,"
    "   t.buffer_before_minutes, t.buffer_after_minutes, (SELECT coalesce(json_agg("
    "     json_build_array(w.weekday, w.start_minute, w.end_minute)), '[]')"
    "     FROM working_hours w WHERE w.provider_id = t.id))), '[]') FROM staff t)::text"
    "   AS providers,"
    " (SELECT coalesce(json_agg(json_build_array(b.provider_id,"
    "   (extract(epoch FROM b.starts_at) * 1000000)::bigint,"
    "   (extract(epoch FROM b.ends_at) * 1000000)::bigint)), '[]') FROM ("
    "   SELECT provider_id, starts_at, ends_at FROM time_off"
    "   WHERE provider_id IN (SELECT id FROM staff) AND starts_at < {} AND ends_at > {}"
    "   UNION ALL SELECT NULL, starts_at, ends_at FROM closure"
    "   WHERE starts_at < {} AND ends_at > {}"
    # Per provider (LATERAL), so each is an index range of appointment_provider_block: a
    # plain join let the planner read the whole clinic's appointments by clinic_id.
    "   UNION ALL SELECT t.id, a.occupied_start, a.occupied_end FROM staff t CROSS JOIN LATERAL"
    "   (SELECT occupied_start, occupied_end FROM appointment WHERE provider_id = t.id"
    "   AND occupied_start < {} AND occupied_start > {} AND occupied_end > {}"
    "   AND status NOT IN ('cancelled', 'no_show')) a) b)::text AS blocks"
    " FROM clinic c LEFT JOIN clinic_service s ON s.id = {} WHERE c.id = app_clinic_id()"
)


class Block(rows.Row, frozen=True):
    """Time that takes a provider's slots away: `closed` (their time off, or a clinic closure
    when `provider_id` is None) makes a start not bookable; `busy` (another live
    appointment's occupied block) makes it unavailable."""

    kind: str
    provider_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime


BLOCKING = (
    "SELECT 'closed' AS kind, provider_id, starts_at, ends_at FROM time_off"
    " WHERE provider_id = ANY({}::uuid[]) AND starts_at < {} AND ends_at > {}"
    " UNION ALL SELECT 'closed', NULL, starts_at, ends_at FROM closure"
    " WHERE starts_at < {} AND ends_at > {}"
    " UNION ALL SELECT 'busy', provider_id, occupied_start, occupied_end FROM appointment"
    " WHERE provider_id = ANY({}::uuid[]) AND occupied_start < {} AND occupied_start > {}"
    " AND occupied_end > {} AND status NOT IN ('cancelled', 'no_show')"
    " AND id IS DISTINCT FROM {}"
)
"""The rows of `blocking_intervals()`; its placeholders are `blocking_arguments()`."""


def blocking_arguments(
    provider_ids: list[uuid.UUID],
    start: datetime,
    end: datetime,
    except_appointment: uuid.UUID | None = None,
) -> tuple[object, ...]:
    since = start - MAX_OCCUPIED  # no live block is longer (scheduling/schemas.py)
    return (
        provider_ids,
        end,
        start,
        end,
        start,
        provider_ids,
        end,
        since,
        start,
        except_appointment,
    )


async def blocking_intervals(
    provider_ids: list[uuid.UUID],
    start: datetime,
    end: datetime,
    *,
    except_appointment: uuid.UUID | None = None,
) -> list[Block]:
    """Every block of these providers overlapping `[start, end)`, in the caller's
    transaction: time off and closures (`closed`), and live appointments' occupied blocks
    (`busy`) but `except_appointment`'s (a rescheduled appointment's own old block)."""
    return await rows.fetch_all(
        Block,
        BLOCKING,
        *blocking_arguments(provider_ids, start, end, except_appointment),
    )


def _parse_day(value: str, field: str) -> date:
    if not _DATE.fullmatch(value.strip()):
        raise ValidationError.on(field, "Use a date YYYY-MM-DD.")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError.on(field, "This is not a calendar date.") from None
    if not 1900 <= day.year <= 9000:
        raise ValidationError.on(field, "This date is out of range.")
    return day


def date_range(from_: str | None, to: str | None, zone: ZoneInfo) -> tuple[date, date]:
    """Clinic-local dates, both ends included: from = today, to = from + 6 by default."""
    first = _parse_day(from_, "from") if from_ else clock.now().astimezone(zone).date()
    last = _parse_day(to, "to") if to else first + timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise ValidationError.on("to", "`to` must not be before `from`.")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError.on("to", f"Ask for at most {MAX_DAYS} days, counting both ends.")
    return first, last


def _window(query: AvailabilityQuery) -> tuple[datetime, datetime]:
    """Instants that hold every block the asked dates can meet, before the clinic's zone is
    known: local midnights lie within 14 hours of UTC's, and `from` defaults to today in the
    clinic, within a day of today in UTC. At most MAX_DAYS + 2 days and the margins are read
    whatever was asked; `date_range()` validates the dates after the read."""
    today = clock.now().astimezone(UTC).date()
    first = _parse_day(query.from_, "from") if query.from_ else today - timedelta(days=1)
    if query.to:
        last = _parse_day(query.to, "to")
    else:
        last = first + timedelta(days=DEFAULT_DAYS - 1 + (0 if query.from_ else 2))
    last = max(first, min(last, first + timedelta(days=MAX_DAYS + 2)))
    return (
        datetime.combine(first, time(), UTC) - _MARGIN,
        datetime.combine(last + timedelta(days=1), time(), UTC) + _MARGIN,
    )


def read_arguments(query: AvailabilityQuery) -> tuple[object, ...]:
    """`_READ`'s placeholders for this query (in the order its comment gives)."""
    start, end = _window(query)
    service, provider = query.service_id, query.provider_id
    return (
        *(service, provider, provider, service),
        *(end, start, end, start, end, start - MAX_OCCUPIED, start, service),
    )


def limits_for(actor: Actor, zone: ZoneInfo, settings: ClinicSettings) -> rules.Limits:
    now = clock.now()
    if actor.is_staff:
        return rules.Limits.staff(now)
    return rules.Limits.patient(
        now,
        zone,
        min_notice_minutes=settings.min_notice_minutes,
        horizon_days=settings.booking_horizon_days,
        slot_interval_minutes=settings.slot_interval_minutes,
    )


async def availability(actor: Actor, query: AvailabilityQuery) -> AvailabilityView:
    """Free slots of one provider, or of every provider offering the service. Staff get
    staff rules; everyone else (patients, the public booking page) patient rules."""
    patient_rules = not actor.is_staff
    service_id, provider_id = query.service_id, query.provider_id
    async with db.tenant_transaction(actor.clinic_id, generic_plans=True):
        found = await rows.fetch_only(
            _Asked,
            _READ,
            *read_arguments(query),
        )
    zone = ZoneInfo(found.timezone)
    first, last = date_range(query.from_, query.to, zone)
    if found.service_id is None or (patient_rules and not (found.active and found.online_bookable)):
        raise NotFound("No such service.")
    providers = _PROVIDERS.decode(found.providers)
    if provider_id is not None and (not providers or (patient_rules and not providers[0].active)):
        raise NotFound("No such provider.")
    providers = [p for p in providers if p.active and p.offers and found.active]
    blocks: dict[uuid.UUID | None, list[tuple[int, int]]] = {}
    for block in _BLOCKS.decode(found.blocks):
        blocks.setdefault(block.provider_id, []).append((block.start, block.end))
    closures = blocks.get(None, [])
    settings = msgspec.json.decode(found.settings, type=ClinicSettings)
    limits = limits_for(actor, zone, settings)
    assert found.duration_minutes is not None
    duration = found.duration_minutes * 60_000_000
    found_starts: list[tuple[int, uuid.UUID]] = []
    for provider in sorted(providers, key=lambda p: p.id):
        buffers = rules.Buffers.of(
            found.buffer_before_minutes,
            found.buffer_after_minutes,
            provider.buffer_before_minutes,
            provider.buffer_after_minutes,
        )
        service = rules.Service(found.duration_minutes, buffers)
        hours = tuple(rules.WeeklyInterval(*h) for h in sorted(provider.hours))
        mine = closures + blocks.get(provider.id, [])
        starts = rules.free_starts(zone, hours, mine, service, limits, first, last)
        # zip in C: a generator here cost ~10 % of a many-slot request (bench/mixed_load.py)
        found_starts.extend(zip(starts, repeat(provider.id), strict=False))
    # By start, then provider id: providers were taken in id order and the sort is stable.
    found_starts.sort(key=itemgetter(0))
    begins, ids = zip(*found_starts, strict=True) if found_starts else ((), ())
    # In C (map), not a Python loop: a many-slot answer's views were ~20 % of its CPU.
    ends = map(rules.instant, map(add, begins, repeat(duration)))
    slots = list(map(SlotView, ids, map(rules.instant, begins), ends))
    return AvailabilityView(timezone=found.timezone, service_id=service_id, slots=slots)
