"""Appointments and their history (SPEC §6), with booking locked by the database itself.

`appointment_no_overlap` is the last wall against double booking: two live appointments
(any status but cancelled and no_show) of one provider may not have overlapping occupied
blocks (buffers included). pgserver ships no `btree_gist`, so the provider id is compared as
a one-point `uuidrange` (the type from the first migration), which plain GiST indexes.
The app also serializes competing writers per provider (scheduling/booking.py), so losers
get a clean 409 from the check; this constraint holds even without that lock.

Price and currency are snapshots taken at booking: later catalogue changes do not move them.
`appointment_history` is append-only for the application role (no UPDATE or DELETE grant).
"""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-12-01T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "appointment (exclusion constraint on occupied blocks), appointment_history"

STATUSES = (
    "'pending', 'scheduled', 'confirmed', 'checked_in', 'in_progress', 'completed',"
    " 'cancelled', 'no_show'"
)
PAYMENT_STATUSES = "'unpaid', 'processing', 'paid', 'failed', 'refunded', 'partially_refunded'"

STATEMENTS = [
    # Appointments point at patients with the clinic in the key, like every tenant reference.
    "ALTER TABLE patient ADD CONSTRAINT patient_clinic_id_id_key UNIQUE (clinic_id, id)",
    f"""
    CREATE TABLE appointment (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        patient_id uuid NOT NULL,
        provider_id uuid NOT NULL,
        service_id uuid NOT NULL,
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        occupied_start timestamptz NOT NULL,
        occupied_end timestamptz NOT NULL,
        status text NOT NULL,
        notes text,
        price_amount bigint NOT NULL,
        currency text NOT NULL,
        payment_status text NOT NULL DEFAULT 'unpaid',
        cancellation_reason text,
        cancelled_at timestamptz,
        late_cancellation boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT appointment_clinic_id_id_key UNIQUE (clinic_id, id),
        CONSTRAINT appointment_patient_id_fkey
            FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
        CONSTRAINT appointment_provider_id_fkey
            FOREIGN KEY (clinic_id, provider_id) REFERENCES provider (clinic_id, id),
        CONSTRAINT appointment_service_id_fkey
            FOREIGN KEY (clinic_id, service_id) REFERENCES clinic_service (clinic_id, id),
        CONSTRAINT appointment_times_check
            CHECK (starts_at < ends_at AND occupied_start <= starts_at AND occupied_end >= ends_at),
        CONSTRAINT appointment_status_check CHECK (status IN ({STATUSES})),
        CONSTRAINT appointment_payment_status_check
            CHECK (payment_status IN ({PAYMENT_STATUSES})),
        CONSTRAINT appointment_price_amount_check CHECK (price_amount >= 0),
        CONSTRAINT appointment_currency_check CHECK (currency ~ '^[a-z][a-z][a-z]$'),
        CONSTRAINT appointment_no_overlap EXCLUDE USING gist (
            uuidrange(provider_id, provider_id, '[]') WITH =,
            tstzrange(occupied_start, occupied_end) WITH &&
        ) WHERE (status NOT IN ('cancelled', 'no_show'))
    )
    """,
    "CREATE INDEX appointment_clinic_start ON appointment (clinic_id, starts_at)",
    "CREATE INDEX appointment_patient_start ON appointment (patient_id, starts_at)",
    "CREATE INDEX appointment_provider_block ON appointment (provider_id, occupied_start)",
    *tenant_policy("appointment"),
    f"""
    CREATE TABLE appointment_history (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        appointment_id uuid NOT NULL,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        actor_id uuid,
        action text NOT NULL,
        from_status text,
        to_status text,
        old_start timestamptz,
        new_start timestamptz,
        reason text,
        CONSTRAINT appointment_history_appointment_id_fkey
            FOREIGN KEY (clinic_id, appointment_id) REFERENCES appointment (clinic_id, id),
        CONSTRAINT appointment_history_action_check
            CHECK (action IN ('created', 'rescheduled', 'cancelled', 'status_changed')),
        CONSTRAINT appointment_history_to_status_check
            CHECK (to_status IS NULL OR to_status IN ({STATUSES}))
    )
    """,
    "CREATE INDEX appointment_history_appointment ON appointment_history (appointment_id, at)",
    *tenant_policy("appointment_history"),
    "GRANT SELECT, INSERT, UPDATE ON appointment TO topsmile_app",
    "GRANT SELECT, INSERT ON appointment_history TO topsmile_app",
]

forwards = raw_sql("scheduling", ID, DESCRIPTION, STATEMENTS)
