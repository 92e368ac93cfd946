from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import argon2
import pytest

from topsmile.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    Hasher,
    common_passwords,
    policy_violation,
)

PASSWORD = "Vt9!qZ3#mW7$kR2@"
PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"

# Built outside any event loop, as the app does at startup.
HASHER = Hasher()


def strong(length: int) -> str:
    """A password of exactly ``length`` characters that is not in the common list."""
    return (PASSWORD * (length // len(PASSWORD) + 1))[:length]


def list_lines() -> list[str]:
    text = resources.files("topsmile.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return text.splitlines()


# --- the bundled list -------------------------------------------------------------------


def test_common_list_is_large_lower_case_and_deduplicated() -> None:
    lines = list_lines()
    assert len(lines) >= 10_000
    assert len(set(lines)) == len(lines)
    assert all(line and line == line.strip().lower() for line in lines)
    assert lines[:2] == ["123456", "password"]  # ranked, most common first
    assert common_passwords() == frozenset(lines)


def test_common_list_is_loaded_once() -> None:
    common_passwords.cache_clear()
    for candidate in ("Password1", strong(12), "iloveyou", strong(20)):
        policy_violation(candidate)
    info = common_passwords.cache_info()
    assert info.misses == 1
    assert info.hits == 3
    assert common_passwords() is common_passwords()


# --- policy -------------------------------------------------------------------------------


def test_length_limits() -> None:
    assert MIN_LENGTH == 8
    assert MAX_LENGTH == 128
    too_short = policy_violation(strong(7))
    assert "at least 8" in (too_short or "")
    assert policy_violation(strong(8)) is None
    assert policy_violation(strong(128)) is None
    too_long = policy_violation(strong(129))
    assert "at most 128" in (too_long or "")
    assert policy_violation("") is not None


def test_length_counts_characters_not_bytes() -> None:
    assert policy_violation("é" * 7) is not None  # 14 bytes, 7 characters
    assert policy_violation("é" * 8) is None
    assert policy_violation("😀" * 128) is None  # 512 bytes in UTF-8
    assert policy_violation("😀" * 129) is not None
    # A decomposed "é" (e + combining acute) is one character, like the precomposed one.
    assert policy_violation("e\u0301" * 7) is not None
    assert policy_violation("e\u0301" * 128) is None


@pytest.mark.parametrize(
    "word", ["password1", "iloveyou", "baseball", "sunshine", "trustno1", "qwerty123"]
)
def test_common_passwords_are_refused_in_any_case(word: str) -> None:
    assert word in list_lines()
    for variant in (word, word.upper(), word.capitalize(), word.swapcase(), f"  {word}\t"):
        reason = policy_violation(variant)
        assert "common" in (reason or ""), variant


def test_password_like_the_email_is_refused() -> None:
    email = "Maria.Silva@Example.com"
    for password in ("maria.silva@example.com", "MARIA.SILVA@EXAMPLE.COM", "Maria.Silva"):
        reason = policy_violation(password, email=email)
        assert "email" in (reason or ""), password
    assert policy_violation("maria.silva@example.com") is None  # no email given
    assert policy_violation("maria.silva.smiles", email=email) is None
    assert policy_violation(strong(16), email=email) is None


def test_unencodable_password_is_refused() -> None:
    assert policy_violation("\ud800" + strong(10)) is not None


# --- hashing ------------------------------------------------------------------------------


async def test_hash_is_argon2id_with_owasp_parameters() -> None:
    first = await HASHER.hash(PASSWORD)
    second = await HASHER.hash(PASSWORD)
    assert first.startswith(PREFIX)
    assert second.startswith(PREFIX)
    assert first != second  # salted


async def test_verify() -> None:
    stored = await HASHER.hash(PASSWORD)
    assert await HASHER.verify(stored, PASSWORD) is True
    assert await HASHER.verify(stored, PASSWORD + "x") is False
    assert await HASHER.verify(stored, PASSWORD.swapcase()) is False
    assert await HASHER.verify(stored, "") is False


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",  # truncated
        "$argon2id$v=19$m=19456,t=2,p=1$!!!!$!!!!",
        "$argon2id$é",  # not ASCII
    ],
)
async def test_verify_malformed_hash_is_false(stored: str) -> None:
    assert await HASHER.verify(stored, PASSWORD) is False
    assert HASHER.needs_rehash(stored) is True


async def test_verify_unencodable_password_is_false() -> None:
    stored = await HASHER.hash(PASSWORD)
    assert await HASHER.verify(stored, "\ud800") is False


async def test_needs_rehash() -> None:
    current = await HASHER.hash(PASSWORD)
    assert HASHER.needs_rehash(current) is False
    weaker = argon2.PasswordHasher(time_cost=1, memory_cost=19456, parallelism=1).hash(PASSWORD)
    assert HASHER.needs_rehash(weaker) is True
    assert await HASHER.verify(weaker, PASSWORD) is True  # still accepted, then rehashed
    stronger = Hasher(time_cost=3)
    assert stronger.needs_rehash(current) is True
    assert stronger.needs_rehash(await stronger.hash(PASSWORD)) is False


def test_parameters_weaker_than_owasp_are_refused() -> None:
    for kwargs in (
        {"time_cost": 1},
        {"memory_cost": 8192},
        {"parallelism": 0},
        {"salt_len": 8},
        {"concurrency": 0},
    ):
        with pytest.raises(ValueError, match="at least"):
            Hasher(**kwargs)


class Recorder:
    """Wraps a PasswordHasher method; counts calls and how many run at the same time."""

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch, name: str, delay: float = 0.0) -> Recorder:
        recorder = cls(getattr(argon2.PasswordHasher, name), delay)

        def method(hasher: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> Any:
            return recorder(hasher, *args, **kwargs)

        monkeypatch.setattr(argon2.PasswordHasher, name, method)
        return recorder

    def __init__(self, original: Callable[..., Any], delay: float = 0.0) -> None:
        self.original = original
        self.delay = delay
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Condition()
        self.calls: list[tuple[Any, ...]] = []
        self.active = 0
        self.max_active = 0

    def wait_active(self, count: int, timeout: float = 5.0) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: self.active >= count, timeout)

    def __call__(self, hasher: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls.append(args)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.lock.notify_all()
        try:
            time.sleep(self.delay)
            self.release.wait(timeout=10)
            return self.original(hasher, *args, **kwargs)
        finally:
            with self.lock:
                self.active -= 1


@pytest.fixture
def record_hash(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], Recorder]]:
    recorders: list[Recorder] = []

    def install(delay: float = 0.0) -> Recorder:
        recorder = Recorder.install(monkeypatch, "hash", delay)
        recorders.append(recorder)
        return recorder

    yield install
    for recorder in recorders:
        recorder.release.set()


