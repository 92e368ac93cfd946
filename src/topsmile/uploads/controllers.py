"""`/api/upload` (SPEC §9): patient files. Read by every role (a patient only their own);
written by the front desk (admin, manager, receptionist) and by patients for themselves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from topsmile.auth.principal import STAFF_ROLES, Principal, allow
from topsmile.core import ranges
from topsmile.core.openapi import problem_response
from topsmile.core.routes import delete, get, post
from topsmile.core.schemas import Page
from topsmile.runtime import runtime_of
from topsmile.uploads import service
from topsmile.uploads.form import MAX_BODY_BYTES
from topsmile.uploads.schemas import UploadView, upload_view
from topsmile.uploads.tables import CATEGORIES

Req = Request[Principal, Any, Any]
READERS = allow(*STAFF_ROLES, "patient")
WRITERS = allow("admin", "manager", "receptionist", "patient")

PatientFilter = Annotated[
    uuid.UUID | None,
    QueryParameter(name="patientId", description="Only this patient's files."),
]


@dataclass
class _MultipartOperation(Operation):
    """The upload reads its body itself (streamed), so Litestar cannot describe it."""

    def __post_init__(self) -> None:
        form = Schema(
            type=OpenAPIType.OBJECT,
            required=["file", "category"],
            properties={
                "file": Schema(
                    type=OpenAPIType.STRING, content_media_type="application/octet-stream"
                ),
                "patientId": Schema(
                    type=OpenAPIType.STRING,
                    format="uuid",  # type: ignore[arg-type]
                    description="Required for staff; a patient uploads for themselves.",
                ),
                "category": Schema(type=OpenAPIType.STRING, enum=list(CATEGORIES)),
            },
        )
        self.request_body = RequestBody(
            content={"multipart/form-data": OpenAPIMediaType(schema=form)},
            required=True,
            description="At most 10 MiB; PDF, PNG, JPEG, WebP or DICOM, decided by its bytes.",
        )


def _attachment(filename: str) -> str:
    """RFC 6266: an ASCII fallback name and the exact UTF-8 one."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class UploadsController(Controller):
    path = "/api/upload"
    tags = ["uploads"]

    @post(
        "/",
        operation_id="uploadFile",
        summary="Upload a patient file (multipart: file, patientId, category)",
        guards=[WRITERS],
        request_max_body_size=MAX_BODY_BYTES,
        operation_class=_MultipartOperation,
        responses={415: problem_response(415)},
    )
    async def create(self, request: Req) -> UploadView:
        storage = runtime_of(request).storage
        content_type = request.headers.get("content-type")
        row = await service.upload(request.user.actor, storage, request.stream(), content_type)
        return upload_view(row)

    @get(
        "/",
        operation_id="listUploads",
        summary="List patient files (newest first)",
        guards=[READERS],
        responses={404: problem_response(404)},  # a patientId that is not theirs / not here
    )
    async def index(
        self,
        request: Req,
        patient_id: PatientFilter = None,
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,  # wire names: see core.ranges
    ) -> Page[UploadView]:
        rows, total = await service.list_uploads(
            request.user.actor, patient_id, page=page, page_size=pageSize
        )
        return Page(
            items=[upload_view(r) for r in rows], total=total, page=page, page_size=pageSize
        )

    @get(
        "/{upload_id:uuid}",
        operation_id="getUpload",
        summary="A patient file's metadata",
        guards=[READERS],
    )
    async def show(self, request: Req, upload_id: FromPath[uuid.UUID]) -> UploadView:
        return upload_view(await service.get_upload(request.user.actor, upload_id))

    @get(
        "/{upload_id:uuid}/content",
        operation_id="downloadUpload",
        summary="A patient file's bytes (staff downloads are audited as upload.downloaded)",
        guards=[READERS],
    )
    async def content(self, request: Req, upload_id: FromPath[uuid.UUID]) -> Stream:
        storage = runtime_of(request).storage
        row, chunks = await service.open_content(request.user.actor, storage, upload_id)
        return Stream(
            chunks,
            media_type=row.content_type,
            headers={
                "Content-Disposition": _attachment(row.filename),
                "Content-Length": str(row.size),
                "X-Content-Type-Options": "nosniff",
            },
        )

    @delete(
        "/{upload_id:uuid}",
        operation_id="deleteUpload",
        summary="Delete a patient file (kept for the record, shown no more)",
        guards=[WRITERS],
    )
    async def remove(self, request: Req, upload_id: FromPath[uuid.UUID]) -> None:
        await service.delete_upload(request.user.actor, upload_id)
