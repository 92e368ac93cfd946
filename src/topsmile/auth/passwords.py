"""Password policy and argon2id hashing (SPEC §3 "Passwords").

Hashing is CPU- and memory-heavy, so it runs in worker threads and never on the event loop,
behind a per-loop semaphore so that a login storm cannot exhaust memory or every core.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
import weakref
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error

from topsmile.core.errors import ValidationError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "MIN_MEMORY_COST",
    "MIN_TIME_COST",
    "Hasher",
    "check_password",
    "common_passwords",
    "policy_violation",
]

MIN_LENGTH = 8
MAX_LENGTH = 128

# OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
MIN_TIME_COST = 2
MIN_MEMORY_COST = 19_456
DEFAULT_CONCURRENCY = 2

_COMMON_PASSWORDS_FILE = "common_passwords.txt"

_T = TypeVar("_T")


@cache
def common_passwords() -> frozenset[str]:
    """The bundled common-password list (lower-cased), read from the package once."""
    text = resources.files(__package__).joinpath(_COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(line for line in (raw.strip() for raw in text.splitlines()) if line)


def _length(password: str) -> int:
    """Length in characters: code points after NFC, so a decomposed "é" counts once."""
    return len(unicodedata.normalize("NFC", password))


def policy_violation(password: str, *, email: str | None = None) -> str | None:
    """Why ``password`` is not acceptable for a new password, or None if it is."""
    length = _length(password)
    if length < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters long."
    if length > MAX_LENGTH:
        return f"Password must be at most {MAX_LENGTH} characters long."
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return "Password contains characters that cannot be stored."

    candidates = {password.casefold(), password.strip().casefold()}
    if not candidates.isdisjoint(common_passwords()):
        return "Password is too common; choose one that is harder to guess."

    if email is not None:
        address = email.strip().casefold()
        forbidden = {address, address.rpartition("@")[0]} - {""}
        if not candidates.isdisjoint(forbidden):
            return "Password must not be your email address."
    return None


class Hasher:
    """argon2id hashing off the event loop, at most ``concurrency`` hashes at a time.

    The bound is per event loop (one per worker process in the app): the semaphore is
    created lazily for whichever loop calls, so the object can be built outside a loop.
    A slot is held until the worker thread finishes, even if the caller is cancelled.
    """

    def __init__(
        self,
        *,
        time_cost: int = MIN_TIME_COST,
        memory_cost: int = MIN_MEMORY_COST,
        parallelism: int = 1,
        hash_len: int = 32,
        salt_len: int = 16,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if time_cost < MIN_TIME_COST:
            raise ValueError(f"time_cost must be at least {MIN_TIME_COST}")
        if memory_cost < MIN_MEMORY_COST:
            raise ValueError(f"memory_cost must be at least {MIN_MEMORY_COST} KiB")
        if parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        if hash_len < 16 or salt_len < 16:
            raise ValueError("hash_len and salt_len must be at least 16 bytes")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=Type.ID,
        )
        self._concurrency = concurrency
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()
        self._in_flight: set[asyncio.Future[Any]] = set()
        self._dummy_hash: str | None = None

    @property
    def concurrency(self) -> int:
        return self._concurrency

    async def hash(self, password: str) -> str:
        """A new argon2id hash of ``password`` (raises ValueError if it is not encodable)."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; False for malformed hashes too."""
        return await self._run(self._verify_sync, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other parameters (True if unparseable)."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (Argon2Error, ValueError):
            return True

    async def burn(self, password: str) -> None:
        """Do the work of a failed verify, so unknown accounts answer as slowly as known ones."""
        await self._run(self._burn_sync, password)

    def _verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (Argon2Error, ValueError):
            # Mismatch, a hash argon2 cannot parse, or text that cannot be encoded.
            return False

    def _burn_sync(self, password: str) -> None:
        dummy = self._dummy_hash
        if dummy is None:
            dummy = self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        self._verify_sync(dummy, password)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self._concurrency)
        return semaphore

    async def _run(self, function: Callable[..., _T], *args: object) -> _T:
        semaphore = self._semaphore()
        await semaphore.acquire()
        try:
            task = asyncio.ensure_future(asyncio.to_thread(function, *args))
        except BaseException:
            semaphore.release()
            raise
        self._in_flight.add(task)

        def finished(done: asyncio.Future[_T]) -> None:
            self._in_flight.discard(done)
            semaphore.release()
            if not done.cancelled():
                done.exception()  # mark retrieved when the caller has gone away

        task.add_done_callback(finished)
        # Shielded: cancelling the caller cannot free the slot while the thread still runs.
        return await asyncio.shield(task)


def check_password(password: str, email: str, field: str = "password") -> None:
    """The password policy as a 422 on `field`."""
    reason = policy_violation(password, email=email)
    if reason:
        raise ValidationError.on(field, reason)
