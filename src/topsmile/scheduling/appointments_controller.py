"""`/api/scheduling/appointments` (SPEC §6): thin handlers over booking and queries. Every
role may call them; patients act only on their own appointments (the services decide)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from topsmile.auth.principal import Principal, signed_in
from topsmile.core import idempotency, ranges
from topsmile.core.openapi import problem_response
from topsmile.core.routes import get, post
from topsmile.core.schemas import Page, body
from topsmile.runtime import runtime_of
from topsmile.scheduling import booking, queries
from topsmile.scheduling.queries import AppointmentFilter
from topsmile.scheduling.schemas import (
    AppointmentCreate,
    AppointmentView,
    Cancel,
    HistoryView,
    Reschedule,
    StatusChange,
)
from topsmile.scheduling.views import appointment_view, history_view

Req = Request[Principal, Any, Any]
_REFUSED = {422: problem_response(422)}
ProviderFilter = Annotated[uuid.UUID | None, QueryParameter(name="providerId")]
PatientFilter = Annotated[uuid.UUID | None, QueryParameter(name="patientId")]
StatusFilter = Annotated[
    str | None,
    QueryParameter(max_length=200, description="Statuses separated by commas: `a,b`."),
]


class AppointmentsController(Controller):
    path = "/api/scheduling/appointments"
    tags = ["scheduling: appointments"]
    guards = [signed_in]

    @post(
        "/",
        operation_id="createAppointment",
        summary="Book (patients for themselves, staff for any patient)",
        responses={**_REFUSED, 404: problem_response(404)},  # an unknown id in the body
        **body(AppointmentCreate),
    )
    async def create(
        self,
        request: Req,
        data: JSONBody[AppointmentCreate],
        idempotency_key: idempotency.IdempotencyKey = None,
    ) -> AppointmentView:
        actor = request.user.actor

        async def work() -> AppointmentView:
            return appointment_view(await booking.book(actor, data))

        if idempotency_key is None:
            return await work()
        return await idempotency.once(
            runtime_of(request).redis,
            actor,
            operation="createAppointment",
            key=idempotency_key,
            request=data,
            kind=AppointmentView,
            work=work,
        )

    @get(
        "/",
        operation_id="listAppointments",
        summary="Appointments starting in a range, by start (patients: their own)",
    )
    async def index(
        self,
        request: Req,
        from_: ranges.From = None,
        to: ranges.To = None,
        provider_id: ProviderFilter = None,
        patient_id: PatientFilter = None,
        status: StatusFilter = None,
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,  # wire names: see core.ranges
    ) -> Page[AppointmentView]:
        where = AppointmentFilter(from_, to, provider_id, patient_id, status, page, pageSize)
        found, total = await queries.list_appointments(request.user.actor, where)
        return Page(
            items=[appointment_view(r) for r in found], total=total, page=page, page_size=pageSize
        )

    @get("/{appointment_id:uuid}", operation_id="getAppointment", summary="One appointment")
    async def show(self, request: Req, appointment_id: FromPath[uuid.UUID]) -> AppointmentView:
        return appointment_view(await queries.get_appointment(request.user.actor, appointment_id))

    @get(
        "/{appointment_id:uuid}/history",
        operation_id="getAppointmentHistory",
        summary="Every change of one appointment, oldest first",
    )
    async def history(self, request: Req, appointment_id: FromPath[uuid.UUID]) -> list[HistoryView]:
        found = await queries.history(request.user.actor, appointment_id)
        return [history_view(r) for r in found]

    @post(
        "/{appointment_id:uuid}/reschedule",
        operation_id="rescheduleAppointment",
        summary="Move an appointment (same id; its own old time does not block it)",
        status_code=HTTP_200_OK,
        responses=_REFUSED,
        **body(Reschedule),
    )
    async def reschedule(
        self, request: Req, appointment_id: FromPath[uuid.UUID], data: JSONBody[Reschedule]
    ) -> AppointmentView:
        moved = await booking.reschedule(request.user.actor, appointment_id, data)
        return appointment_view(moved)

    @post(
        "/{appointment_id:uuid}/cancel",
        operation_id="cancelAppointment",
        summary="Cancel (body optional; patients not inside the clinic's window)",
        status_code=HTTP_200_OK,
        responses=_REFUSED,
        **body(Cancel),
    )
    async def cancel(
        self,
        request: Req,
        appointment_id: FromPath[uuid.UUID],
        data: JSONBody[Cancel | None] = None,
    ) -> AppointmentView:
        cancelled = await booking.cancel(request.user.actor, appointment_id, data or Cancel())
        return appointment_view(cancelled)

    @post(
        "/{appointment_id:uuid}/status",
        operation_id="changeAppointmentStatus",
        summary="Change the status (patients: confirm or cancel their own)",
        status_code=HTTP_200_OK,
        responses=_REFUSED,
        **body(StatusChange),
    )
    async def status(
        self, request: Req, appointment_id: FromPath[uuid.UUID], data: JSONBody[StatusChange]
    ) -> AppointmentView:
        changed = await booking.change_status(request.user.actor, appointment_id, data)
        return appointment_view(changed)
