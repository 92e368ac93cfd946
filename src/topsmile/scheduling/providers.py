"""Providers, the services they offer, their weekly hours and their time off."""

from __future__ import annotations

import itertools
import uuid

import msgspec

from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import Conflict, Forbidden, NotFound, ValidationError
from topsmile.core.rows import Row
from topsmile.events.catalogue import Changed, NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.scheduling import events
from topsmile.scheduling.booking import lock_provider
from topsmile.scheduling.queries import live_overlapping
from topsmile.scheduling.schemas import (
    PeriodCreate,
    ProviderCreate,
    ProviderPatch,
    WorkingInterval,
)
from topsmile.scheduling.tables import ProviderRow, ProviderServiceRow, TimeOffRow, WorkingHoursRow

_COLUMNS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "specialty": "specialty",
    "user_id": "user_id",
    "buffer_before_minutes": "buffer_before_minutes",
    "buffer_after_minutes": "buffer_after_minutes",
    "active": "active",
}


class ProviderWithServices(ProviderRow, frozen=True):
    """A provider's row and the ids of the services they offer, in id order. Not a table's
    row: it inherits `__table__` but sets none itself, so `rows.TABLES` leaves it out."""

    service_ids: list[uuid.UUID]


class _Id(Row, frozen=True):
    id: uuid.UUID


def _with_services(row: ProviderRow, service_ids: list[uuid.UUID]) -> ProviderWithServices:
    return ProviderWithServices(**msgspec.structs.asdict(row), service_ids=service_ids)


