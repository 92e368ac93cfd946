"""Patient files (SPEC §9): store, list, read, download and soft-delete.

Staff reach every patient's files of their clinic (the guards say which role may write); a
patient only the files of their own record, and another patient's ids are 404. Each call is
one tenant transaction. A stored file's row is inserted, its `upload.created` event published
and its temp file renamed into place in that one transaction, the rename last: if anything
fails first nothing is kept, and a crash between the rename and COMMIT leaves only a file
without a row, which `topsmile uploads cleanup` (uploads/admin.py) removes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

from topsmile.audit import service as audit
from topsmile.core import db, rows
from topsmile.core.actor import Actor
from topsmile.core.errors import NotFound, UnsupportedMediaType, ValidationError
from topsmile.events.catalogue import NoPayload
from topsmile.events.outbox import publish
from topsmile.events.types import new_event
from topsmile.patients import queries as patients
from topsmile.uploads import queries
from topsmile.uploads.events import UPLOAD_CREATED, UPLOAD_DELETED, Stored
from topsmile.uploads.form import Received, receive
from topsmile.uploads.schemas import UploadFields
from topsmile.uploads.sniff import claim_matches, safe_filename, sniff
from topsmile.uploads.storage import Storage
from topsmile.uploads.tables import UploadRow

NO_FILE = "No such file."


async def _own_patient_id(actor: Actor) -> uuid.UUID:
    own = await patients.patient_of_user(actor.user_id)
    if own is None:
        raise NotFound("Your account has no patient record at this clinic.")
    return own.id


async def _patient_for(actor: Actor, patient_id: uuid.UUID | None) -> uuid.UUID:
    """The patient a request is about: a patient's own record (naming another is a 404), or
    the existing patient staff named."""
    if actor.role == "patient":
        own = await _own_patient_id(actor)
        if patient_id is not None and patient_id != own:
            raise NotFound("No such patient.")
        return own
    if patient_id is None:
        raise ValidationError.on("patientId", "Name the patient the file belongs to.")
    if await patients.patient_by_id(patient_id) is None:
        raise NotFound("No such patient.")
    return patient_id


async def _visible(actor: Actor, upload_id: uuid.UUID, *, lock: bool = False) -> UploadRow:
    row = await queries.upload_by_id(upload_id, lock=lock)
    if row is None or (actor.role == "patient" and row.patient_id != await _own_patient_id(actor)):
        raise NotFound(NO_FILE)
    return row


# --- Writes ----------------------------------------------------------------------------------


async def upload(
    actor: Actor, storage: Storage, body: AsyncIterator[bytes], content_type: str | None
) -> UploadRow:
    """Receive a multipart body and store its file (see the module docstring)."""
    form = await receive(body, content_type, storage)
    file = form.file
    try:
        if file is None:
            raise ValidationError.on("file", "Attach the file as the `file` part.")
        return await store(actor, storage, file, UploadFields.parse(form.fields))
    finally:
        if file is not None:
            await storage.discard(file.temp)  # nothing left to discard once committed


async def store_bytes(
    actor: Actor, storage: Storage, data: bytes, filename: str, fields: UploadFields
) -> UploadRow:
    """Store a file already in memory (the demo seeder) through the same checks."""
    file = Received(await storage.open_temp(), filename, None)
    try:
        await file.add(data)
        return await store(actor, storage, file, fields)
    finally:
        await storage.discard(file.temp)


async def store(actor: Actor, storage: Storage, file: Received, fields: UploadFields) -> UploadRow:
    """Keep a received file: 415 unless its bytes are an allowed type that its part claimed."""
    actual = sniff(file.head)
    if actual is None:
        raise UnsupportedMediaType("Upload a PDF, PNG, JPEG, WebP or DICOM file.")
    if not claim_matches(file.declared_type, actual):
        raise UnsupportedMediaType(f"The file's bytes are {actual}, not {file.declared_type}.")
    await file.temp.finish()  # fsync outside the transaction: it holds no connection
    upload_id = uuid.uuid4()
    key = f"{actor.clinic_id}/{upload_id}"
    renamed = False
    try:
        async with db.tenant_transaction(actor.clinic_id):
            patient_id = await _patient_for(actor, fields.patient_id)
            row = await rows.fetch_only(
                UploadRow,
                "INSERT INTO upload (id, clinic_id, patient_id, uploaded_by, filename,"
                " content_type, size, sha256, category, storage_key)"
                " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
                upload_id,
                actor.clinic_id,
                patient_id,
                actor.user_id,
                safe_filename(file.filename, actual),
                actual,
                file.size,
                file.sha256,
                fields.category,
                key,
            )
            stored = Stored(
                patient_id=patient_id,
                category=fields.category,
                content_type=actual,
                size=file.size,
                sha256=file.sha256,
            )
            await publish(new_event(UPLOAD_CREATED, stored, actor=actor, entity_id=upload_id))
            await storage.commit(file.temp, key)
            renamed = True
    except BaseException:
        if renamed:  # COMMIT failed after the rename: the file has no row, so it goes
            await storage.delete(key)
        raise
    return row


async def delete_upload(actor: Actor, upload_id: uuid.UUID) -> None:
    """Soft delete: the row and the bytes stay for the record; no read shows them again."""
    async with db.tenant_transaction(actor.clinic_id):
        await _visible(actor, upload_id, lock=True)
        await db.fetch("UPDATE upload SET deleted_at = now() WHERE id = {}", upload_id)
        await publish(new_event(UPLOAD_DELETED, NoPayload(), actor=actor, entity_id=upload_id))


# --- Reads -----------------------------------------------------------------------------------


async def list_uploads(
    actor: Actor, patient_id: uuid.UUID | None, *, page: int, page_size: int
) -> tuple[list[UploadRow], int]:
    async with db.tenant_transaction(actor.clinic_id):
        if actor.role == "patient" or patient_id is not None:
            patient_id = await _patient_for(actor, patient_id)
        return await queries.page_of_uploads(patient_id, page=page, page_size=page_size)


async def get_upload(actor: Actor, upload_id: uuid.UUID) -> UploadRow:
    async with db.tenant_transaction(actor.clinic_id):
        return await _visible(actor, upload_id)


async def open_content(
    actor: Actor, storage: Storage, upload_id: uuid.UUID
) -> tuple[UploadRow, AsyncIterator[bytes]]:
    """A file and its bytes; a staff download is audited as `upload.downloaded` (SPEC §7)
    in the transaction that reads the row."""
    async with db.tenant_transaction(actor.clinic_id):
        row = await _visible(actor, upload_id)
        if actor.is_staff:
            await audit.record(
                clinic_id=actor.clinic_id,
                action="upload.downloaded",
                entity_type="upload",
                entity_id=row.id,
                actor_id=actor.user_id,
                actor_role=actor.role,
                ip=actor.ip,
                details={"patientId": str(row.patient_id)},
            )
    return row, storage.read(row.storage_key)
