"""Who a notification about a patient goes to: the one place a patient row becomes the
events' `Recipient` (names, contacts and the opt-ins the notifier obeys)."""

from __future__ import annotations

from topsmile.events.types import Recipient
from topsmile.patients.tables import PatientRow


def recipient_of(patient: PatientRow) -> Recipient:
    return Recipient(
        first_name=patient.first_name,
        last_name=patient.last_name,
        email=patient.email,
        phone=patient.phone,
        email_opt_in=patient.email_opt_in,
        sms_opt_in=patient.sms_opt_in,
        patient_id=patient.id,
    )
