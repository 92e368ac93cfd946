"""Events of patient records. Payloads name changed fields, never values (see service.py)."""

from __future__ import annotations

from topsmile.events.catalogue import Changed, NoPayload, declare

PATIENT_CREATED = declare("patient.created", "patient", NoPayload)
PATIENT_UPDATED = declare("patient.updated", "patient", Changed)
PATIENT_DEACTIVATED = declare("patient.deactivated", "patient", NoPayload)
