"""Reading the notifications log (`GET /api/notifications`): filtered, newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.ranges import offset_of
from topsmile.notifications.log import Channel, Status
from topsmile.notifications.tables import NotificationRow


@dataclass(frozen=True)
class NotificationFilter:
    appointment_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    channel: Channel | None = None
    status: Status | None = None


_WHERE = """
    WHERE ({}::uuid IS NULL OR appointment_id = {})
      AND ({}::uuid IS NULL OR patient_id = {})
      AND ({}::text IS NULL OR channel = {})
      AND ({}::text IS NULL OR status = {})
"""
# Constant SQL text; every filter value is a bound parameter.
_COUNT = "SELECT count(*) AS n FROM notification" + _WHERE  # noqa: S608

_ORDER = " ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}"
_PAGE = "SELECT * FROM notification" + _WHERE + _ORDER  # noqa: S608


async def list_notifications(
    actor: Actor, where: NotificationFilter, *, page: int, page_size: int
) -> tuple[list[NotificationRow], int]:
    values = (where.appointment_id, where.patient_id, where.channel, where.status)
    args = [value for value in values for _ in (0, 1)]
    async with db.tenant_transaction(actor.clinic_id):
        total = await rows.count(_COUNT, *args)
        found = await rows.fetch_all(
            NotificationRow, _PAGE, *args, page_size, offset_of(page, page_size)
        )
    return found, total
