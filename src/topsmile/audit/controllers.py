"""`GET /api/audit` (SPEC §7): the clinic's append-only audit log, for admins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request
from litestar.params import FromQuery, QueryParameter

from topsmile.audit.listing import AuditFilter, list_entries
from topsmile.audit.tables import AuditRow
from topsmile.auth.principal import ADMIN, Principal
from topsmile.core import ranges
from topsmile.core.ranges import From, To
from topsmile.core.routes import get
from topsmile.core.schemas import Output, Page

Req = Request[Principal, Any, Any]

Text = Annotated[str | None, QueryParameter(max_length=200)]


class AuditEntry(Output, omit_defaults=True):
    id: uuid.UUID
    at: datetime
    action: str
    entity_type: str
    request_id: str
    details: dict[str, Any]
    actor_id: uuid.UUID | None = None
    actor_role: str | None = None
    entity_id: str | None = None
    ip: str | None = None


def audit_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        action=row.action,
        entity_type=row.entity_type,
        request_id=row.request_id,
        details=msgspec.json.decode(row.details),
        actor_id=row.actor_id,
        actor_role=row.actor_role,
        entity_id=row.entity_id,
        ip=row.ip,
    )


class AuditController(Controller):
    path = "/api/audit"
    tags = ["audit"]

    @get(
        "/",
        operation_id="listAudit",
        summary="The audit log, newest first",
        description="`from`/`to` take a clinic-local date (inclusive) or an instant with an"
        " offset; the range is half-open.",
        guards=[ADMIN],
    )
    async def index(
        self,
        request: Req,
        from_: From = None,
        to: To = None,
        actorId: FromQuery[uuid.UUID | None] = None,  # wire names: see core.ranges
        action: Text = None,
        entityType: Text = None,
        entityId: Text = None,
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,
    ) -> Page[AuditEntry]:
        where = AuditFilter(from_, to, actorId, action, entityType, entityId)
        rows, total = await list_entries(request.user.actor, where, page=page, page_size=pageSize)
        return Page(
            items=[audit_entry(r) for r in rows], total=total, page=page, page_size=pageSize
        )
