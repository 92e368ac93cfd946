"""bench/scale_seed.py at a tiny size, so the script issue 13's figures rest on cannot rot:
its COPYs pass every constraint, the app role sees the rows under row-level security, the
search keys are PostgreSQL's own, and FORCE is back on every table afterwards."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from topsmile.config import Settings
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")


async def test_a_tiny_scale_seed_writes_valid_rows_the_app_can_read(
    settings: Settings, project_root: Path
) -> None:
    sys.path.insert(0, str(project_root / "bench"))
    from scale_seed import TABLES, Scale, seed_scale

    assert settings.database_migration_url is not None
    scale = Scale(2, 2, 30, 60, slug_prefix=f"smoke-{uuid.uuid4().hex[:8]}")
    scaled = await seed_scale(settings.database_migration_url, scale)

    assert [c.slug for c in scaled.clinics] == [
        f"{scale.slug_prefix}-000",
        f"{scale.slug_prefix}-001",
    ]
    for clinic in scaled.clinics:
        async with db.tenant_transaction(clinic.id):
            [seen] = await db.fetch(
                "SELECT (SELECT count(*) FROM patient) AS patients,"
                " (SELECT count(*) FROM appointment) AS appointments,"
                " (SELECT count(*) FROM appointment WHERE status NOT IN ('cancelled', 'no_show'))"
                "   AS live,"
                " (SELECT count(*) FROM provider) AS providers,"
                " (SELECT count(*) FROM patient WHERE full_name_key <> lower(first_name)"
                "   || ' ' || lower(last_name) OR phone_digits <> regexp_replace("
                "   coalesce(phone, ''), '[^0-9]', '', 'g')) AS bad_keys,"
                " (SELECT count(*) FROM patient WHERE phone IS NOT NULL) AS phones"
            )
            assert seen["patients"] == 30
            assert seen["appointments"] == 60
            assert 0 < seen["live"] <= 60
            assert seen["providers"] == 2
            assert seen["bad_keys"] == 0
            assert seen["phones"] > 0
    forced = await db.fetch(
        "SELECT relname FROM pg_class WHERE relname = ANY({}) AND relforcerowsecurity",
        list(TABLES),
    )
    assert sorted(r["relname"] for r in forced) == sorted(TABLES)
