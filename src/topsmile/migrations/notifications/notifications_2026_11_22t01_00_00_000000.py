"""The notifications log: one row per (event, channel), written by the email and SMS handlers."""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-11-22T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notification log (tenant-scoped)"

STATEMENTS = [
    """
    CREATE TABLE notification (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL,
        event_id uuid NOT NULL,
        request_id text NOT NULL DEFAULT '',
        appointment_id uuid,
        patient_id uuid,
        channel text NOT NULL CHECK (channel IN ('email', 'sms')),
        template text NOT NULL,
        recipient text NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'dead', 'skipped')),
        attempts integer NOT NULL DEFAULT 0,
        sent_at timestamptz,
        error text,
        provider_message_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (event_id, channel)
    )
    """,
    "CREATE INDEX notification_clinic_created ON notification (clinic_id, created_at DESC)",
    "CREATE INDEX notification_appointment ON notification (clinic_id, appointment_id)",
    "CREATE INDEX notification_patient ON notification (clinic_id, patient_id)",
    *tenant_policy("notification"),
    "GRANT SELECT, INSERT, UPDATE ON notification TO topsmile_app",
]

forwards = raw_sql("notifications", ID, DESCRIPTION, STATEMENTS)
