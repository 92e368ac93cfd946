"""Patient records (a patient may have a user account for the booking web app)."""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-11-22T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "patient"

STATEMENTS = [
    """
    CREATE TABLE patient (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        user_id uuid REFERENCES app_user (id),
        first_name text NOT NULL,
        last_name text NOT NULL,
        email text CHECK (email = lower(email)),
        phone text,
        date_of_birth date,
        sms_opt_in boolean NOT NULL DEFAULT false,
        email_opt_in boolean NOT NULL DEFAULT true,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
        notes text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    # A second *active* patient with the same email or phone in one clinic is a duplicate.
    """CREATE UNIQUE INDEX patient_active_email ON patient (clinic_id, email)
       WHERE status = 'active' AND email IS NOT NULL""",
    """CREATE UNIQUE INDEX patient_active_phone ON patient (clinic_id, phone)
       WHERE status = 'active' AND phone IS NOT NULL""",
    "CREATE UNIQUE INDEX patient_user ON patient (clinic_id, user_id) WHERE user_id IS NOT NULL",
    *tenant_policy("patient"),
    "GRANT SELECT, INSERT, UPDATE ON patient TO topsmile_app",
]

forwards = raw_sql("patients", ID, DESCRIPTION, STATEMENTS)
