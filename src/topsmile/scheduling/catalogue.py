"""The clinic's services (what can be booked) and its closures."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from topsmile.auth.principal import Principal
from topsmile.core import db
from topsmile.core.errors import NotFound, ValidationError
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.scheduling.schemas import PeriodCreate, ServiceCreate, ServicePatch

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


def _event(principal: Principal, name: str, entity_type: str, entity_id: uuid.UUID) -> Any:
    return new_event(
        name,
        clinic_id=principal.clinic_id,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=principal.user_id,
        actor_role=principal.role,
        ip=principal.ip,
    )


def patient_visible(principal: Principal) -> bool:
    """Patients see only active, online-bookable services; any other id is 404 for them."""
    return principal.role == "patient"


async def list_services(principal: Principal) -> list[dict[str, Any]]:
    only_bookable = patient_visible(principal)
    async with db.tenant_transaction(principal.clinic_id):
        return await db.fetch(
            _SELECT_SERVICE + " WHERE ({} = false OR (s.active AND s.online_bookable))"
            " ORDER BY s.name, s.id",
            only_bookable,
        )


async def _service(
    service_id: uuid.UUID, *, bookable_only: bool, lock: bool = False
) -> dict[str, Any]:
    rows = await db.fetch(
        _SELECT_SERVICE
        + " WHERE s.id = {} AND ({} = false OR (s.active AND s.online_bookable))"
        + (" FOR UPDATE OF s" if lock else ""),
        service_id,
        bookable_only,
    )
    if not rows:
        raise NotFound("No such service.")
    return rows[0]


async def get_service(principal: Principal, service_id: uuid.UUID) -> dict[str, Any]:
    async with db.tenant_transaction(principal.clinic_id):
        return await _service(service_id, bookable_only=patient_visible(principal))


async def create_service(principal: Principal, data: ServiceCreate) -> dict[str, Any]:
    async with db.tenant_transaction(principal.clinic_id):
        [row] = await db.fetch(
            "INSERT INTO clinic_service (clinic_id, name, description, duration_minutes,"
            " price_amount, buffer_before_minutes, buffer_after_minutes, color, category,"
            " online_bookable, requires_approval)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
            principal.clinic_id,
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
        await publish(_event(principal, "service.created", "service", row["id"]))
        return await _service(row["id"], bookable_only=False)


async def update_service(
    principal: Principal, service_id: uuid.UUID, data: ServicePatch
) -> dict[str, Any]:
    changes = {
        c: getattr(data, c) for c in _SERVICE_COLUMNS if getattr(data, c) is not msgspec.UNSET
    }
    if isinstance(changes.get("color"), str):
        changes["color"] = changes["color"].upper()
    async with db.tenant_transaction(principal.clinic_id):
        await _service(service_id, bookable_only=False, lock=True)
        if changes:
            await db.update_row("clinic_service", service_id, changes)
        await publish(_event(principal, "service.updated", "service", service_id))
        return await _service(service_id, bookable_only=False)


async def deactivate_service(principal: Principal, service_id: uuid.UUID) -> None:
    async with db.tenant_transaction(principal.clinic_id):
        await _service(service_id, bookable_only=False, lock=True)
        await db.fetch(
            "UPDATE clinic_service SET active = false, updated_at = now() WHERE id = {}", service_id
        )
        await publish(_event(principal, "service.deactivated", "service", service_id))


async def list_closures(principal: Principal) -> list[dict[str, Any]]:
    async with db.tenant_transaction(principal.clinic_id):
        return await db.fetch(
            "SELECT id, starts_at, ends_at, reason FROM closure ORDER BY starts_at, id"
        )


async def add_closure(principal: Principal, data: PeriodCreate) -> dict[str, Any]:
    if data.end <= data.start:
        raise ValidationError.on("end", "The closure must end after it starts.")
    async with db.tenant_transaction(principal.clinic_id):
        [row] = await db.fetch(
            "INSERT INTO closure (clinic_id, starts_at, ends_at, reason) VALUES ({}, {}, {}, {})"
            " RETURNING id, starts_at, ends_at, reason",
            principal.clinic_id,
            data.start,
            data.end,
            data.reason,
        )
        await publish(_event(principal, "closure.created", "closure", row["id"]))
    return row


async def remove_closure(principal: Principal, closure_id: uuid.UUID) -> None:
    async with db.tenant_transaction(principal.clinic_id):
        deleted = await db.fetch("DELETE FROM closure WHERE id = {} RETURNING id", closure_id)
        if not deleted:
            raise NotFound("No such closure.")
        await publish(_event(principal, "closure.removed", "closure", closure_id))
