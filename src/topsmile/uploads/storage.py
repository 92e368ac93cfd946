"""Where file bytes live: the `Storage` interface and the local-directory store.

A file is written to a temporary object first (`open_temp`), hashed and counted while it
streams in; `finish` makes its bytes durable; then `commit` moves it under its final key —
the service does that inside the transaction that inserts its row, so a row never points at
a missing file. Keys are server-generated (`<clinic id>/<upload id>`), never taken from a request.

An S3-compatible store implements the same calls: `open_temp` starts a multipart upload of
`tmp/<random>`, `write` buffers and sends 5 MiB parts, `finish` completes it, `commit`
copies `tmp/…` to the key and deletes the temp object, `read` is a ranged GET streamed in chunks,
`delete` a DELETE, and `leftovers` lists `tmp/` and the keys with `LastModified` (plus
`ListMultipartUploads` for abandoned ones). Its durability comes with the completed upload, so
nothing needs an fsync.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

READ_CHUNK = 64 * 1024
_TEMP_DIR = "tmp"


class TempFile(Protocol):
    """A file being received: bytes go in with `write`, nothing is visible under a key yet."""

    @property
    def written(self) -> int: ...

    async def write(self, chunk: bytes) -> None: ...

    async def finish(self) -> None:
        """Every byte is written: make them durable (before the row's transaction opens)."""


@dataclass(frozen=True)
class Leftover:
    """A temp file, or a stored key, last modified `age_seconds` ago."""

    key: str
    age_seconds: float
    temporary: bool


class Storage(Protocol):
    async def open_temp(self) -> TempFile: ...

    async def commit(self, temp: TempFile, key: str) -> None:
        """Make `temp` durable and visible under `key` (atomically: all of it or nothing)."""

    async def discard(self, temp: TempFile) -> None:
        """Forget a temp file that will not be committed (idempotent)."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The bytes stored under `key`, in chunks (FileNotFoundError when there are none)."""

    async def delete(self, key: str) -> None:
        """Remove `key` (idempotent)."""

    async def leftovers(self) -> list[Leftover]:
        """Every temp file and every stored key, with its age, for the cleanup."""

    async def remove(self, leftover: Leftover) -> None:
        """Remove a temp file or a stored key that `leftovers` listed (idempotent)."""


class LocalTempFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Opened exclusively: the random name cannot already exist, and if it did we would
        # not write into someone else's file.
        self._file = path.open("xb")
        self._written = 0

    @property
    def written(self) -> int:
        return self._written

    async def write(self, chunk: bytes) -> None:
        # A page-cache write of one network chunk: cheaper than a thread hop per chunk.
        self._file.write(chunk)
        self._written += len(chunk)

    async def finish(self) -> None:
        await asyncio.to_thread(self._sync_and_close)

    def _sync_and_close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def close(self) -> None:
        self._file.close()


class LocalStorage:
    """Files under one directory (`TOPSMILE_STORAGE_DIR`): `<root>/<clinic id>/<upload id>`,
    temp files in `<root>/tmp/` — on the same file system, so `commit` is one rename."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if path.parent.parent != self.root or key.startswith(_TEMP_DIR + "/"):
            raise ValueError(f"not a storage key: {key!r}")
        return path

    async def open_temp(self) -> LocalTempFile:
        folder = self.root / _TEMP_DIR
        folder.mkdir(parents=True, exist_ok=True)
        return LocalTempFile(folder / f"{secrets.token_hex(16)}.part")

    async def commit(self, temp: TempFile, key: str) -> None:
        assert isinstance(temp, LocalTempFile)
        target = self._path(key)
        await temp.finish()  # done already by the caller, unless it skipped it
        await asyncio.to_thread(_commit, temp.path, target)

    async def discard(self, temp: TempFile) -> None:
        assert isinstance(temp, LocalTempFile)
        temp.close()
        temp.path.unlink(missing_ok=True)

    def read(self, key: str) -> AsyncIterator[bytes]:
        # Opened now, so a missing file fails here rather than in the middle of a response.
        return _chunks(self._path(key).open("rb"))

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def leftovers(self) -> list[Leftover]:
        return await asyncio.to_thread(self._leftovers)

    def _leftovers(self) -> list[Leftover]:
        now = time.time()
        found: list[Leftover] = []
        if not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.is_file():
                    age = now - path.stat().st_mtime
                    temporary = folder.name == _TEMP_DIR
                    found.append(Leftover(f"{folder.name}/{path.name}", age, temporary))
        return found

    async def remove(self, leftover: Leftover) -> None:
        (self.root / leftover.key).unlink(missing_ok=True)


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    with file:
        while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
            yield chunk


def _commit(temp: Path, target: Path) -> None:
    if not target.parent.is_dir():
        target.parent.mkdir(exist_ok=True)
        _sync_directory(target.parent.parent)
    os.replace(temp, target)
    # The rename is durable only once the directory entry is.
    _sync_directory(target.parent)


def _sync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
