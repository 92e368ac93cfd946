"""The clinic's services (what can be booked) and its closures."""

from __future__ import annotations

import uuid

import msgspec

from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import NotFound, ValidationError
from topsmile.events.catalogue import NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.scheduling import events
from topsmile.scheduling.schemas import PeriodCreate, ServiceCreate, ServicePatch
from topsmile.scheduling.tables import ClosureRow, ServiceRow

_SERVICE_COLUMNS = (
    "name",
    "description",
    "duration_minutes",
    "price_amount",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "color",
    "category",
    "online_bookable",
    "requires_approval",
    "active",
)
_SELECT_SERVICE = "SELECT s.*, c.currency FROM clinic_service s JOIN clinic c ON c.id = s.clinic_id"


class ServiceWithCurrency(ServiceRow, frozen=True):
    """A service's row and its clinic's currency (`_SELECT_SERVICE`). Not a table's row: it
    inherits `__table__` but sets none itself, so `rows.TABLES` leaves it out."""

    currency: str


def patient_visible(actor: Actor) -> bool:
    """Patients see only active, online-bookable services; any other id is 404 for them."""
    return actor.role == "patient"


async def list_services(actor: Actor) -> list[ServiceWithCurrency]:
    only_bookable = patient_visible(actor)
    async with db.tenant_transaction(actor.clinic_id):
        return await rows.fetch_all(
            ServiceWithCurrency,
            _SELECT_SERVICE + " WHERE ({} = false OR (s.active AND s.online_bookable))"
            " ORDER BY s.name, s.id",
            only_bookable,
        )


async def _service(
    service_id: uuid.UUID, *, bookable_only: bool, lock: bool = False
) -> ServiceWithCurrency:
    row = await rows.fetch_one(
        ServiceWithCurrency,
        _SELECT_SERVICE
        + " WHERE s.id = {} AND ({} = false OR (s.active AND s.online_bookable))"
        + (" FOR UPDATE OF s" if lock else ""),
        service_id,
        bookable_only,
    )
    if row is None:
        raise NotFound("No such service.")
    return row


async def get_service(actor: Actor, service_id: uuid.UUID) -> ServiceWithCurrency:
    async with db.tenant_transaction(actor.clinic_id):
        return await _service(service_id, bookable_only=patient_visible(actor))


async def create_service(actor: Actor, data: ServiceCreate) -> ServiceWithCurrency:
    async with db.tenant_transaction(actor.clinic_id):
        row = await rows.fetch_only(
            ServiceRow,
            "INSERT INTO clinic_service (clinic_id, name, description, duration_minutes,"
            " price_amount, buffer_before_minutes, buffer_after_minutes, color, category,"
            " online_bookable, requires_approval)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
            actor.clinic_id,
            data.name,
            data.description,
            data.duration_minutes,
            data.price_amount,
            data.buffer_before_minutes,
            data.buffer_after_minutes,
            data.color.upper() if data.color else None,
            data.category,
            data.online_bookable,
            data.requires_approval,
        )
        await publish(new_event(events.SERVICE_CREATED, NoPayload(), actor=actor, entity_id=row.id))
        return await _service(row.id, bookable_only=False)


async def update_service(
    actor: Actor, service_id: uuid.UUID, data: ServicePatch
) -> ServiceWithCurrency:
    changes = {
        c: getattr(data, c) for c in _SERVICE_COLUMNS if getattr(data, c) is not msgspec.UNSET
    }
    if isinstance(changes.get("color"), str):
        changes["color"] = changes["color"].upper()
    async with db.tenant_transaction(actor.clinic_id):
        await _service(service_id, bookable_only=False, lock=True)
        if changes:
            await rows.update_one(ServiceRow, service_id, changes)
        await publish(
            new_event(events.SERVICE_UPDATED, NoPayload(), actor=actor, entity_id=service_id)
        )
        return await _service(service_id, bookable_only=False)


async def deactivate_service(actor: Actor, service_id: uuid.UUID) -> None:
    async with db.tenant_transaction(actor.clinic_id):
        await _service(service_id, bookable_only=False, lock=True)
        await db.fetch(
            "UPDATE clinic_service SET active = false, updated_at = now() WHERE id = {}", service_id
        )
        await publish(
            new_event(events.SERVICE_DEACTIVATED, NoPayload(), actor=actor, entity_id=service_id)
        )


async def list_closures(actor: Actor) -> list[ClosureRow]:
    async with db.tenant_transaction(actor.clinic_id):
        return await rows.fetch_all(ClosureRow, "SELECT * FROM closure ORDER BY starts_at, id")


async def add_closure(actor: Actor, data: PeriodCreate) -> ClosureRow:
    if data.end <= data.start:
        raise ValidationError.on("end", "The closure must end after it starts.")
    async with db.tenant_transaction(actor.clinic_id):
        row = await rows.fetch_only(
            ClosureRow,
            "INSERT INTO closure (clinic_id, starts_at, ends_at, reason) VALUES ({}, {}, {}, {})"
            " RETURNING *",
            actor.clinic_id,
            data.start,
            data.end,
            data.reason,
        )
        await publish(new_event(events.CLOSURE_CREATED, NoPayload(), actor=actor, entity_id=row.id))
    return row


async def remove_closure(actor: Actor, closure_id: uuid.UUID) -> None:
    async with db.tenant_transaction(actor.clinic_id):
        deleted = await db.fetch("DELETE FROM closure WHERE id = {} RETURNING id", closure_id)
        if not deleted:
            raise NotFound("No such closure.")
        await publish(
            new_event(events.CLOSURE_REMOVED, NoPayload(), actor=actor, entity_id=closure_id)
        )
