"""Email tokens get an id the outbox can name instead of the token (SPEC §3, "Password and
token hygiene"): the email handler derives the token from the server secret and this id, so
neither the token nor its link is ever stored readable. Links already sitting in outbox
payloads are removed, and their still-pending emails cancelled (they can no longer be
rendered; the person asks for a new link).
"""

from topsmile.core.migrate import raw_sql

ID = "2026-11-22T06:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "email_token.id; no token links in the outbox"

STATEMENTS = [
    "ALTER TABLE email_token ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid()",
    "CREATE UNIQUE INDEX email_token_id ON email_token (id)",
    """
    UPDATE event_delivery SET status = 'cancelled', updated_at = now()
    WHERE status = 'pending' AND event_id IN (
        SELECT id FROM event_outbox
        WHERE name IN ('user.registered', 'user.password_reset_requested')
          AND payload ->> 'link' IS NOT NULL)
    """,
    """
    UPDATE event_outbox SET payload = payload - 'link'
    WHERE name IN ('user.registered', 'user.password_reset_requested')
      AND payload ->> 'link' IS NOT NULL
    """,
]

forwards = raw_sql("auth", ID, DESCRIPTION, STATEMENTS)
