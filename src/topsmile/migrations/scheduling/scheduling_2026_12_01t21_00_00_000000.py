"""No appointment's occupied block is longer than 16 hours (SPEC §6: a service lasts at most
480 minutes, each buffer at most 240).

The catalogue already keeps every block within this; the check makes it a fact the queries can
rely on (`scheduling/schemas.py` `MAX_OCCUPIED`): every block overlapping a window starts at
most 16 hours before it, so reading a provider's blocks is an index range of
`appointment_provider_block` around the window, not a scan of the provider's whole history
(docs/PERFORMANCE.md "Scale").
"""

from topsmile.core.migrate import raw_sql

ID = "2026-12-01T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "appointment_block_length_check: an occupied block lasts at most 16 hours"

STATEMENTS = [
    "ALTER TABLE appointment ADD CONSTRAINT appointment_block_length_check"
    " CHECK (occupied_end - occupied_start <= interval '16 hours')",
]

forwards = raw_sql("scheduling", ID, DESCRIPTION, STATEMENTS)
