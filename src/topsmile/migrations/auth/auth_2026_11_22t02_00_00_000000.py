"""Users, sessions (token families), refresh tokens and single-use email tokens."""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-11-22T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "app_user, auth_session, refresh_token, email_token"


STATEMENTS = [
    """
    CREATE TABLE app_user (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        email text NOT NULL CHECK (email = lower(email)),
        password_hash text NOT NULL,
        first_name text NOT NULL,
        last_name text NOT NULL,
        role text NOT NULL CHECK (role IN ('admin', 'manager', 'receptionist', 'provider', 'patient')),
        email_verified boolean NOT NULL DEFAULT false,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (clinic_id, email)
    )
    """,
    "CREATE INDEX app_user_clinic_created ON app_user (clinic_id, created_at)",
    *tenant_policy("app_user"),
    """
    CREATE TABLE auth_session (
        id uuid PRIMARY KEY,
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        user_id uuid NOT NULL REFERENCES app_user (id),
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        revoked_reason text,
        user_agent text,
        ip text
    )
    """,
    "CREATE INDEX auth_session_user ON auth_session (clinic_id, user_id) WHERE revoked_at IS NULL",
    "CREATE INDEX auth_session_revoked ON auth_session (revoked_at) WHERE revoked_at IS NOT NULL",
    *tenant_policy("auth_session"),
    """
    CREATE TABLE refresh_token (
        token_hash text PRIMARY KEY,
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        session_id uuid NOT NULL REFERENCES auth_session (id),
        issued_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        rotated_at timestamptz
    )
    """,
    "CREATE INDEX refresh_token_session ON refresh_token (session_id)",
    *tenant_policy("refresh_token"),
    """
    CREATE TABLE email_token (
        token_hash text PRIMARY KEY,
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        user_id uuid NOT NULL REFERENCES app_user (id),
        purpose text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
    )
    """,
    *tenant_policy("email_token"),
    "GRANT SELECT, INSERT, UPDATE ON app_user, auth_session, refresh_token, email_token TO topsmile_app",
]

forwards = raw_sql("auth", ID, DESCRIPTION, STATEMENTS)
