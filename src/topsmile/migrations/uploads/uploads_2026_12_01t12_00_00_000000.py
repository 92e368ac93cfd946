"""Patient files (SPEC §9): one row per stored file; the bytes live in the storage
(`uploads/storage.py`) under `storage_key`, a server-generated `<clinic id>/<upload id>`.

A row is inserted in the same transaction that renames the fsynced file into place, so a
crash leaves at most a file without a row (removed by `topsmile uploads cleanup`), never a row
without its file. Deletion is soft (`deleted_at`): the application role may not DELETE.
"""

from topsmile.core.migrate import raw_sql, tenant_policy

ID = "2026-12-01T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "upload"

CONTENT_TYPES = "'application/pdf', 'image/png', 'image/jpeg', 'image/webp', 'application/dicom'"
CATEGORIES = "'xray', 'photo', 'insurance_card', 'id_document', 'consent_form', 'other'"

STATEMENTS = [
    f"""
    CREATE TABLE upload (
        id uuid PRIMARY KEY,
        clinic_id uuid NOT NULL REFERENCES clinic (id),
        patient_id uuid NOT NULL,
        uploaded_by uuid,
        filename text NOT NULL,
        content_type text NOT NULL,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        category text NOT NULL,
        storage_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz,
        CONSTRAINT upload_clinic_id_id_key UNIQUE (clinic_id, id),
        CONSTRAINT upload_storage_key_key UNIQUE (storage_key),
        CONSTRAINT upload_patient_id_fkey
            FOREIGN KEY (clinic_id, patient_id) REFERENCES patient (clinic_id, id),
        CONSTRAINT upload_uploaded_by_fkey
            FOREIGN KEY (clinic_id, uploaded_by) REFERENCES app_user (clinic_id, id),
        CONSTRAINT upload_content_type_check CHECK (content_type IN ({CONTENT_TYPES})),
        CONSTRAINT upload_category_check CHECK (category IN ({CATEGORIES})),
        CONSTRAINT upload_size_check CHECK (size BETWEEN 1 AND 10485760),
        CONSTRAINT upload_sha256_check CHECK (sha256 ~ '^[0-9a-f]+$' AND length(sha256) = 64),
        CONSTRAINT upload_filename_check CHECK (length(filename) BETWEEN 1 AND 255)
    )
    """,
    """CREATE INDEX upload_patient ON upload (clinic_id, patient_id, created_at)
       WHERE deleted_at IS NULL""",
    "CREATE INDEX upload_listing ON upload (clinic_id, created_at) WHERE deleted_at IS NULL",
    *tenant_policy("upload"),
    "GRANT SELECT, INSERT, UPDATE ON upload TO topsmile_app",
]

forwards = raw_sql("uploads", ID, DESCRIPTION, STATEMENTS)