async def test_burn_verifies_against_one_lazily_made_dummy_hash(
    monkeypatch: pytest.MonkeyPatch, record_hash: Callable[[float], Recorder]
) -> None:
    hashes = record_hash(0.0)
    verifies = Recorder.install(monkeypatch, "verify")

    hasher = Hasher()
    assert hashes.calls == []  # nothing computed at construction
    assert await hasher.burn(PASSWORD) is None
    assert await hasher.burn("another password") is None
    assert len(hashes.calls) == 1  # the dummy, made once
    assert [call[1] for call in verifies.calls] == [PASSWORD, "another password"]
    dummy = verifies.calls[0][0]
    assert dummy.startswith(PREFIX)
    assert verifies.calls[1][0] == dummy
    assert await hasher.verify(dummy, PASSWORD) is False


async def test_hashing_does_not_block_the_event_loop() -> None:
    hasher = Hasher(time_cost=4, memory_cost=65536)  # ~0.2 s a hash, to widen the window
    ticks = 0
    hashing = True

    async def ticker() -> None:
        nonlocal ticks
        while hashing:
            await asyncio.sleep(0.005)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    results = await asyncio.gather(*(hasher.hash(PASSWORD) for _ in range(4)))
    elapsed = time.perf_counter() - started
    hashing = False
    await ticking

    assert all(result.startswith("$argon2id$v=19$m=65536,t=4,p=1$") for result in results)
    # Had the hashes run on the loop, the ticker could only run between them (≤ 5 ticks).
    assert ticks >= 20, (ticks, elapsed)


async def test_semaphore_bounds_concurrency(record_hash: Callable[[float], Recorder]) -> None:
    recorder = record_hash(0.05)
    hasher = Hasher(concurrency=2)
    results = await asyncio.gather(*(hasher.hash(PASSWORD) for _ in range(6)))
    assert len(results) == 6
    assert len(recorder.calls) == 6
    assert recorder.max_active == 2


async def test_cancelled_callers_keep_their_slot_until_the_thread_ends(
    record_hash: Callable[[float], Recorder],
) -> None:
    recorder = record_hash(0.0)
    recorder.release.clear()
    hasher = Hasher(concurrency=2)

    first = [asyncio.create_task(hasher.hash(PASSWORD)) for _ in range(2)]
    assert await asyncio.to_thread(recorder.wait_active, 2)
    for task in first:
        task.cancel()
    for task in first:
        with pytest.raises(asyncio.CancelledError):
            await task

    third = asyncio.create_task(hasher.hash(PASSWORD))
    await asyncio.sleep(0.1)
    assert len(recorder.calls) == 2  # still waiting: both threads are busy
    recorder.release.set()
    assert (await third).startswith(PREFIX)
    assert recorder.max_active == 2


def test_hasher_works_across_event_loops() -> None:
    """One instance, built outside a loop, used by two loops with contention in each."""
    hasher = Hasher(concurrency=1)
    stored = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)
    outcomes: list[list[bool]] = []

    async def contend() -> list[bool]:
        return list(await asyncio.gather(*(hasher.verify(stored, PASSWORD) for _ in range(3))))

    def run_twice() -> None:
        outcomes.append(asyncio.run(contend()))
        outcomes.append(asyncio.run(contend()))

    thread = threading.Thread(target=run_twice)
    thread.start()
    thread.join(timeout=30)
    assert outcomes == [[True, True, True], [True, True, True]]
