"""Payments (SPEC §8): one `payment` per Stripe PaymentIntent, and the Stripe events applied.

Both are tenant tables with forced row-level security. A Stripe webhook arrives with no
session, so its clinic is found by the PaymentIntent id through one narrow SECURITY DEFINER
function, `payment_clinic_of_intent(text) → uuid`, owned by the schema owner: a policy lets
that owner (and only it) read `payment` across clinics, the function answers nothing but the
clinic id, and the webhook then works in that clinic's ordinary tenant transaction
(docs/SECURITY.md "Stripe webhooks").

`payment_one_open` keeps one open payment (requires_payment, processing, failed: its intent
can still be paid) per appointment, the last wall behind create-intent's row lock.
`stripe_event` holds each applied Stripe event id once: the webhook inserts it with
ON CONFLICT DO NOTHING in the transaction of the state change it causes.
"""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-12-01T20:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "payment, stripe_event, payment_clinic_of_intent()"

STATUSES = (
    "'requires_payment', 'processing', 'succeeded', 'failed', 'canceled', 'refunded',"
    " 'partially_refunded'"
)

STATEMENTS = [
    f"""
    CREATE TABLE payment (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        appointment_id uuid NOT NULL,
        amount bigint NOT NULL,
        amount_refunded bigint NOT NULL DEFAULT 0,
        refund_requested bigint NOT NULL DEFAULT 0,
        currency text NOT NULL,
        status text NOT NULL DEFAULT 'requires_payment',
        stripe_payment_intent_id text,
        request_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT payment_clinic_id_id_key UNIQUE (clinic_id, id),
        CONSTRAINT payment_stripe_payment_intent_id_key UNIQUE (stripe_payment_intent_id),
        CONSTRAINT payment_appointment_id_fkey
            FOREIGN KEY (clinic_id, appointment_id) REFERENCES appointment (clinic_id, id),
        CONSTRAINT payment_status_check CHECK (status IN ({STATUSES})),
        CONSTRAINT payment_amount_check CHECK (amount > 0),
        CONSTRAINT payment_refunds_check CHECK (
            amount_refunded BETWEEN 0 AND amount AND refund_requested BETWEEN 0 AND amount
        ),
        CONSTRAINT payment_currency_check CHECK (currency ~ '^[a-z][a-z][a-z]$')
    )
    """,
    """CREATE UNIQUE INDEX payment_one_open ON payment (appointment_id)
       WHERE status IN ('requires_payment', 'processing', 'failed')""",
    "CREATE INDEX payment_clinic_created ON payment (clinic_id, created_at)",
    *tenant_policy("payment"),
    # The owner reads across clinics only through the function below (the app role cannot
    # use this policy: it is not the owner).
    """
    DO $$ BEGIN
      EXECUTE format(
        'CREATE POLICY payment_intent_lookup ON payment FOR SELECT TO %I USING (true)',
        current_user
      );
    END $$
    """,
    """
    CREATE FUNCTION payment_clinic_of_intent(intent_id text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
      SELECT clinic_id FROM payment WHERE stripe_payment_intent_id = intent_id
    $$
    """,
    "REVOKE ALL ON FUNCTION payment_clinic_of_intent(text) FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION payment_clinic_of_intent(text) TO topsmile_app",
    """
    CREATE TABLE stripe_event (
        id text PRIMARY KEY,
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        payment_id uuid NOT NULL,
        type text NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT stripe_event_payment_id_fkey
            FOREIGN KEY (clinic_id, payment_id) REFERENCES payment (clinic_id, id)
    )
    """,
    *tenant_policy("stripe_event"),
    "GRANT SELECT, INSERT, UPDATE ON payment TO topsmile_app",
    "GRANT SELECT, INSERT ON stripe_event TO topsmile_app",
]

forwards = raw_sql("payments", ID, DESCRIPTION, STATEMENTS)
