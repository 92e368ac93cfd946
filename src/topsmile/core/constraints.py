"""What the client hears when the database refuses a write: every named unique, check,
exclusion and foreign-key constraint (and unique index) of migrations/, by name.

The services check first and answer 409/400/404 themselves; a race between two requests
(or an edge a check missed) reaches the database's constraint instead, and must answer the
same. `core.errors.handle_exception` uses this table for every route; a test reads the live
schema and fails when a constraint has no entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ConstraintProblem:
    status: int
    code: str
    field: str
    message: str


def _conflict(field: str, message: str) -> ConstraintProblem:
    return ConstraintProblem(409, "conflict", field, message)


def _invalid(field: str, message: str) -> ConstraintProblem:
    return ConstraintProblem(400, "validation-error", field, message)


def _missing(field: str, message: str) -> ConstraintProblem:
    return ConstraintProblem(404, "not-found", field, message)


_BUFFER = "Use 0 to 240 minutes."
_NO_CLINIC = _missing("clinic", "No such clinic.")
_NO_USER = _invalid("userId", "No staff user with this id in your clinic.")
_NO_PROVIDER = _missing("providerId", "No such provider.")
# Rows only the server writes (tokens, sessions, outbox, logs): reaching one of these is a
# defect of ours, logged as such, but still never a 500 for the client.
_SERVER_ROW = _invalid("body", "The request could not be stored.")
_ROW_IN_USE = _conflict("id", "Other records still refer to this one.")

CONSTRAINTS: dict[str, ConstraintProblem] = {
    # clinics
    "clinic_slug_key": _conflict("slug", "Another clinic already uses this slug."),
    # auth
    "app_user_clinic_id_email_key": _conflict(
        "email", "An account with this email already exists at this clinic."
    ),
    "app_user_clinic_id_id_key": _conflict("id", "This user already exists."),
    "app_user_email_check": _invalid("email", "Emails are stored lower-case."),
    "app_user_role_check": _invalid("role", "Unknown role."),
    "app_user_clinic_id_fkey": _NO_CLINIC,
    "auth_session_clinic_id_fkey": _NO_CLINIC,
    "auth_session_clinic_id_id_key": _SERVER_ROW,
    "auth_session_user_id_fkey": _SERVER_ROW,
    "refresh_token_clinic_id_fkey": _NO_CLINIC,
    "refresh_token_session_id_fkey": _SERVER_ROW,
    "email_token_clinic_id_fkey": _NO_CLINIC,
    "email_token_user_id_fkey": _SERVER_ROW,
    "email_token_purpose_check": _SERVER_ROW,
    "email_token_id": _SERVER_ROW,
    # patients
    "patient_active_email": _conflict(
        "email", "Another active patient of this clinic has this email."
    ),
    "patient_active_phone": _conflict(
        "phone", "Another active patient of this clinic has this phone number."
    ),
    "patient_user": _conflict("userId", "This account already has a patient record."),
    "patient_email_check": _invalid("email", "Emails are stored lower-case."),
    "patient_status_check": _invalid("status", "Use active or inactive."),
    "patient_clinic_id_fkey": _NO_CLINIC,
    "patient_user_id_fkey": _invalid("userId", "No user with this id in your clinic."),
    # scheduling
    "provider_user": _conflict("userId", "Another provider is already linked to this user."),
    "provider_clinic_id_id_key": _conflict("id", "This provider already exists."),
    "provider_buffer_before_minutes_check": _invalid("bufferBeforeMinutes", _BUFFER),
    "provider_buffer_after_minutes_check": _invalid("bufferAfterMinutes", _BUFFER),
    "provider_clinic_id_fkey": _NO_CLINIC,
    "provider_user_id_fkey": _NO_USER,
    "clinic_service_clinic_id_id_key": _conflict("id", "This service already exists."),
    "clinic_service_duration_minutes_check": _invalid("durationMinutes", "Use 5 to 480 minutes."),
    "clinic_service_price_amount_check": _invalid("priceAmount", "The price cannot be negative."),
    "clinic_service_buffer_before_minutes_check": _invalid("bufferBeforeMinutes", _BUFFER),
    "clinic_service_buffer_after_minutes_check": _invalid("bufferAfterMinutes", _BUFFER),
    "clinic_service_color_check": _invalid("color", "Use a colour written #RRGGBB."),
    "clinic_service_clinic_id_fkey": _NO_CLINIC,
    "provider_service_clinic_id_fkey": _NO_CLINIC,
    "provider_service_provider_id_fkey": _NO_PROVIDER,
    "provider_service_service_id_fkey": _invalid("serviceIds", "Unknown service ids."),
    "working_hours_clinic_id_fkey": _NO_CLINIC,
    "working_hours_provider_id_fkey": _NO_PROVIDER,
    "working_hours_weekday_check": _invalid("weekday", "Use 1 (Monday) to 7 (Sunday)."),
    "working_hours_start_minute_check": _invalid("start", "Use a time from 00:00 to 23:59."),
    "working_hours_end_minute_check": _invalid("end", "Use a time from 00:01 to 24:00."),
    "working_hours_check": _invalid("end", "The interval must end after it starts."),
    "time_off_clinic_id_fkey": _NO_CLINIC,
    "time_off_provider_id_fkey": _NO_PROVIDER,
    "time_off_check": _invalid("end", "The time off must end after it starts."),
    "closure_clinic_id_fkey": _NO_CLINIC,
    "closure_check": _invalid("end", "The closure must end after it starts."),
    # appointments
    "patient_clinic_id_id_key": _conflict("id", "This patient already exists."),
    "appointment_clinic_id_id_key": _conflict("id", "This appointment already exists."),
    "appointment_clinic_id_fkey": _NO_CLINIC,
    "appointment_patient_id_fkey": _missing("patientId", "No such patient."),
    "appointment_provider_id_fkey": _NO_PROVIDER,
    "appointment_service_id_fkey": _missing("serviceId", "No such service."),
    "appointment_times_check": _invalid("start", "The appointment must end after it starts."),
    "appointment_block_length_check": _SERVER_ROW,
    "appointment_status_check": _invalid("status", "Unknown appointment status."),
    "appointment_payment_status_check": _SERVER_ROW,
    "appointment_price_amount_check": _SERVER_ROW,
    "appointment_currency_check": _SERVER_ROW,
    # The last wall of locked booking: a race the app's lock did not serialize.
    "appointment_no_overlap": ConstraintProblem(
        409, "slot-unavailable", "start", "This time was just taken; choose another."
    ),
    "appointment_history_clinic_id_fkey": _NO_CLINIC,
    "appointment_history_appointment_id_fkey": _SERVER_ROW,
    "appointment_history_action_check": _SERVER_ROW,
    "appointment_history_to_status_check": _SERVER_ROW,
    # uploads (every value is the server's: sniffed type, counted size, computed hash)
    "upload_clinic_id_fkey": _NO_CLINIC,
    "upload_clinic_id_id_key": _SERVER_ROW,
    "upload_storage_key_key": _SERVER_ROW,
    "upload_patient_id_fkey": _missing("patientId", "No such patient."),
    "upload_uploaded_by_fkey": _SERVER_ROW,
    "upload_content_type_check": _SERVER_ROW,
    "upload_category_check": _invalid("category", "Unknown category."),
    "upload_size_check": _SERVER_ROW,
    "upload_sha256_check": _SERVER_ROW,
    "upload_filename_check": _SERVER_ROW,
    # payments (written by the server only; create-intent's row lock and the webhook's
    # event-id insert keep the races away from these)
    "payment_clinic_id_id_key": _SERVER_ROW,
    "payment_stripe_payment_intent_id_key": _SERVER_ROW,
    "payment_clinic_id_fkey": _NO_CLINIC,
    "payment_appointment_id_fkey": _missing("appointmentId", "No such appointment."),
    "payment_status_check": _SERVER_ROW,
    "payment_amount_check": _SERVER_ROW,
    "payment_refunds_check": _invalid("amount", "More than the payment cannot be refunded."),
    "payment_currency_check": _SERVER_ROW,
    "payment_one_open": _conflict("appointmentId", "This appointment already has an open payment."),
    "stripe_event_clinic_id_fkey": _NO_CLINIC,
    "stripe_event_payment_id_fkey": _SERVER_ROW,
    # events, notifications, audit (written by the server only)
    "event_delivery_event_id_fkey": _SERVER_ROW,
    "event_delivery_status_check": _SERVER_ROW,
    "notification_event_id_channel_key": _SERVER_ROW,
    "notification_channel_check": _SERVER_ROW,
    "notification_status_check": _SERVER_ROW,
    "audit_log_event_id_key": _SERVER_ROW,
}


def _camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.capitalize() for part in rest)


def constraint_problem(exc: asyncpg.IntegrityConstraintViolationError) -> ConstraintProblem:
    """The answer for a refused write: the table's entry, else one by the kind of refusal."""
    # Deleting or re-keying a row others point at is a state conflict, whichever key.
    if isinstance(exc, asyncpg.RestrictViolationError) or (
        isinstance(exc, asyncpg.ForeignKeyViolationError)
        and str(exc).startswith("update or delete")
    ):
        return _ROW_IN_USE
    known = CONSTRAINTS.get(getattr(exc, "constraint_name", None) or "")
    if known is not None:
        return known
    if isinstance(exc, asyncpg.UniqueViolationError | asyncpg.ExclusionViolationError):
        return _conflict("body", "This conflicts with an existing record.")
    if isinstance(exc, asyncpg.NotNullViolationError):
        column = _camel(getattr(exc, "column_name", None) or "body")
        return _invalid(column, "This field is required.")
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return _invalid("body", "A referenced record does not exist.")
    return _invalid("body", "A value in the request is not allowed.")
