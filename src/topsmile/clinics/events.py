"""Events of a clinic, with their payload types."""

from __future__ import annotations

import uuid

import msgspec

from topsmile.events.catalogue import Changed, declare


class ClinicCreated(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    slug: str
    admin_id: uuid.UUID = msgspec.field(name="adminId")


CLINIC_CREATED = declare("clinic.created", "clinic", ClinicCreated)
CLINIC_UPDATED = declare("clinic.updated", "clinic", Changed)  # settings keys as settings.<key>