async def _service_ids(provider_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    links = await rows.fetch_all(
        ProviderServiceRow,
        "SELECT * FROM provider_service WHERE provider_id = ANY({}::uuid[]) ORDER BY service_id",
        provider_ids,
    )
    offered: dict[uuid.UUID, list[uuid.UUID]] = {pid: [] for pid in provider_ids}
    for link in links:
        offered[link.provider_id].append(link.service_id)
    return offered


async def list_providers(actor: Actor, *, active_only: bool) -> list[ProviderWithServices]:
    async with db.tenant_transaction(actor.clinic_id):
        found = await rows.fetch_all(
            ProviderRow,
            "SELECT * FROM provider WHERE ({} = false OR active)"
            " ORDER BY last_name, first_name, id",
            active_only,
        )
        offered = await _service_ids([r.id for r in found])
    return [_with_services(row, offered[row.id]) for row in found]


async def _provider(
    provider_id: uuid.UUID, *, active_only: bool = False, lock: bool = False
) -> ProviderRow:
    row = await rows.fetch_one(
        ProviderRow,
        "SELECT * FROM provider WHERE id = {} AND ({} = false OR active)"  # noqa: S608
        + (" FOR UPDATE" if lock else ""),
        provider_id,
        active_only,
    )
    if row is None:
        raise NotFound("No such provider.")
    return row


async def get_provider(
    actor: Actor, provider_id: uuid.UUID, *, active_only: bool
) -> ProviderWithServices:
    async with db.tenant_transaction(actor.clinic_id):
        row = await _provider(provider_id, active_only=active_only)
        offered = await _service_ids([provider_id])
    return _with_services(row, offered[provider_id])


async def _check_references(user_id: uuid.UUID | None, service_ids: list[uuid.UUID] | None) -> None:
    if user_id is not None:
        users = await db.fetch(
            "SELECT 1 FROM app_user WHERE id = {} AND role <> 'patient'", user_id
        )
        if not users:
            raise ValidationError.on("userId", "No staff user with this id in your clinic.")
    if service_ids:
        found = await rows.fetch_all(
            _Id, "SELECT id FROM clinic_service WHERE id = ANY({}::uuid[])", service_ids
        )
        missing = set(service_ids) - {r.id for r in found}
        if missing:
            raise ValidationError.on(
                "serviceIds", "Unknown service ids: " + ", ".join(sorted(map(str, missing)))
            )


async def _set_services(
    clinic_id: uuid.UUID, provider_id: uuid.UUID, service_ids: list[uuid.UUID]
) -> None:
    await db.fetch("DELETE FROM provider_service WHERE provider_id = {}", provider_id)
    await db.fetch(
        "INSERT INTO provider_service (clinic_id, provider_id, service_id)"
        " SELECT {}, {}, unnest({}::uuid[])",
        clinic_id,
        provider_id,
        sorted(set(service_ids)),
    )


async def create_provider(actor: Actor, data: ProviderCreate) -> ProviderWithServices:
    async with db.tenant_transaction(actor.clinic_id):
        await _check_references(data.user_id, data.service_ids)
        row = await rows.fetch_only(
            ProviderRow,
            "INSERT INTO provider (clinic_id, user_id, first_name, last_name, email, specialty,"
            " buffer_before_minutes, buffer_after_minutes) VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
            " RETURNING *",
            actor.clinic_id,
            data.user_id,
            data.first_name.strip(),
            data.last_name.strip(),
            data.email.lower() if data.email else None,
            data.specialty,
            data.buffer_before_minutes,
            data.buffer_after_minutes,
        )
        await _set_services(actor.clinic_id, row.id, data.service_ids)
        await publish(
            new_event(events.PROVIDER_CREATED, NoPayload(), actor=actor, entity_id=row.id)
        )
    return _with_services(row, sorted(set(data.service_ids)))


async def update_provider(
    actor: Actor, provider_id: uuid.UUID, data: ProviderPatch
) -> ProviderWithServices:
    changes = {
        column: getattr(data, field)
        for field, column in _COLUMNS.items()
        if getattr(data, field) is not msgspec.UNSET
    }
    if isinstance(changes.get("email"), str):
        changes["email"] = changes["email"].lower()
    async with db.tenant_transaction(actor.clinic_id):
        row = await _provider(provider_id, lock=True)
        service_ids = None if data.service_ids is msgspec.UNSET else data.service_ids
        await _check_references(changes.get("user_id"), service_ids)
        if changes:
            row = await rows.update_one(ProviderRow, provider_id, changes)
        if service_ids is not None:
            await _set_services(actor.clinic_id, provider_id, service_ids)
        fields = Changed(fields=sorted(changes))
        await publish(
            new_event(events.PROVIDER_UPDATED, fields, actor=actor, entity_id=provider_id)
        )
        offered = await _service_ids([provider_id])
    return _with_services(row, offered[provider_id])


async def deactivate_provider(actor: Actor, provider_id: uuid.UUID) -> None:
    async with db.tenant_transaction(actor.clinic_id):
        await _provider(provider_id, lock=True)
        await db.fetch(
            "UPDATE provider SET active = false, updated_at = now() WHERE id = {}", provider_id
        )
        await publish(
            new_event(events.PROVIDER_DEACTIVATED, NoPayload(), actor=actor, entity_id=provider_id)
        )


# --- working hours -------------------------------------------------------------------------


def _minutes(wall: str) -> int:
    hours, minutes = wall.split(":")
    return int(hours) * 60 + int(minutes)


def validate_intervals(intervals: list[WorkingInterval]) -> None:
    """Each interval ends after it starts; intervals of one day may touch but not overlap."""
    by_day: dict[int, list[tuple[int, int, int]]] = {}
    for index, interval in enumerate(intervals):
        start, end = _minutes(interval.start), _minutes(interval.end)
        if start >= end:
            raise ValidationError.on(f"[{index}].end", "The interval must end after it starts.")
        by_day.setdefault(interval.weekday, []).append((start, end, index))
    for spans in by_day.values():
        spans.sort()
        for (_, previous_end, _), (start, _, index) in itertools.pairwise(spans):
            if start < previous_end:
                raise ValidationError.on(f"[{index}].start", "Intervals of one day overlap.")


async def get_working_hours(
    actor: Actor, provider_id: uuid.UUID, *, active_only: bool
) -> list[WorkingHoursRow]:
    async with db.tenant_transaction(actor.clinic_id):
        await _provider(provider_id, active_only=active_only)
        return await _working_hours(provider_id)


async def _working_hours(provider_id: uuid.UUID) -> list[WorkingHoursRow]:
    return await rows.fetch_all(
        WorkingHoursRow,
        "SELECT * FROM working_hours WHERE provider_id = {} ORDER BY weekday, start_minute",
        provider_id,
    )


async def set_working_hours(
    actor: Actor, provider_id: uuid.UUID, intervals: list[WorkingInterval]
) -> list[WorkingHoursRow]:
    validate_intervals(intervals)
    async with db.tenant_transaction(actor.clinic_id):
        await _provider(provider_id, lock=True)
        await db.fetch("DELETE FROM working_hours WHERE provider_id = {}", provider_id)
        await db.fetch(
            "INSERT INTO working_hours (clinic_id, provider_id, weekday, start_minute, end_minute)"
            " SELECT {}, {}, * FROM unnest({}::smallint[], {}::smallint[], {}::smallint[])",
            actor.clinic_id,
            provider_id,
            [interval.weekday for interval in intervals],
            [_minutes(interval.start) for interval in intervals],
            [_minutes(interval.end) for interval in intervals],
        )
        await publish(
            new_event(
                events.PROVIDER_HOURS_CHANGED, NoPayload(), actor=actor, entity_id=provider_id
            )
        )
        return await _working_hours(provider_id)


# --- time off ----------------------------------------------------------------------------


async def _may_manage_time_off(actor: Actor, provider: ProviderRow) -> None:
    """Admins and managers manage anyone's time off; a provider only their own."""
    if actor.role in ("admin", "manager"):
        return
    if actor.role == "provider" and provider.user_id == actor.user_id:
        return
    raise Forbidden("Only the provider themself, a manager or an admin may change time off.")


async def list_time_off(
    actor: Actor, provider_id: uuid.UUID, *, active_only: bool
) -> list[TimeOffRow]:
    async with db.tenant_transaction(actor.clinic_id):
        await _provider(provider_id, active_only=active_only)
        return await rows.fetch_all(
            TimeOffRow,
            "SELECT * FROM time_off WHERE provider_id = {} ORDER BY starts_at",
            provider_id,
        )


async def add_time_off(actor: Actor, provider_id: uuid.UUID, data: PeriodCreate) -> TimeOffRow:
    if data.end <= data.start:
        raise ValidationError.on("end", "The time off must end after it starts.")
    async with db.tenant_transaction(actor.clinic_id):
        # The provider's booking lock first, so no booking slips in between the check and
        # the insert; before the row lock, in the order booking takes them (its insert's
        # foreign-key check share-locks the provider row while it holds this lock).
        await lock_provider(provider_id)
        provider = await _provider(provider_id, lock=True)
        await _may_manage_time_off(actor, provider)
        conflicts = await live_overlapping(provider_id, data.start, data.end)
        if conflicts:
            raise Conflict(
                "The time off overlaps live appointments; move or cancel them first.",
                conflicts=[str(c) for c in conflicts],
            )
        row = await rows.fetch_only(
            TimeOffRow,
            "INSERT INTO time_off (clinic_id, provider_id, starts_at, ends_at, reason)"
            " VALUES ({}, {}, {}, {}, {}) RETURNING *",
            actor.clinic_id,
            provider_id,
            data.start,
            data.end,
            data.reason,
        )
        added = events.TimeOff(time_off_id=row.id)
        await publish(
            new_event(events.PROVIDER_TIME_OFF_ADDED, added, actor=actor, entity_id=provider_id)
        )
    return row


async def remove_time_off(actor: Actor, provider_id: uuid.UUID, time_off_id: uuid.UUID) -> None:
    async with db.tenant_transaction(actor.clinic_id):
        provider = await _provider(provider_id, lock=True)
        await _may_manage_time_off(actor, provider)
        deleted = await db.fetch(
            "DELETE FROM time_off WHERE id = {} AND provider_id = {} RETURNING id",
            time_off_id,
            provider_id,
        )
        if not deleted:
            raise NotFound("No such time off.")
        removed = events.TimeOff(time_off_id=time_off_id)
        await publish(
            new_event(events.PROVIDER_TIME_OFF_REMOVED, removed, actor=actor, entity_id=provider_id)
        )
