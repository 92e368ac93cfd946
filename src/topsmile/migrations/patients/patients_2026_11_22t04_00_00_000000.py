"""Indexes for the staff patient search and listing (SPEC §5: prefix match that can use an
index on a clinic with 100,000 patients).

Why stored columns rather than expression indexes on `lower(first_name)`: the app reads
`patient` under row-level security, and PostgreSQL only turns a condition into an index
condition below a security policy when every function applied to a column is LEAKPROOF.
`lower`, `regexp_replace`, `||` and `LIKE` are not (only a superuser could mark them), so
expression indexes on them are never used by the application role: every search became a
Seq Scan. Plain columns compared with `starts_with` (leakproof, and the planner turns it into
`~>=~`/`~<~` bounds on a `text_pattern_ops` index) are. Stored generated columns keep the
search keys right on every write path without any application code.

No index on the first-name key alone: `starts_with(full_name_key, q)` already matches every
row whose first name starts with `q` (the first name is a prefix of "first last").
Adding stored columns rewrites `patient` once, under an exclusive lock, when this runs.
"""

from topsmile.core.migrate import raw_sql

ID = "2026-11-22T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "patient search keys and indexes"

STATEMENTS = [
    """
    ALTER TABLE patient
        ADD COLUMN first_name_key text GENERATED ALWAYS AS (lower(first_name)) STORED,
        ADD COLUMN last_name_key text GENERATED ALWAYS AS (lower(last_name)) STORED,
        ADD COLUMN full_name_key text
            GENERATED ALWAYS AS (lower(first_name) || ' ' || lower(last_name)) STORED,
        ADD COLUMN phone_digits text
            GENERATED ALWAYS AS (regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) STORED
    """,
    "CREATE INDEX patient_search_last_name ON patient (clinic_id, last_name_key text_pattern_ops)",
    "CREATE INDEX patient_search_full_name ON patient (clinic_id, full_name_key text_pattern_ops)",
    # Emails are stored lower-case already (a CHECK on the table says so).
    "CREATE INDEX patient_search_email ON patient (clinic_id, email text_pattern_ops)",
    "CREATE INDEX patient_search_phone ON patient (clinic_id, phone_digits text_pattern_ops)",
    # The listing order (case-insensitive last name, first name, id), with or without status.
    """CREATE INDEX patient_listing ON patient
       (clinic_id, status, last_name_key, first_name_key, id)""",
    """CREATE INDEX patient_listing_all ON patient
       (clinic_id, last_name_key, first_name_key, id)""",
]

forwards = raw_sql("patients", ID, DESCRIPTION, STATEMENTS)
