"""The transactional outbox and per-handler delivery records."""

from topsmile.core.migrate import raw_sql

ID = "2026-11-22T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "event_outbox, event_delivery"

STATEMENTS = [
    """
    CREATE TABLE event_outbox (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        clinic_id uuid,
        occurred_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        request_id text NOT NULL DEFAULT '',
        entity_type text NOT NULL,
        entity_id text,
        actor_id uuid,
        actor_role text,
        ip text,
        payload jsonb NOT NULL DEFAULT jsonb_build_object()
    )
    """,
    "CREATE INDEX event_outbox_entity ON event_outbox (entity_type, entity_id, name)",
    """
    CREATE TABLE event_delivery (
        event_id uuid NOT NULL REFERENCES event_outbox (id) ON DELETE CASCADE,
        handler text NOT NULL,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL,
        claim_token uuid,
        claimed_until timestamptz,
        last_error text,
        delivered_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (event_id, handler)
    )
    """,
    "CREATE INDEX event_delivery_due ON event_delivery (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX event_delivery_dead ON event_delivery (updated_at) WHERE status = 'dead'",
    # Tenant code may only publish its own clinic's events; the relay (no clinic set) sees all.
    "ALTER TABLE event_outbox ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE event_outbox FORCE ROW LEVEL SECURITY",
    """
    CREATE POLICY event_outbox_tenant ON event_outbox
        USING (app_clinic_id() IS NULL OR clinic_id = app_clinic_id())
        WITH CHECK (app_clinic_id() IS NULL OR clinic_id = app_clinic_id())
    """,
    "GRANT SELECT, INSERT ON event_outbox TO topsmile_app",
    "GRANT SELECT, INSERT, UPDATE ON event_delivery TO topsmile_app",
]

forwards = raw_sql("events", ID, DESCRIPTION, STATEMENTS)
