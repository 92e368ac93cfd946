"""`topsmile uploads cleanup`: remove what a crash or an aborted upload left in storage.

Two kinds of leftovers, both only once older than the grace period (so an upload still
streaming, or one between its rename and COMMIT, is never touched):
- temp files (an upload that died mid-stream or before its rename);
- stored files with no `upload` row (the process died between the rename and COMMIT).
A soft-deleted upload still has its row, so its file is kept. Keys that are not ours
(`<clinic uuid>/<upload uuid>`) are left alone.
"""

from __future__ import annotations

import uuid

from topsmile.core import db
from topsmile.uploads import queries
from topsmile.uploads.storage import Leftover, Storage

DEFAULT_GRACE_MINUTES = 60


def _ids(key: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    clinic, _, upload = key.partition("/")
    try:
        return uuid.UUID(clinic), uuid.UUID(upload)
    except ValueError:
        return None


async def _orphan(leftover: Leftover) -> bool:
    if leftover.temporary:
        return True
    ids = _ids(leftover.key)
    if ids is None:
        return False
    clinic_id, upload_id = ids
    # In the file's own clinic: row-level security shows only that clinic's rows.
    async with db.tenant_transaction(clinic_id):
        return not await queries.has_row(upload_id)


async def cleanup(storage: Storage, grace_minutes: int = DEFAULT_GRACE_MINUTES) -> list[Leftover]:
    """Remove the leftovers older than `grace_minutes`; return what was removed."""
    removed = []
    for leftover in await storage.leftovers():
        if leftover.age_seconds >= grace_minutes * 60 and await _orphan(leftover):
            await storage.remove(leftover)
            removed.append(leftover)
    return removed
