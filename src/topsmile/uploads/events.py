"""Events of patient files. Payloads carry what the file is, never its name or bytes."""

from __future__ import annotations

import uuid

import msgspec

from topsmile.events.catalogue import NoPayload, declare


class Stored(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    patient_id: uuid.UUID
    category: str
    content_type: str
    size: int
    sha256: str


UPLOAD_CREATED = declare("upload.created", "upload", Stored)
UPLOAD_DELETED = declare("upload.deleted", "upload", NoPayload)
