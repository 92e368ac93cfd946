"""Reading the audit log (`GET /api/audit`): filtered, newest first, one page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from topsmile.audit.tables import AuditRow
from topsmile.clinics import queries
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.ranges import offset_of, parse_range


@dataclass(frozen=True)
class AuditFilter:
    from_: str | None = None
    to: str | None = None
    actor_id: uuid.UUID | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None


_WHERE = """
    WHERE ({}::timestamptz IS NULL OR at >= {})
      AND ({}::timestamptz IS NULL OR at < {})
      AND ({}::uuid IS NULL OR actor_id = {})
      AND ({}::text IS NULL OR action = {})
      AND ({}::text IS NULL OR entity_type = {})
      AND ({}::text IS NULL OR entity_id = {})
"""
# Constant SQL text; every filter value is a bound parameter.
_COUNT = "SELECT count(*) AS n FROM audit_log" + _WHERE  # noqa: S608
_PAGE = "SELECT * FROM audit_log" + _WHERE + " ORDER BY at DESC, id DESC LIMIT {} OFFSET {}"  # noqa: S608


async def list_entries(
    actor: Actor, where: AuditFilter, *, page: int, page_size: int
) -> tuple[list[AuditRow], int]:
    """Dates in the filter are read in the clinic's time zone."""
    async with db.tenant_transaction(actor.clinic_id):
        clinic = await queries.clinic_by_id(actor.clinic_id)
        start, end = parse_range(where.from_, where.to, clinic.timezone)
        values = (start, end, where.actor_id, where.action, where.entity_type, where.entity_id)
        args = [value for value in values for _ in (0, 1)]
        total = await rows.count(_COUNT, *args)
        found = await rows.fetch_all(AuditRow, _PAGE, *args, page_size, offset_of(page, page_size))
    return found, total
