"""The append-only audit log: the database itself refuses UPDATE, DELETE and TRUNCATE."""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-11-22T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_log (append-only, tenant-scoped)"

STATEMENTS = [
    """
    CREATE TABLE audit_log (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        actor_id uuid,
        actor_role text,
        action text NOT NULL,
        entity_type text NOT NULL,
        entity_id text,
        request_id text NOT NULL DEFAULT '',
        ip text,
        details jsonb NOT NULL DEFAULT jsonb_build_object(),
        event_id uuid UNIQUE
    )
    """,
    "CREATE INDEX audit_log_clinic_at ON audit_log (clinic_id, at DESC)",
    "CREATE INDEX audit_log_entity ON audit_log (clinic_id, entity_type, entity_id)",
    """
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
    *tenant_policy("audit_log"),
    "GRANT SELECT, INSERT ON audit_log TO topsmile_app",
]

forwards = raw_sql("audit", ID, DESCRIPTION, STATEMENTS)
