"""Outbox pruning: the relay deletes delivered outbox rows past their retention.

Deleting an event cascades to its deliveries (the foreign key runs as the table owner). The
notifications and audit logs keep the event id as a plain column, so they are untouched.
"""

from topsmile.core.migrate import raw_sql

ID = "2026-12-01T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "event_outbox pruning: occurred_at index, DELETE for the application role"

STATEMENTS = [
    "CREATE INDEX event_outbox_occurred ON event_outbox (occurred_at)",
    "GRANT DELETE ON event_outbox TO topsmile_app",
]

forwards = raw_sql("events", ID, DESCRIPTION, STATEMENTS)
