"""Tenant-safe references: a row can only point at a row of its own clinic.

Row-level security limits what a transaction sees, but a single-column foreign key is
checked by PostgreSQL across every clinic: with `provider.user_id REFERENCES app_user (id)`
a provider of clinic A could name a user of clinic B. Each reference between two tenant
tables now carries the clinic, `(clinic_id, x_id) REFERENCES t (clinic_id, id)`, against a
`UNIQUE (clinic_id, id)` on the referenced table. The constraints keep their names (the
error mapping in core/constraints.py knows them).

`event_delivery` gets forced row-level security through its event's clinic, like
`event_outbox`: a tenant transaction sees its clinic's deliveries, the relay (no clinic
set) sees all of them.
"""

from topsmile.core.migrate import raw_sql

ID = "2026-11-23T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite (clinic_id, id) foreign keys; event_delivery row-level security"

# Referenced table -> its references: (referencing table, column).
_REFERENCES = {
    "app_user": [
        ("auth_session", "user_id"),
        ("email_token", "user_id"),
        ("patient", "user_id"),
        ("provider", "user_id"),
    ],
    "auth_session": [("refresh_token", "session_id")],
    "provider": [
        ("provider_service", "provider_id"),
        ("working_hours", "provider_id"),
        ("time_off", "provider_id"),
    ],
    "clinic_service": [("provider_service", "service_id")],
}


def _tenant_keys() -> list[str]:
    statements = []
    for target, references in _REFERENCES.items():
        statements.append(
            f"ALTER TABLE {target} ADD CONSTRAINT {target}_clinic_id_id_key UNIQUE (clinic_id, id)"
        )
        for table, column in references:
            name = f"{table}_{column}_fkey"
            statements += [
                f"ALTER TABLE {table} DROP CONSTRAINT {name}",
                f"""ALTER TABLE {table} ADD CONSTRAINT {name}
                    FOREIGN KEY (clinic_id, {column}) REFERENCES {target} (clinic_id, id)""",
            ]
    return statements


_EVENT_OF_MY_CLINIC = """(app_clinic_id() IS NULL OR EXISTS (
    SELECT 1 FROM event_outbox e
    WHERE e.id = event_delivery.event_id AND e.clinic_id = app_clinic_id()))"""

STATEMENTS = [
    *_tenant_keys(),
    "ALTER TABLE event_delivery ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE event_delivery FORCE ROW LEVEL SECURITY",
    f"""CREATE POLICY event_delivery_tenant ON event_delivery
        USING {_EVENT_OF_MY_CLINIC} WITH CHECK {_EVENT_OF_MY_CLINIC}""",
]

forwards = raw_sql("core", ID, DESCRIPTION, STATEMENTS)
