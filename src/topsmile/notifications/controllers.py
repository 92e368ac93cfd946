"""`GET /api/notifications` (SPEC §7): what was sent to whom, for the front desk."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request
from litestar.params import FromQuery

from topsmile.auth.principal import FRONT_DESK, Principal
from topsmile.core import ranges
from topsmile.core.routes import get
from topsmile.core.schemas import Output, Page
from topsmile.notifications.listing import NotificationFilter, list_notifications
from topsmile.notifications.log import Channel, Status
from topsmile.notifications.tables import NotificationRow

Req = Request[Principal, Any, Any]


class NotificationView(Output, omit_defaults=True):
    id: uuid.UUID
    event_id: uuid.UUID
    request_id: str
    channel: Channel
    template: str
    recipient: str
    status: Status
    attempts: int
    appointment_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    sent_at: datetime | None = None
    error: str | None = None


def notification_view(row: NotificationRow) -> NotificationView:
    return NotificationView(
        id=row.id,
        event_id=row.event_id,
        request_id=row.request_id,
        channel=row.channel,
        template=row.template,
        recipient=row.recipient,
        status=row.status,
        attempts=row.attempts,
        appointment_id=row.appointment_id,
        patient_id=row.patient_id,
        sent_at=row.sent_at,
        error=row.error,
    )


class NotificationsController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]

    @get(
        "/",
        operation_id="listNotifications",
        summary="The notifications log, newest first",
        guards=[FRONT_DESK],
    )
    async def index(
        self,
        request: Req,
        appointmentId: FromQuery[uuid.UUID | None] = None,  # wire names: see core.ranges
        patientId: FromQuery[uuid.UUID | None] = None,
        channel: FromQuery[Channel | None] = None,
        status: FromQuery[Status | None] = None,
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,
    ) -> Page[NotificationView]:
        where = NotificationFilter(appointmentId, patientId, channel, status)
        rows, total = await list_notifications(
            request.user.actor, where, page=page, page_size=pageSize
        )
        return Page(
            items=[notification_view(r) for r in rows],
            total=total,
            page=page,
            page_size=pageSize,
        )
