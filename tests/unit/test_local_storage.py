"""uploads/storage.py LocalStorage: temp → commit → read → delete, and keys stay inside."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from topsmile.uploads.storage import LocalStorage


async def test_a_committed_file_reads_back_and_its_temp_is_gone(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    temp = await storage.open_temp()
    for chunk in (b"a" * 70_000, b"b" * 10):
        await temp.write(chunk)
    assert temp.written == 70_010
    key = f"{uuid.uuid4()}/{uuid.uuid4()}"
    await storage.commit(temp, key)
    await storage.discard(temp)  # after a commit: nothing to do
    assert b"".join([c async for c in storage.read(key)]) == b"a" * 70_000 + b"b" * 10
    assert [(x.key, x.temporary) for x in await storage.leftovers()] == [(key, False)]
    await storage.delete(key)
    await storage.delete(key)
    assert await storage.leftovers() == []


async def test_a_discarded_temp_file_leaves_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    temp = await storage.open_temp()
    await temp.write(b"partial")
    assert [x.temporary for x in await storage.leftovers()] == [True]
    await storage.discard(temp)
    assert await storage.leftovers() == []


@pytest.mark.parametrize("key", ["../x/y", "a/../../y", "a/b/c", "tmp/abc", "x", "/etc/passwd"])
async def test_keys_cannot_leave_the_root(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "files")
    with pytest.raises(ValueError, match="not a storage key"):
        await storage.delete(key)
