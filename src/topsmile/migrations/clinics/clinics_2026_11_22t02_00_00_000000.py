"""Clinics: the tenants. Anyone may read a clinic row (slug lookup at login, public
booking page); only the clinic itself may change it."""

from topsmile.core.migrate import raw_sql

ID = "2026-11-22T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "clinic"

STATEMENTS = [
    """
    CREATE TABLE clinic (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        slug text NOT NULL UNIQUE,
        timezone text NOT NULL,
        currency text NOT NULL,
        settings jsonb NOT NULL DEFAULT jsonb_build_object(),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "ALTER TABLE clinic ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE clinic FORCE ROW LEVEL SECURITY",
    "CREATE POLICY clinic_read ON clinic FOR SELECT USING (true)",
    "CREATE POLICY clinic_insert ON clinic FOR INSERT WITH CHECK (id = app_clinic_id())",
    "CREATE POLICY clinic_update ON clinic FOR UPDATE USING (id = app_clinic_id())",
    "GRANT SELECT, INSERT, UPDATE ON clinic TO topsmile_app",
]

forwards = raw_sql("clinics", ID, DESCRIPTION, STATEMENTS)
