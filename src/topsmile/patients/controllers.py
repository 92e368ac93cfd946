"""`/api/patients` (SPEC §5): staff search and upkeep; `/me` for a patient's own profile."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request
from litestar.params import FromPath, JSONBody, QueryParameter

from topsmile.auth.principal import FRONT_DESK, STAFF, Principal, allow
from topsmile.core import ranges
from topsmile.core.openapi import problem_response
from topsmile.core.routes import delete, get, patch, post
from topsmile.core.schemas import Page, body
from topsmile.patients import service
from topsmile.patients.schemas import (
    OwnProfilePatch,
    PatientCreate,
    PatientPatch,
    PatientView,
    patient_view,
)
from topsmile.patients.tables import PatientStatus

Req = Request[Principal, Any, Any]
PATIENT = allow("patient")
# SPEC §3: an account not (yet) attached to a patient record gets 404 on /me.
_NO_RECORD = {404: problem_response(404)}

Query = Annotated[
    str | None,
    QueryParameter(
        name="q",
        max_length=100,
        description='Case-insensitive prefix of the first name, last name, "first last",'
        " email, or phone number (digits compared, punctuation ignored). Read literally.",
    ),
]
Status = Annotated[PatientStatus | None, QueryParameter(name="status")]


class PatientsController(Controller):
    path = "/api/patients"
    tags = ["patients"]

    # `/me` is a static path and `{patient_id:uuid}` never matches "me".
    @get(
        "/me",
        operation_id="getMyPatientRecord",
        summary="My patient profile",
        guards=[PATIENT],
        responses=_NO_RECORD,
    )
    async def me(self, request: Req) -> PatientView:
        return patient_view(await service.own_record(request.user.actor), staff=False)

    @patch(
        "/me",
        operation_id="updateMyPatientRecord",
        summary="Change my patient profile",
        guards=[PATIENT],
        responses=_NO_RECORD,
        **body(OwnProfilePatch),
    )
    async def update_me(self, request: Req, data: JSONBody[OwnProfilePatch]) -> PatientView:
        return patient_view(await service.update_own(request.user.actor, data), staff=False)

    @get(
        "/",
        operation_id="listPatients",
        summary="Search the clinic's patients",
        description="Sorted by last name, first name, id (case-insensitive).",
        guards=[STAFF],
    )
    async def index(
        self,
        request: Req,
        q: Query = None,
        status: Status = None,
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,  # wire names: see core.ranges
    ) -> Page[PatientView]:
        where = service.PatientFilter(q=q, status=status)
        rows, total = await service.search(request.user.actor, where, page=page, page_size=pageSize)
        return Page(
            items=[patient_view(r, staff=True) for r in rows],
            total=total,
            page=page,
            page_size=pageSize,
        )

    @post(
        "/",
        operation_id="createPatient",
        summary="Add a patient",
        guards=[FRONT_DESK],
        **body(PatientCreate),
    )
    async def create(self, request: Req, data: JSONBody[PatientCreate]) -> PatientView:
        return patient_view(await service.create_patient(request.user.actor, data), staff=True)

    @get(
        "/{patient_id:uuid}",
        operation_id="getPatient",
        summary="One patient (audited as patient.viewed)",
        guards=[STAFF],
    )
    async def show(self, request: Req, patient_id: FromPath[uuid.UUID]) -> PatientView:
        return patient_view(await service.view_patient(request.user.actor, patient_id), staff=True)

    @patch(
        "/{patient_id:uuid}",
        operation_id="updatePatient",
        summary="Change a patient (null clears an optional field)",
        guards=[FRONT_DESK],
        **body(PatientPatch),
    )
    async def update(
        self, request: Req, patient_id: FromPath[uuid.UUID], data: JSONBody[PatientPatch]
    ) -> PatientView:
        row = await service.update_patient(request.user.actor, patient_id, data)
        return patient_view(row, staff=True)

    @delete(
        "/{patient_id:uuid}",
        operation_id="deactivatePatient",
        summary="Deactivate a patient (kept for history)",
        guards=[FRONT_DESK],
    )
    async def deactivate(self, request: Req, patient_id: FromPath[uuid.UUID]) -> None:
        await service.deactivate_patient(request.user.actor, patient_id)
