"""`topsmile uploads cleanup`: old temp files and stored files without a row go; files with a
row (soft-deleted ones too), fresh leftovers and files that are not ours stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.api.auth_fixtures import seed_clinic
from tests.api.patient_fixtures import link_patient
from tests.api.upload_fixtures import PDF
from tests.conftest import store_env
from topsmile.config import Settings
from topsmile.core import db
from topsmile.core.actor import Actor
from topsmile.core.middleware import EdgeMiddleware
from topsmile.uploads import admin, service
from topsmile.uploads.schemas import UploadFields
from topsmile.uploads.storage import LocalStorage

HOURS_AGO = time.time() - 2 * 3600


def _age(path: Path) -> Path:
    os.utime(path, (HOURS_AGO, HOURS_AGO))
    return path


def _put(root: Path, key: str) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PDF)
    return path


async def test_cleanup_removes_only_old_leftovers(app: EdgeMiddleware) -> None:
    storage: LocalStorage = app.app.state.runtime.storage
    clinic = await seed_clinic(("admin", "patient"))
    actor = Actor(clinic.id, clinic.users["admin"], "admin")
    fields = UploadFields(patient_id=await link_patient(clinic), category="other")
    kept = await service.store_bytes(actor, storage, PDF, "kept.pdf", fields)
    deleted = await service.store_bytes(actor, storage, PDF, "deleted.pdf", fields)
    await service.delete_upload(actor, deleted.id)
    for row in (kept, deleted):
        _age(storage.root / row.storage_key)
    orphan = _age(_put(storage.root, f"{clinic.id}/{uuid.uuid4()}"))
    old_temp = _age(_put(storage.root, f"tmp/{uuid.uuid4().hex}.part"))
    fresh_orphan = _put(storage.root, f"{clinic.id}/{uuid.uuid4()}")
    fresh_temp = _put(storage.root, f"tmp/{uuid.uuid4().hex}.part")
    not_ours = _age(_put(storage.root, f"{clinic.id}/notes.txt"))

    removed = await admin.cleanup(storage, grace_minutes=60)

    assert {(r.key, r.temporary) for r in removed} >= {
        (f"{clinic.id}/{orphan.name}", False),
        (f"tmp/{old_temp.name}", True),
    }
    assert not orphan.exists()
    assert not old_temp.exists()
    for path in (fresh_orphan, fresh_temp, not_ours):
        assert path.exists(), path
    for row in (kept, deleted):
        assert (storage.root / row.storage_key).read_bytes() == PDF
    fresh_temp.unlink()
    not_ours.unlink()


def test_cleanup_command_removes_an_orphan(settings: Settings) -> None:
    root = Path(settings.storage_dir)
    orphan = _age(_put(root, f"{uuid.uuid4()}/{uuid.uuid4()}"))
    fresh = _put(root, f"{uuid.uuid4()}/{uuid.uuid4()}")
    done = subprocess.run(
        [sys.executable, "-m", "topsmile", "uploads", "cleanup", "--grace-minutes", "30"],
        env={**os.environ, **store_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert f"removed orphan {orphan.parent.name}/{orphan.name}" in done.stdout
    assert not orphan.exists()
    assert fresh.exists()
    fresh.unlink()


async def test_a_failed_rename_keeps_no_row_and_no_temp_file(app: EdgeMiddleware) -> None:
    """Storage that cannot take the file (here its clinic folder is a plain file) rolls the
    row back with it: never a row without its file."""
    storage: LocalStorage = app.app.state.runtime.storage
    clinic = await seed_clinic(("admin", "patient"))
    actor = Actor(clinic.id, clinic.users["admin"], "admin")
    fields = UploadFields(patient_id=await link_patient(clinic), category="other")
    blocker = storage.root / str(clinic.id)
    blocker.write_bytes(b"not a folder")
    temps_before = set((storage.root / "tmp").iterdir())
    try:
        with pytest.raises(OSError):  # noqa: PT011 - which OSError depends on the platform
            await service.store_bytes(actor, storage, PDF, "x.pdf", fields)
    finally:
        blocker.unlink()
    async with db.tenant_transaction(clinic.id):
        assert await db.fetch("SELECT id FROM upload") == []
        assert await db.fetch("SELECT id FROM event_outbox WHERE entity_type = 'upload'") == []
    assert set((storage.root / "tmp").iterdir()) == temps_before
