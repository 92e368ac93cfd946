"""Reads of `upload`, in the caller's transaction. Soft-deleted files are never returned."""

from __future__ import annotations

import uuid

from topsmile.core import rows
from topsmile.core.ranges import offset_of
from topsmile.uploads.tables import UploadRow

_LIVE = "deleted_at IS NULL"


async def upload_by_id(upload_id: uuid.UUID, *, lock: bool = False) -> UploadRow | None:
    sql = f"SELECT * FROM upload WHERE id = {{}} AND {_LIVE}" + (" FOR UPDATE" if lock else "")  # noqa: S608
    return await rows.fetch_one(UploadRow, sql, upload_id)


async def page_of_uploads(
    patient_id: uuid.UUID | None, *, page: int, page_size: int
) -> tuple[list[UploadRow], int]:
    """Newest first; all of the clinic's files, or one patient's."""
    condition = _LIVE + ("" if patient_id is None else " AND patient_id = {}")
    args = [] if patient_id is None else [patient_id]
    total = await rows.count(f"SELECT count(*) AS n FROM upload WHERE {condition}", *args)  # noqa: S608
    found = await rows.fetch_all(
        UploadRow,
        f"SELECT * FROM upload WHERE {condition}"  # noqa: S608
        " ORDER BY created_at DESC, id LIMIT {} OFFSET {}",
        *args,
        page_size,
        offset_of(page, page_size),
    )
    return found, total


async def has_row(upload_id: uuid.UUID) -> bool:
    """Is there a row (deleted or not) for this id? The cleanup keeps every such file."""
    return await rows.exists(
        "SELECT EXISTS (SELECT 1 FROM upload WHERE id = {}) AS found", upload_id
    )
