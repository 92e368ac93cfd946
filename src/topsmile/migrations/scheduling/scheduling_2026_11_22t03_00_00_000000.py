"""The clinic's catalogue: providers, services, who offers what, working hours, time off,
closures. Deactivation instead of deletion wherever appointments will refer to a row."""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-11-22T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "provider, clinic_service, provider_service, working_hours, time_off, closure"


STATEMENTS = [
    """
    CREATE TABLE provider (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        user_id uuid REFERENCES app_user (id),
        first_name text NOT NULL,
        last_name text NOT NULL,
        email text,
        specialty text,
        buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 240),
        buffer_after_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 240),
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX provider_clinic ON provider (clinic_id, last_name, first_name)",
    "CREATE UNIQUE INDEX provider_user ON provider (clinic_id, user_id) WHERE user_id IS NOT NULL",
    *tenant_policy("provider"),
    """
    CREATE TABLE clinic_service (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        name text NOT NULL,
        description text,
        duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
        price_amount bigint NOT NULL CHECK (price_amount >= 0),
        buffer_before_minutes integer CHECK (buffer_before_minutes BETWEEN 0 AND 240),
        buffer_after_minutes integer CHECK (buffer_after_minutes BETWEEN 0 AND 240),
        color text CHECK (length(color) = 7 AND color ~ '^#[0-9A-Fa-f]+$'),
        category text,
        online_bookable boolean NOT NULL DEFAULT true,
        requires_approval boolean NOT NULL DEFAULT false,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX clinic_service_clinic ON clinic_service (clinic_id, name)",
    *tenant_policy("clinic_service"),
    """
    CREATE TABLE provider_service (
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        provider_id uuid NOT NULL REFERENCES provider (id),
        service_id uuid NOT NULL REFERENCES clinic_service (id),
        PRIMARY KEY (provider_id, service_id)
    )
    """,
    "CREATE INDEX provider_service_service ON provider_service (service_id)",
    *tenant_policy("provider_service"),
    """
    CREATE TABLE working_hours (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        provider_id uuid NOT NULL REFERENCES provider (id),
        weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
        -- wall-clock minutes of the day in the clinic's zone; 1440 is "24:00"
        start_minute smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
        end_minute smallint NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
        CHECK (start_minute < end_minute)
    )
    """,
    "CREATE INDEX working_hours_provider ON working_hours (provider_id, weekday, start_minute)",
    *tenant_policy("working_hours"),
    """
    CREATE TABLE time_off (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        provider_id uuid NOT NULL REFERENCES provider (id),
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (starts_at < ends_at)
    )
    """,
    "CREATE INDEX time_off_provider ON time_off (provider_id, starts_at)",
    *tenant_policy("time_off"),
    """
    CREATE TABLE closure (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        starts_at timestamptz NOT NULL,
        ends_at timestamptz NOT NULL,
        reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (starts_at < ends_at)
    )
    """,
    "CREATE INDEX closure_clinic ON closure (clinic_id, starts_at)",
    *tenant_policy("closure"),
    "GRANT SELECT, INSERT, UPDATE ON provider, clinic_service TO topsmile_app",
    "GRANT SELECT, INSERT, DELETE ON provider_service, working_hours, time_off, closure TO topsmile_app",
]

forwards = raw_sql("scheduling", ID, DESCRIPTION, STATEMENTS)
