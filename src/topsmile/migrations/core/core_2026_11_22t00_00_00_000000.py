"""Foundation: the application role, the tenant helper used by every RLS policy, uuidrange."""

from topsmile.core.migrate import raw_sql

ID = "2026-11-22T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "application role, app_clinic_id(), uuidrange"

STATEMENTS = [
    # The role the app connects as (or is granted to the app's login): owns nothing and
    # never bypasses row-level security.
    """
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'topsmile_app') THEN
        CREATE ROLE topsmile_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
      END IF;
    END $$
    """,
    "GRANT USAGE ON SCHEMA public TO topsmile_app",
    # After a transaction-local set_config ends, the setting reads '' (not NULL) on that
    # pooled connection: nullif keeps policies from raising on the next query.
    """
    CREATE OR REPLACE FUNCTION app_clinic_id() RETURNS uuid
    LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.clinic_id', true), '')::uuid $$
    """,
    "GRANT EXECUTE ON FUNCTION app_clinic_id() TO topsmile_app",
    # pgserver ships no btree_gist: exclusion constraints use a range over uuid instead.
    """
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_type WHERE typname = 'uuidrange') THEN
        CREATE TYPE uuidrange AS RANGE (subtype = uuid);
      END IF;
    END $$
    """,
]


forwards = raw_sql("core", ID, DESCRIPTION, STATEMENTS)
